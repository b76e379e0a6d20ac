"""Dependencies: the signed-in user, CSRF protection, idempotency keys, visible sessions."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from app.domain import Actor
from app.live.broker import SIGNED_OUT, sign_in_channel
from app.services import Idempotency, Services
from app.store import access, people
from app.store.db import unit_of_work
from app.store.tables import CareSession, Room, User
from app.web.errors import ApiError, not_found
from app.web.throttle import LoginThrottle

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request) -> None:
    """Unsafe methods need the page's CSRF token, or (JSON clients) X-Requested-With: holdspace."""
    if request.method in SAFE_METHODS:
        return
    if request.headers.get("x-requested-with", "").lower() == "holdspace":
        return
    sent = request.headers.get("x-csrf-token", "")
    expected = request.session.get("csrf", "")
    if expected and sent and hmac.compare_digest(sent, expected):
        return
    raise ApiError(
        403,
        "forbidden",
        "This request lacks its CSRF token. Pages send it for you; JSON clients send X-Requested-With: holdspace.",
    )


def load_user(services: Services, session: dict[str, Any]) -> User | None:
    """The user of the cookie's sign-in, if it is still valid (signing out revokes it)."""
    with unit_of_work(services.engine) as db:
        return people.signed_in_user(db, session.get("sign_in"))


def sign_in(request: Request, services: Services, user: User) -> None:
    with unit_of_work(services.write_engine) as db:
        sign_in_id = people.start_sign_in(db, user)
        db.commit()
    request.session.clear()
    request.session["sign_in"] = sign_in_id


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _authenticate(services: Services, username: str, password: str, client: str) -> User | None:
    """Check the password and record the attempt in the access log, in one transaction."""
    with unit_of_work(services.write_engine) as db:
        user = people.authenticate(db, username, password)
        access.record(
            db,
            username=user.username if user else username,
            action=access.SIGN_IN,
            outcome="ok" if user else "failed",
            client=client,
        )
        db.commit()
        return user


def _record_throttled(services: Services, username: str, client: str) -> None:
    with unit_of_work(services.write_engine) as db:
        access.record(db, username=username, action=access.SIGN_IN, outcome="throttled", client=client)
        db.commit()


async def attempt_sign_in(request: Request, services: Services, username: str, password: str) -> User:
    """The user whose password this is, or ApiError 429 (throttled: nothing is checked) or 401
    (answered after a delay that grows with each failure). Every attempt is in the access log."""
    throttle: LoginThrottle = request.app.state.login_throttle
    client = client_address(request)
    wait = throttle.retry_after(username, client)
    if wait is not None:
        if throttle.should_log_throttled(username, client):
            await run_in_threadpool(_record_throttled, services, username, client)
        minutes = max(1, round(wait / 60))
        raise ApiError(
            429,
            "too_many_attempts",
            f"Too many failed sign-ins. Try again in about {minutes} minute{'s' if minutes > 1 else ''}.",
            {"retry_after": wait},
            headers={"Retry-After": str(wait)},
        )
    user = await run_in_threadpool(_authenticate, services, username, password, client)
    if user is None:
        await asyncio.sleep(throttle.failed(username, client))
        raise ApiError(401, "unauthorized", "That username and password do not match.")
    throttle.succeeded(username)
    await run_in_threadpool(sign_in, request, services, user)
    return user


def record_chart_access(
    request: Request,
    services: Services,
    user: User,
    action: str,
    session_id: str,
    participant_ids: list[str],
    detail: str | None = None,
) -> None:
    """Who read or exported which participant's chart record (HIPAA §164.312(b))."""
    with unit_of_work(services.write_engine) as db:
        for participant_id in participant_ids:
            access.record(
                db,
                username=user.username,
                action=action,
                outcome="ok",
                client=client_address(request),
                session_id=session_id,
                participant_id=participant_id,
                detail=detail,
            )
        db.commit()


def sign_out(request: Request, services: Services) -> None:
    sign_in_id = request.session.get("sign_in")
    with unit_of_work(services.write_engine) as db:
        username = people.end_sign_in(db, sign_in_id)
        if username is not None:
            access.record(db, username=username, action=access.SIGN_OUT, outcome="ok", client=client_address(request))
        db.commit()
    request.session.clear()
    if sign_in_id:
        # Every live screen of this sign-in closes now (4401); other processes notice within seconds.
        request.app.state.broker.publish([sign_in_channel(str(sign_in_id))], SIGNED_OUT)


def current_user(request: Request, services: ServicesDep) -> User:
    user = load_user(services, request.session)
    if user is None:
        raise ApiError(401, "unauthorized", "Please sign in.")
    request.state.username = user.username  # for the request's log line (app/web/logs.py)
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def actor_of(user: User) -> Actor:
    return Actor(user.username, user.role)


def device_of(request: Request) -> str | None:
    device = request.headers.get("x-holdspace-device", "").strip()
    return device[:80] or None


async def idempotency(request: Request, user: CurrentUser) -> Idempotency | None:
    key = request.headers.get("idempotency-key", "").strip()
    if not key:
        return None
    if len(key) > 128:
        raise ApiError(422, "validation_error", "Idempotency-Key is longer than 128 characters.")
    body = await request.body()
    digest = hashlib.sha256(f"{request.method} {request.url.path}\n".encode() + body).hexdigest()
    return Idempotency(username=user.username, key=key, fingerprint=digest)


IdempotencyDep = Annotated[Idempotency | None, Depends(idempotency)]


def room_for(db: Session, user: User, room_id: str) -> Room:
    room = db.get(Room, room_id)
    if room is None or not people.works_in(db, room, user):
        raise not_found("That room")
    return room


def visible_session(services: Services, user: User, session_id: str) -> tuple[CareSession, Room]:
    with unit_of_work(services.engine) as db:
        row = db.get(CareSession, session_id)
        room = db.get(Room, row.room_id) if row else None
        if row is None or room is None or not people.works_in(db, room, user):
            raise not_found("That session")
        return row, room
