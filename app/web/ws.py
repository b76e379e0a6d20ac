"""Websockets. Every (re)connect starts with a full snapshot; the broker's messages are only a
hint to re-read the log. A heartbeat lets a screen notice a dead link even when nothing changes."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from app.domain import Event
from app.domain.events import EscalationPayload
from app.live.broker import ALL_ROOMS, SIGNED_OUT, room_channel, sign_in_channel
from app.live.fragments import (
    alarm_strip_context,
    overview_context,
    render_alarm_strip,
    render_overview_live,
    render_room_live,
    room_context,
)
from app.live.presence import Presence, device_name
from app.services import Services
from app.store import people
from app.store.db import unit_of_work
from app.store.tables import CareSession, Room, User
from app.web.deps import load_user
from app.web.templating import clock_seconds
from app.web.views import escalation_view, session_view

log = logging.getLogger("holdspace.ws")
router = APIRouter()

HEARTBEAT_SECONDS = 10.0
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN_ORIGIN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_RESTARTING = 1012
CLOSE_TOO_MANY = 4429
# Open sockets at once: per sign-in (one browser: a few tabs) and per user (several tablets).
MAX_SOCKETS_PER_SIGN_IN = 8
MAX_SOCKETS_PER_USER = 24
# How often an open socket looks again whether its sign-in still holds.
SIGN_IN_CHECK_SECONDS = 5.0
# How many sessions one `after_seq` may name (a room has one live session at a time).
MAX_AFTER_SEQ = 50


def origin_allowed(websocket: WebSocket) -> bool:
    """Same origin as the app (by Host), or one of HOLDSPACE_ALLOWED_ORIGINS. Scripts that send
    no Origin at all are not browsers and still need the session cookie."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    allowed = websocket.app.state.settings.origins
    if origin.rstrip("/") in allowed:
        return True
    host = websocket.headers.get("host", "")
    parsed = urlparse(origin)
    return bool(parsed.netloc) and parsed.netloc == host and parsed.scheme in ("http", "https")


@dataclass(frozen=True)
class Caller:
    """A socket's user and the sign-in (cookie) it came with."""

    user: User
    sign_in: str


class SocketCounts:
    """Open sockets per sign-in and per user (in this process), each bounded: one lead's 150
    overview sockets once slowed every write."""

    def __init__(self, per_sign_in: int = MAX_SOCKETS_PER_SIGN_IN, per_user: int = MAX_SOCKETS_PER_USER) -> None:
        self.per_sign_in = per_sign_in
        self.per_user = per_user
        self._by_sign_in: Counter[str] = Counter()
        self._by_user: Counter[str] = Counter()

    def acquire(self, caller: Caller) -> bool:
        if self._by_sign_in[caller.sign_in] >= self.per_sign_in or self._by_user[caller.user.username] >= self.per_user:
            return False
        self._by_sign_in[caller.sign_in] += 1
        self._by_user[caller.user.username] += 1
        return True

    def release(self, caller: Caller) -> None:
        self._by_sign_in[caller.sign_in] -= 1
        self._by_user[caller.user.username] -= 1
        if self._by_sign_in[caller.sign_in] <= 0:
            del self._by_sign_in[caller.sign_in]
        if self._by_user[caller.user.username] <= 0:
            del self._by_user[caller.user.username]


@asynccontextmanager
async def _admitted(websocket: WebSocket) -> AsyncIterator[Caller | None]:
    """Accept, then close with a code the page understands if the socket may not stay open;
    while open, the socket counts against its sign-in's and its user's bounds."""
    if not origin_allowed(websocket):
        # Refused before the handshake completes: a foreign page gets nothing at all.
        await websocket.close(code=CLOSE_FORBIDDEN_ORIGIN)
        yield None
        return
    services: Services = websocket.app.state.services
    user = await run_in_threadpool(load_user, services, websocket.session)
    await websocket.accept()
    if user is None:
        await websocket.close(code=CLOSE_UNAUTHORIZED, reason="sign in")
        yield None
        return
    websocket.state.username = user.username  # for the connection's log line (app/web/logs.py)
    caller = Caller(user, str(websocket.session.get("sign_in")))
    counts: SocketCounts = websocket.app.state.socket_counts
    if not counts.acquire(caller):
        await websocket.close(code=CLOSE_TOO_MANY, reason="too many live screens")
        yield None
        return
    try:
        yield caller
    finally:
        counts.release(caller)


