"""Who is in the room: checking oneself in and out, from one's own sign-in or with one's own PIN or
password on a shared room tablet (throttled like a sign-in; the secret never reaches the record)."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.domain import commands as c
from app.services import Idempotency, Services
from app.store import people
from app.store.db import unit_of_work
from app.store.tables import User
from app.web.attempts import AttemptThrottle
from app.web.deps import CurrentUser, IdempotencyDep, ServicesDep, visible_session
from app.web.errors import ApiError

from .bodies import PresenceBody
from .running import PREFIX, run

router = APIRouter(prefix=PREFIX)


class TooManyAttempts(Exception):
    def __init__(self, username: str, retry_after: int) -> None:
        super().__init__(username)
        self.username = username
        self.retry_after = retry_after


def _too_many(err: TooManyAttempts) -> JSONResponse:
    minutes = max(1, round(err.retry_after / 60))
    body = {
        "error": {
            "code": "too_many_attempts",
            "message": f"Too many wrong tries for {err.username}. Try again in about {minutes} min, "
            "or check in from their own sign-in.",
            "details": {"username": err.username, "retry_after": err.retry_after},
        }
    }
    return JSONResponse(body, status_code=429, headers={"Retry-After": str(err.retry_after)})


def _attestation(request: Request, staff: User, body: PresenceBody | None) -> tuple[str, bool]:
    """How the person showed it is them: the tablet's own sign-in, or their PIN or password typed
    on it (checked here; the domain judges the result). Repeated wrong tries are throttled."""
    if body is None or (body.pin is None and body.password is None):
        return "sign_in", False
    throttle: AttemptThrottle = request.app.state.presence_attempts
    wait = throttle.retry_after(staff.username)
    if wait is not None:
        raise TooManyAttempts(staff.username, wait)
    if body.pin is not None:
        if staff.pin_hash is None:
            raise ApiError(
                409,
                "no_pin",
                f"{staff.username} has no PIN yet: use their password, or set one with 'holdspace user pin'.",
                {"username": staff.username},
            )
        how, matched = "pin", people.pin_matches(staff, body.pin)
    else:
        how, matched = "password", people.password_matches(staff, body.password or "")
    if matched:
        throttle.succeeded(staff.username)
    else:
        throttle.failed(staff.username)
    return how, matched


def _secret_free(idem: Idempotency | None, request: Request, how: str, matched: bool) -> Idempotency | None:
    """The idempotency fingerprint is a hash of the request body; with a 4-digit PIN in it, that
    hash would give the PIN away to anyone reading the table. Fingerprint the outcome instead."""
    if idem is None:
        return None
    digest = hashlib.sha256(f"{request.method} {request.url.path}\n{how} {matched}".encode()).hexdigest()
    return replace(idem, fingerprint=digest)


def _room_staff(services: Services, user: User, session_id: str, username: str) -> User | None:
    _, room = visible_session(services, user, session_id)
    with unit_of_work(services.engine) as db:
        staff = people.get_user(db, username)
        if staff is None or not people.works_in(db, room, staff):
            return None
        return staff


@router.post("/sessions/{session_id}/facilitators/{username}/check-in")
def check_in(
    session_id: str,
    username: str,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
    body: PresenceBody | None = None,
) -> JSONResponse:
    """Only `username` themselves: from their own sign-in, or on a shared tablet with their PIN or password."""
    staff = _room_staff(services, user, session_id, username)
    if staff is None:
        raise ApiError(404, "not_found", f"{username} does not work in this room.")
    try:
        how, matched = _attestation(request, staff, body)
    except TooManyAttempts as err:
        return _too_many(err)
    command = c.CheckIn(staff.username, staff.role, attested_by=how, credential_matched=matched)
    return run(request, services, user, session_id, command, _secret_free(idem, request, how, matched))


@router.post("/sessions/{session_id}/facilitators/{username}/check-out")
def check_out(
    session_id: str,
    username: str,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
    body: PresenceBody | None = None,
) -> JSONResponse:
    """`username` themselves (as for check-in), or a colleague checked in to the room recording that
    they have left."""
    how, matched = "sign_in", False
    if body is not None and (body.pin is not None or body.password is not None):
        staff = _room_staff(services, user, session_id, username)
        if staff is None:
            raise ApiError(404, "not_found", f"{username} does not work in this room.")
        try:
            how, matched = _attestation(request, staff, body)
        except TooManyAttempts as err:
            return _too_many(err)
    command = c.CheckOut(username.lower(), attested_by=how, credential_matched=matched)
    return run(request, services, user, session_id, command, _secret_free(idem, request, how, matched))
