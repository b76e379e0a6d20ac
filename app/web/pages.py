"""The HTML pages: login, the rooms list, the room's tablet view and a participant's record."""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import urlparse

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from app.export.record import load_snapshot, record_for
from app.store import people
from app.store.db import unit_of_work
from app.web.deps import (
    CurrentUser,
    ServicesDep,
    attempt_sign_in,
    csrf_token,
    load_user,
    record_chart_access,
    sign_out,
    visible_session,
)
from app.web.errors import ApiError, not_found
from app.web.live import overview_context, render_room_live, room_context
from app.web.review import get_reviews
from app.web.templating import templates
from app.web.views import participant_view, record_timeline

router = APIRouter()


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    context = {"csrf_token": csrf_token(request), **context}
    return templates.TemplateResponse(request, name, context, status_code=status)


def _safe_next(target: str | None) -> str:
    if not target:
        return "/rooms"
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return "/rooms"
    return target


@router.get("/healthz", include_in_schema=False)
def healthz() -> PlainTextResponse:
    return PlainTextResponse("ok")


@router.get("/", include_in_schema=False)
def home() -> RedirectResponse:
    return RedirectResponse("/rooms", status_code=303)


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(
    request: Request, services: ServicesDep, next: str | None = None, signed_out: str | None = None
) -> Response:
    if load_user(services, request.session) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _page(
        request, "pages/login.html", {"next": _safe_next(next), "error": None, "signed_out": signed_out == "1"}
    )


@router.post("/login", response_class=HTMLResponse, include_in_schema=False)
async def login_submit(
    request: Request,
    services: ServicesDep,
    username: str = Form(default="", max_length=64),
    password: str = Form(default="", max_length=256),
    csrf_token_field: str = Form(default="", alias="csrf_token"),
    next: str = Form(default="/rooms"),
) -> Response:
    expected = request.session.get("csrf", "")
    if not expected or not hmac.compare_digest(csrf_token_field, expected):
        return _page(
            request, "pages/login.html", {"next": _safe_next(next), "error": "The page expired. Please try again."}, 403
        )
    try:
        await attempt_sign_in(request, services, username, password)
    except ApiError as refused:
        response = _page(
            request, "pages/login.html", {"next": _safe_next(next), "error": refused.message}, refused.status
        )
        response.headers.update(refused.headers or {})
        return response
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", include_in_schema=False)
def logout_submit(
    request: Request, services: ServicesDep, csrf_token_field: str = Form(default="", alias="csrf_token")
) -> Response:
    expected = request.session.get("csrf", "")
    if expected and hmac.compare_digest(csrf_token_field, expected):
        sign_out(request, services)
    return RedirectResponse("/login", status_code=303)


@router.get("/rooms", response_class=HTMLResponse, include_in_schema=False)
def rooms_page(request: Request, user: CurrentUser, services: ServicesDep) -> Response:
    with unit_of_work(services.engine) as db:
        rooms = [
            {"id": r.id, "name": r.name, "lead": r.lead, "live": people.live_session(db, r.id) is not None}
            for r in people.rooms_for(db, user)
        ]
    reviews = get_reviews(request, services).recent_reviewable(user)
    return _page(request, "pages/rooms.html", {"rooms": rooms, "user": user, "reviews": reviews})


@router.get("/rooms/{room_id}", response_class=HTMLResponse, include_in_schema=False)
def room_page(room_id: str, request: Request, user: CurrentUser, services: ServicesDep) -> Response:
    context = room_context(services, room_id, user)
    if context is None:
        raise not_found("That room")
    return _page(request, "pages/room.html", context)


@router.get("/rooms/{room_id}/live", response_class=HTMLResponse, include_in_schema=False)
def room_live_fragment(room_id: str, user: CurrentUser, services: ServicesDep) -> Response:
    """The live block alone: what the websocket pushes, for a page that refreshes without it."""
    context = room_context(services, room_id, user)
    if context is None:
        raise ApiError(404, "not_found", "That room was not found, or you do not work in it.")
    return HTMLResponse(render_room_live(context))


@router.get(
    "/sessions/{session_id}/participants/{participant_id}", response_class=HTMLResponse, include_in_schema=False
)
def participant_page(
    session_id: str, participant_id: str, request: Request, user: CurrentUser, services: ServicesDep
) -> Response:
    _, room = visible_session(services, user, session_id)
    state = services.state(session_id)
    participant = state.participant(participant_id)
    if participant is None:
        raise not_found("That participant")
    # The timeline and notes are the chart record's own (one wording of each fact, with other
    # participants named by role), so the page and the exports tell the same clinical story.
    record = record_for(
        load_snapshot(services.engine, session_id), participant_id, services.policy, clock=services.clock
    )
    record_chart_access(request, services, user, "chart_view", session_id, [participant_id], "page")
    context = {
        "room": {"id": room.id, "name": room.name},
        "session_id": session_id,
        "p": participant_view(state, participant, services.policy, services.clock()),
        "timeline": record_timeline(record.data),
        "notes": record.data.get("notes") or [],
        "now": services.clock(),
        "user": user,
    }
    return _page(request, "pages/participant.html", context)


@router.get("/overview", response_class=HTMLResponse, include_in_schema=False)
def overview_page(request: Request, user: CurrentUser, services: ServicesDep) -> Response:
    if user.role == "admin":
        raise ApiError(403, "forbidden", "Admins manage users and rooms, not clinical records.")
    context = overview_context(services, user, request.app.state.presence)
    return _page(request, "pages/overview.html", context)