async def _serve(
    websocket: WebSocket,
    caller: Caller,
    channels: list[str],
    render: Callable[[], Awaitable[list[str] | None]],
) -> None:
    """Send the snapshot, then re-render on every hint and heartbeat on silence, until the socket
    or the app closes, or the sign-in ends (sign-out, expiry, revocation: closed with 4401)."""
    broker = websocket.app.state.broker
    services: Services = websocket.app.state.services
    shutting_down: asyncio.Event = websocket.app.state.shutting_down
    async with broker.subscribe([*channels, sign_in_channel(caller.sign_in)]) as subscription:
        messages = await render()
        if messages is None:
            await websocket.close(code=CLOSE_NOT_FOUND)
            return
        for message in messages:
            await websocket.send_text(message)
        receiver = asyncio.create_task(_drain_client(websocket))
        stopping = asyncio.create_task(shutting_down.wait())
        checked_at = time.monotonic()
        try:
            while True:
                getter = asyncio.create_task(subscription.get())
                done, _ = await asyncio.wait(
                    {getter, receiver, stopping}, timeout=HEARTBEAT_SECONDS, return_when=asyncio.FIRST_COMPLETED
                )
                if receiver in done:
                    getter.cancel()
                    return
                if stopping in done:
                    getter.cancel()
                    await websocket.close(code=CLOSE_RESTARTING)
                    return
                signed_out = False
                if getter in done:
                    # Coalesce a burst of hints into one re-render.
                    hints = [getter.result()]
                    while not subscription.queue.empty():
                        hints.append(subscription.queue.get_nowait())
                    signed_out = any(h.get("type") == SIGNED_OUT["type"] for h in hints)
                else:
                    getter.cancel()
                # A sign-in can also end elsewhere (another app process) or run out: look again
                # every few seconds of activity, and at least at every heartbeat.
                if not signed_out and time.monotonic() - checked_at >= SIGN_IN_CHECK_SECONDS:
                    checked_at = time.monotonic()
                    signed_out = await run_in_threadpool(load_user, services, websocket.session) is None
                if signed_out:
                    await websocket.close(code=CLOSE_UNAUTHORIZED, reason="signed out")
                    return
                messages = await render()
                if messages is None:
                    await websocket.close(code=CLOSE_NOT_FOUND)
                    return
                for message in messages:
                    await websocket.send_text(message)
        except (WebSocketDisconnect, RuntimeError):
            return
        finally:
            receiver.cancel()
            stopping.cancel()


async def _drain_client(websocket: WebSocket) -> None:
    """Commands travel as HTTP requests; anything the client sends here is ignored until it goes."""
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
    except (WebSocketDisconnect, RuntimeError):
        return


def _status_fragment(now: datetime, seq: int | None) -> str:
    return (
        f'<div id="live-status" hx-swap-oob="true" data-live="true" data-at="{now.isoformat()}" '
        f'data-seq="{seq if seq is not None else ""}">Live · updated {clock_seconds(now)}</div>'
    )


@router.websocket("/ws/rooms/{room_id}")
async def room_socket(websocket: WebSocket, room_id: str) -> None:
    async with _admitted(websocket) as caller:
        if caller is not None:
            await _room_socket(websocket, caller, room_id)


async def _room_socket(websocket: WebSocket, caller: Caller, room_id: str) -> None:
    user = caller.user
    services: Services = websocket.app.state.services

    last_html = ""

    async def render() -> list[str] | None:
        nonlocal last_html
        context = await run_in_threadpool(room_context, services, room_id, user)
        if context is None:
            return None
        seq = context["session"]["seq"] if context["session"] else None
        html = await run_in_threadpool(render_room_live, context)
        status = _status_fragment(context["now"], seq)
        # Nothing changed (a heartbeat): say only that the link is alive, and leave the buttons
        # under the facilitator's finger where they are.
        if html == last_html:
            return [status]
        last_html = html
        return [html + status]

    async with _present(websocket, caller, room_id):
        await _serve(websocket, caller, [room_channel(room_id)], render)


