"""Dependencies: the signed-in user, CSRF protection, idempotency keys, visible sessions."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlmodel import Session

from app.domain import Actor
from app.services import Idempotency, Services
from app.store import people
from app.store.db import unit_of_work
from app.store.tables import CareSession, Room, User
from app.web.errors import ApiError, not_found

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


def sign_out(request: Request, services: Services) -> None:
    with unit_of_work(services.write_engine) as db:
        people.end_sign_in(db, request.session.get("sign_in"))
        db.commit()
    request.session.clear()


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
