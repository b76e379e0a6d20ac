"""Escalations and follow-ups across the caller's rooms (and step-3 alarms beyond them)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.domain import SessionState
from app.domain import commands as c
from app.domain.escalation import reaches_beyond_the_room
from app.domain.followups import reached_admins
from app.services import Services
from app.store import people
from app.store.db import unit_of_work
from app.store.tables import User
from app.web.deps import CurrentUser, IdempotencyDep, ServicesDep, actor_of, device_of, visible_session
from app.web.errors import ApiError
from app.web.live import step_three_elsewhere
from app.web.views import escalation_view, followup_view, sort_alarms

from .bodies import ContactNoteBody, ResolveBody
from .running import PREFIX, respond, run

router = APIRouter(prefix=PREFIX)


def _visible_states(services: Services, user: User, live_only: bool) -> list[SessionState]:
    with unit_of_work(services.engine) as db:
        room_ids = [room.id for room in people.rooms_for(db, user)]
    return [services.state(row.id) for row in services.sessions_in_rooms(room_ids, live_only=live_only)]


def _session_of(item_id: str, marker: str) -> str:
    session_id, sep, rest = item_id.rpartition(f"-{marker}")
    if not sep or not session_id or not rest.replace(".", "", 1).isdigit():
        raise ApiError(404, "not_found", "There is no such item.")
    return session_id


Status = Literal["open", "resolved", "closed", "all"]


@router.get("/escalations")
def list_escalations(user: CurrentUser, services: ServicesDep, status: Status = "open") -> list[dict[str, Any]]:
    now = services.clock()
    out = []
    for state in _visible_states(services, user, live_only=status == "open"):
        for escalation in state.escalations.values():
            if status == "all" or (status == "open") == escalation.open:
                out.append(escalation_view(state, escalation, now))
    if status == "open":
        out.extend(step_three_elsewhere(services, user, now))
    return sort_alarms(out)


def _escalation_command(
    request: Request, services: Services, user: User, escalation_id: str, command: c.Command, idem: Any
) -> JSONResponse:
    session_id = _session_of(escalation_id, "e")
    try:
        visible_session(services, user, session_id)
    except ApiError:
        row = services.care_session(session_id)
        escalation = services.state(session_id).escalations.get(escalation_id) if row and row.live_room_id else None
        if escalation is None or not escalation.open or not reaches_beyond_the_room(escalation.step, user.role):
            raise

    def answer(state: SessionState, _events: list[Any]) -> tuple[int, dict[str, Any]]:
        return 200, escalation_view(state, state.escalations[escalation_id], services.clock())

    outcome = services.execute(
        session_id, command, actor_of(user), device=device_of(request), idempotency=idem, answer=answer
    )
    return respond(outcome)


@router.post("/escalations/{escalation_id}/ack")
def acknowledge(
    escalation_id: str, request: Request, user: CurrentUser, services: ServicesDep, idem: IdempotencyDep
) -> JSONResponse:
    return _escalation_command(request, services, user, escalation_id, c.AcknowledgeEscalation(escalation_id), idem)


@router.post("/escalations/{escalation_id}/resolve")
def resolve(
    escalation_id: str,
    body: ResolveBody,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    command = c.ResolveEscalation(escalation_id, body.action, body.outcome)
    return _escalation_command(request, services, user, escalation_id, command, idem)


@router.post("/escalations/{escalation_id}/mute")
def mute(
    escalation_id: str, request: Request, user: CurrentUser, services: ServicesDep, idem: IdempotencyDep
) -> JSONResponse:
    return _escalation_command(request, services, user, escalation_id, c.MuteAlarm(escalation_id), idem)


@router.get("/followups")
def list_followups(user: CurrentUser, services: ServicesDep, status: Status = "open") -> list[dict[str, Any]]:
    now = services.clock()
    out = []
    if status == "open":
        # Only the sessions that still have an open follow-up (the open_item projection), never
        # every session the clinic has held: the list costs the same in year one and year five.
        room_ids = None
        if user.role != "admin":
            with unit_of_work(services.engine) as db:
                room_ids = [room.id for room in people.rooms_for(db, user)]
        with_open = sorted({item.session_id for item in services.open_items("followup", room_ids)})
        states = [services.state(session_id) for session_id in with_open]
    elif user.role == "admin":
        # The clinic's admins see the follow-ups that are theirs: about a lead's own conduct, or
        # overdue long enough to have climbed past the session's lead.
        states = [services.state(row.id) for row in services.all_sessions()]
    else:
        states = _visible_states(services, user, live_only=False)
    for state in states:
        for followup in state.followups.values():
            if user.role == "admin" and not reached_admins(followup, now, services.policy):
                continue
            if status == "all" or (status == "open") == followup.open:
                out.append(followup_view(state, followup, now, services.policy))
    return sorted(out, key=lambda f: (f["status"] != "open", f["due_at"]))


@router.post("/followups/{followup_id}/close")
def close_followup(
    followup_id: str,
    body: ContactNoteBody,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    session_id = _session_of(followup_id, "f")

    def answer(state: SessionState, _events: list[Any]) -> tuple[int, dict[str, Any]]:
        return 200, followup_view(state, state.followups[followup_id], services.clock(), services.policy)

    command = c.CloseFollowup(followup_id, body.contact_note)
    if user.role == "admin":
        # An admin closes only a follow-up that is theirs (the domain says which); others stay hidden.
        followup = services.state(session_id).followups.get(followup_id) if services.care_session(session_id) else None
        if followup is None or not reached_admins(followup, services.clock(), services.policy):
            raise ApiError(404, "not_found", "There is no such item.")
        outcome = services.execute(
            session_id, command, actor_of(user), device=device_of(request), idempotency=idem, answer=answer
        )
        return respond(outcome)
    return run(request, services, user, session_id, command, idem, answer)