@asynccontextmanager
async def _present(websocket: WebSocket, caller: Caller, room_id: str | None) -> AsyncIterator[None]:
    """Count this socket as its device's live link while it is open (only a socket admitted to the
    room names a tablet on the room's overview). When the device's last link closes, the overview
    hears of it once the grace period has passed: a page change is not a drop."""
    services: Services = websocket.app.state.services
    broker = websocket.app.state.broker
    presence: Presence = websocket.app.state.presence
    user = caller.user
    device = device_name(websocket.query_params.get("device"))
    if device is not None and room_id is not None:
        if not await run_in_threadpool(_works_in_room, services, user, room_id):
            device = None
    hint = {"type": "presence", "room_id": room_id}
    if device is not None:
        if presence.connected(device, room_id, user.username, services.clock()):
            broker.publish([ALL_ROOMS], hint)
        else:
            device = None
    try:
        yield
    finally:
        if device is not None:
            presence.disconnected(device, services.clock())
            delay = presence.grace.total_seconds() + 0.5
            asyncio.get_running_loop().call_later(delay, broker.publish, [ALL_ROOMS], hint)


@router.websocket("/ws/alarms")
async def alarm_strip_socket(websocket: WebSocket) -> None:
    """The open alarms of the user's rooms, for every signed-in page; `room` names the page's room
    (for the tablet's presence), `except=1` leaves out that room's alarms (its page lists them)."""
    async with _admitted(websocket) as caller:
        if caller is not None:
            await _alarm_strip_socket(websocket, caller)


async def _alarm_strip_socket(websocket: WebSocket, caller: Caller) -> None:
    services: Services = websocket.app.state.services
    room_id = (websocket.query_params.get("room") or "").strip()[:80] or None
    if room_id is not None and not await run_in_threadpool(_works_in_room, services, caller.user, room_id):
        await websocket.close(code=CLOSE_NOT_FOUND)
        return
    except_room = room_id if websocket.query_params.get("except") == "1" else None

    last_html = ""

    async def render() -> list[str] | None:
        nonlocal last_html
        context = await run_in_threadpool(alarm_strip_context, services, caller.user, except_room)
        html = await run_in_threadpool(render_alarm_strip, context)
        status = f'<span id="alarm-strip-beat" hx-swap-oob="true" hidden>{context["now"].isoformat()}</span>'
        if html == last_html:
            return [status]
        last_html = html
        return [html + status]

    async with _present(websocket, caller, room_id):
        await _serve(websocket, caller, [ALL_ROOMS], render)


def _works_in_room(services: Services, user: User, room_id: str) -> bool:
    with unit_of_work(services.engine) as db:
        room = db.get(Room, room_id)
        return room is not None and people.works_in(db, room, user)


@router.websocket("/ws/overview")
async def overview_socket(websocket: WebSocket) -> None:
    async with _admitted(websocket) as caller:
        if caller is not None:
            await _overview_socket(websocket, caller)


async def _overview_socket(websocket: WebSocket, caller: Caller) -> None:
    user = caller.user
    services: Services = websocket.app.state.services
    presence = websocket.app.state.presence

    last_html = ""

    async def render() -> list[str] | None:
        nonlocal last_html
        context = await run_in_threadpool(overview_context, services, user, presence)
        html = await run_in_threadpool(render_overview_live, context)
        status = _status_fragment(context["now"], None)
        if html == last_html:
            return [status]
        last_html = html
        return [html + status]

    await _serve(websocket, caller, [ALL_ROOMS], render)


# ------------------------------------------------------------------ the JSON stream


def _visible_live_sessions(services: Services, user: User, room_id: str | None) -> list[tuple[str, str]] | None:
    """(room_id, session_id) of the live sessions the user may see; None if the room is not visible."""
    with unit_of_work(services.engine) as db:
        if room_id is not None:
            room = db.get(Room, room_id)
            if room is None or not people.works_in(db, room, user):
                return None
            rooms = [room]
        else:
            rooms = people.rooms_for(db, user)
        out = []
        for room in rooms:
            live = people.live_session(db, room.id)
            if live is not None:
                out.append((room.id, live.id))
        return out


