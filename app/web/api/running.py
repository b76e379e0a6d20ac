"""Running a command from a request: visibility, the service's unit of work, and the answer."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from app.domain import SessionState
from app.domain import commands as c
from app.services import Outcome, Services
from app.store.tables import User
from app.web.deps import actor_of, device_of, visible_session
from app.web.views import participant_view, session_view

# Every route of the JSON API is under this path (each resource's router carries it, so the route
# table names every route by its full path).
PREFIX = "/api/v1"


def respond(outcome: Outcome) -> JSONResponse:
    headers = {"Idempotent-Replay": "true"} if outcome.replayed else None
    return JSONResponse(outcome.body, status_code=outcome.status, headers=headers)


def participant_answer(services: Services, participant_id: str, status: int = 200):  # type: ignore[no-untyped-def]
    def answer(state: SessionState, _events: list[Any]) -> tuple[int, dict[str, Any]]:
        participant = state.participants[participant_id]
        return status, participant_view(state, participant, services.policy, services.clock())

    return answer


def session_answer(services: Services, status: int = 200):  # type: ignore[no-untyped-def]
    def answer(state: SessionState, _events: list[Any]) -> tuple[int, dict[str, Any]]:
        return status, session_view(state, services.policy, services.clock())

    return answer


def run(
    request: Request,
    services: Services,
    user: User,
    session_id: str,
    command: c.Command,
    idem: Any,
    answer: Any = None,
) -> JSONResponse:
    visible_session(services, user, session_id)
    outcome = services.execute(
        session_id,
        command,
        actor_of(user),
        device=device_of(request),
        idempotency=idem,
        answer=answer or session_answer(services),
    )
    return respond(outcome)


def run_for_participant(
    request: Request,
    services: Services,
    user: User,
    session_id: str,
    participant_id: str,
    command: c.Command,
    idem: Any,
    status: int = 200,
) -> JSONResponse:
    answer = participant_answer(services, participant_id, status)
    return run(request, services, user, session_id, command, idem, answer)
