"""Rooms and sessions: the rooms a caller may see, opening and closing a session, its state and log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from app.domain import commands as c
from app.domain.vocabulary import SEQ_MAX
from app.store import people
from app.store.db import unit_of_work
from app.web.deps import CurrentUser, IdempotencyDep, ServicesDep, actor_of, device_of, room_for, visible_session
from app.web.errors import ApiError
from app.web.views import event_view, session_view

from .bodies import SessionBody
from .running import PREFIX, respond, run, session_answer

router = APIRouter(prefix=PREFIX)


@router.get("/rooms")
def rooms(user: CurrentUser, services: ServicesDep) -> list[dict[str, Any]]:
    with unit_of_work(services.engine) as db:
        visible = people.rooms_for(db, user)
        return [
            {
                "id": room.id,
                "name": room.name,
                "lead": room.lead,
                "live_session_id": (live.id if (live := people.live_session(db, room.id)) else None),
            }
            for room in visible
        ]


@router.post("/sessions", status_code=201)
def create_session(
    body: SessionBody, request: Request, user: CurrentUser, services: ServicesDep, idem: IdempotencyDep
) -> JSONResponse:
    with unit_of_work(services.engine) as db:
        room = room_for(db, user, body.room_id)
        lead = people.get_user(db, body.lead)
        if lead is None or lead.role != "lead" or not people.works_in(db, room, lead):
            raise ApiError(
                422, "validation_error", f"{body.lead} is not a lead who oversees this room.", {"field": "lead"}
            )
        staff = {u.username for u in people.room_staff(db, room)}
        unknown = [f for f in body.facilitators if f not in staff]
        if unknown:
            raise ApiError(
                422,
                "validation_error",
                f"Not assigned to this room: {', '.join(unknown)}.",
                {"field": "facilitators", "unknown": unknown},
            )
    outcome = services.open_session(
        actor_of(user),
        room,
        body.kind,
        [f.lower() for f in body.facilitators],
        lead.username,
        idempotency=idem,
        answer=session_answer(services, 201),
        device=device_of(request),
    )
    return respond(outcome)


@router.get("/sessions/{session_id}")
def get_session(session_id: str, user: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    visible_session(services, user, session_id)
    return session_view(services.state(session_id), services.policy, services.clock())


@router.get("/sessions/{session_id}/events")
def get_events(
    session_id: str,
    user: CurrentUser,
    services: ServicesDep,
    after: Annotated[int, Query(ge=0, le=SEQ_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> list[dict[str, Any]]:
    visible_session(services, user, session_id)
    return [event_view(e) for e in services.events(session_id, after=after, limit=limit)]


@router.post("/sessions/{session_id}/close")
def close_session(
    session_id: str, request: Request, user: CurrentUser, services: ServicesDep, idem: IdempotencyDep
) -> JSONResponse:
    return run(request, services, user, session_id, c.CloseSession(), idem)