def _still_visible(services: Services, user: User, session_ids: list[str]) -> list[str]:
    """The ones of `session_ids` the user may see: the rule of the HTTP API (the session's room
    is one the user works in or leads)."""
    with unit_of_work(services.engine) as db:
        out = []
        for session_id in session_ids:
            row = db.get(CareSession, session_id)
            room = db.get(Room, row.room_id) if row is not None else None
            if room is not None and people.works_in(db, room, user):
                out.append(session_id)
        return out


def _parse_after(value: str | None) -> dict[str, int]:
    """`after_seq` as `sid:n,sid2:m` (several per session id)."""
    out: dict[str, int] = {}
    if not value:
        return out
    for part in value.split(",")[:MAX_AFTER_SEQ]:
        sid, _, n = part.partition(":")
        sid = sid.strip()
        if sid and len(sid) <= 40 and n.isdigit() and len(n) <= 18:
            out[sid] = int(n)
    return out


@router.websocket("/api/v1/stream")
async def json_stream(websocket: WebSocket) -> None:
    async with _admitted(websocket) as caller:
        if caller is not None:
            await _json_stream(websocket, caller)


async def _json_stream(websocket: WebSocket, caller: Caller) -> None:
    user = caller.user
    services: Services = websocket.app.state.services
    room_id = websocket.query_params.get("room")
    sent: dict[str, int] = _parse_after(websocket.query_params.get("after_seq"))
    first = True

    def snapshot_and_events() -> list[str] | None:
        nonlocal first
        visible = _visible_live_sessions(services, user, room_id)
        if visible is None:
            return None
        now = services.clock()
        messages: list[dict[str, Any]] = []
        if first:
            views = [session_view(services.state(sid), services.policy, now) for _, sid in visible]
            messages.append({"type": "snapshot", "sessions": views, "seq": {v["id"]: v["seq"] for v in views}})
            # `after_seq` may name any text: only the sessions this user may see are followed.
            named = dict(sent)
            sent.clear()
            for view in views:
                # A reconnect that names where it left off also gets what it missed, in order.
                after = named.get(view["id"])
                if after is not None:
                    messages.extend(
                        _event_message(view["id"], e) for e in _events(services, view["id"], after, view["seq"])
                    )
                sent[view["id"]] = view["seq"]
            first = False
            return [json.dumps(m) for m in messages]
        live_ids = [sid for _, sid in visible]
        # Sessions that closed since the last message still owe their last events (the close
        # itself), if the user may still see them.
        ended = [sid for sid in sent if sid not in live_ids]
        if ended:
            ended = _still_visible(services, user, ended)
            for sid in [sid for sid in sent if sid not in live_ids and sid not in ended]:
                sent.pop(sid, None)
        for sid in live_ids + ended:
            after = sent.get(sid, 0)
            events = _events(services, sid, after, None)
            messages.extend(_event_message(sid, e) for e in events)
            messages.extend(_escalation_messages(services, sid, events, now))
            if events:
                sent[sid] = events[-1].seq
        for sid in ended:
            sent.pop(sid, None)
        if not messages:
            messages.append({"type": "heartbeat", "at": now.isoformat()})
        return [json.dumps(m) for m in messages]

    async def render() -> list[str] | None:
        return await run_in_threadpool(snapshot_and_events)

    channels = [room_channel(room_id)] if room_id else [ALL_ROOMS]
    await _serve(websocket, caller, channels, render)


def _escalation_messages(
    services: Services, session_id: str, events: list[Event], now: datetime
) -> list[dict[str, Any]]:
    """One {"type": "escalation"} message per alarm that these events changed, as it stands now."""
    changed = list(dict.fromkeys(e.payload.escalation_id for e in events if isinstance(e.payload, EscalationPayload)))
    if not changed:
        return []
    state = services.state(session_id)
    return [
        {"type": "escalation", **escalation_view(state, state.escalations[eid], now)}
        for eid in changed
        if eid in state.escalations
    ]


def _events(services: Services, session_id: str, after: int, upto: int | None) -> list[Event]:
    return [e for e in services.events(session_id, after=after) if upto is None or e.seq <= upto]


def _event_message(session_id: str, event: Event) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "event",
        "session_id": session_id,
        "seq": event.seq,
        "kind": event.kind,
        "at": event.at.isoformat(),
        "actor": event.actor,
        "data": event.data,
    }
    if event.participant_id is not None:
        message["participant_id"] = event.participant_id
    return message


__all__ = ["router"]
