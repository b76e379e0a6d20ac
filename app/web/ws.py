"""Websockets. Every (re)connect starts with a full snapshot; the broker's messages are only a
hint to re-read the log. A heartbeat lets a screen notice a dead link even when nothing changes."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from app.live.broker import ALL_ROOMS, room_channel
from app.live.fragments import (
    alarm_strip_context,
    overview_context,
    render_alarm_strip,
    render_overview_live,
    render_room_live,
    room_context,
)
from app.services import Services
from app.store import people
from app.store.db import unit_of_work
from app.store.tables import Room, User
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


async def _admit(websocket: WebSocket) -> User | None:
    """Accept, then close with a code the page understands if the socket may not stay open."""
    if not origin_allowed(websocket):
        # Refused before the handshake completes: a foreign page gets nothing at all.
        await websocket.close(code=CLOSE_FORBIDDEN_ORIGIN)
        return None
    services: Services = websocket.app.state.services
    user = await run_in_threadpool(load_user, services, websocket.session)
    await websocket.accept()
    if user is None:
        await websocket.close(code=CLOSE_UNAUTHORIZED, reason="sign in")
        return None
    websocket.state.username = user.username  # for the connection's log line (app/web/logs.py)
    return user


async def _serve(
    websocket: WebSocket,
    channels: list[str],
    render: Callable[[], Awaitable[list[str] | None]],
) -> None:
    """Send the snapshot, then re-render on every hint and heartbeat on silence, until the socket
    or the app closes."""
    broker = websocket.app.state.broker
    shutting_down: asyncio.Event = websocket.app.state.shutting_down
    async with broker.subscribe(channels) as subscription:
        messages = await render()
        if messages is None:
            await websocket.close(code=CLOSE_NOT_FOUND)
            return
        for message in messages:
            await websocket.send_text(message)
        receiver = asyncio.create_task(_drain_client(websocket))
        stopping = asyncio.create_task(shutting_down.wait())
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
                if getter in done:
                    # Coalesce a burst of hints into one re-render.
                    while not subscription.queue.empty():
                        subscription.queue.get_nowait()
                else:
                    getter.cancel()
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
    user = await _admit(websocket)
    if user is None:
        return
    services: Services = websocket.app.state.services
    device = _device(websocket)

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

    async with _present(websocket, services, user, device, room_id):
        await _serve(websocket, [room_channel(room_id)], render)


@asynccontextmanager
async def _present(
    websocket: WebSocket, services: Services, user: User, device: str | None, room_id: str | None
) -> AsyncIterator[None]:
    """Count this socket as the device's live link while it is open. When the device's last link
    closes, the overview hears of it once the grace period has passed (a page change is not a drop)."""
    broker = websocket.app.state.broker
    presence = websocket.app.state.presence
    hint = {"type": "presence", "room_id": room_id}
    if device is not None:
        presence.connected(device, room_id, user.username, services.clock())
        broker.publish([ALL_ROOMS], hint)
    try:
        yield
    finally:
        if device is not None:
            presence.disconnected(device, services.clock())
            delay = presence.grace.total_seconds() + 0.5
            asyncio.get_running_loop().call_later(delay, broker.publish, [ALL_ROOMS], hint)


def _device(websocket: WebSocket) -> str | None:
    return (websocket.query_params.get("device") or "").strip()[:80] or None


@router.websocket("/ws/alarms")
async def alarm_strip_socket(websocket: WebSocket) -> None:
    """The open alarms of the user's rooms, for every signed-in page; `room` names the page's room
    (for the tablet's presence), `except=1` leaves out that room's alarms (its page lists them)."""
    user = await _admit(websocket)
    if user is None:
        return
    services: Services = websocket.app.state.services
    room_id = (websocket.query_params.get("room") or "").strip()[:80] or None
    if room_id is not None:
        visible = await run_in_threadpool(_visible_live_sessions, services, user, room_id)
        if visible is None:
            await websocket.close(code=CLOSE_NOT_FOUND)
            return
    except_room = room_id if websocket.query_params.get("except") == "1" else None

    last_html = ""

    async def render() -> list[str] | None:
        nonlocal last_html
        context = await run_in_threadpool(alarm_strip_context, services, user, except_room)
        html = await run_in_threadpool(render_alarm_strip, context)
        status = f'<span id="alarm-strip-beat" hx-swap-oob="true" hidden>{context["now"].isoformat()}</span>'
        if html == last_html:
            return [status]
        last_html = html
        return [html + status]

    async with _present(websocket, services, user, _device(websocket), room_id):
        await _serve(websocket, [ALL_ROOMS], render)


@router.websocket("/ws/overview")
async def overview_socket(websocket: WebSocket) -> None:
    user = await _admit(websocket)
    if user is None:
        return
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

    await _serve(websocket, [ALL_ROOMS], render)


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


def _parse_after(value: str | None) -> dict[str, int]:
    """`after_seq` as `sid:n,sid2:m` (several per session id)."""
    out: dict[str, int] = {}
    if not value:
        return out
    for part in value.split(","):
        sid, _, n = part.partition(":")
        if sid and n.isdigit():
            out[sid.strip()] = int(n)
    return out


@router.websocket("/api/v1/stream")
async def json_stream(websocket: WebSocket) -> None:
    user = await _admit(websocket)
    if user is None:
        return
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
            for view in views:
                # A reconnect that names where it left off also gets what it missed, in order.
                after = sent.get(view["id"])
                if after is not None:
                    messages.extend(_event_messages(services, view["id"], after, view["seq"]))
                sent[view["id"]] = view["seq"]
            first = False
            return [json.dumps(m) for m in messages]
        live_ids = [sid for _, sid in visible]
        # Sessions that closed since the last message still owe their last events (the close itself).
        ended = [sid for sid in sent if sid not in live_ids]
        for sid in live_ids + ended:
            after = sent.get(sid, 0)
            events = _event_messages(services, sid, after, None)
            messages.extend(events)
            messages.extend(_escalation_messages(services, sid, events, now))
            if events:
                sent[sid] = events[-1]["seq"]
        for sid in ended:
            sent.pop(sid, None)
        if not messages:
            messages.append({"type": "heartbeat", "at": now.isoformat()})
        return [json.dumps(m) for m in messages]

    async def render() -> list[str] | None:
        return await run_in_threadpool(snapshot_and_events)

    channels = [room_channel(room_id)] if room_id else [ALL_ROOMS]
    await _serve(websocket, channels, render)


def _escalation_messages(
    services: Services, session_id: str, events: list[dict[str, Any]], now: datetime
) -> list[dict[str, Any]]:
    """One {"type": "escalation"} message per alarm that these events changed, as it stands now."""
    changed = list(dict.fromkeys(e["data"]["escalation_id"] for e in events if "escalation_id" in e["data"]))
    if not changed:
        return []
    state = services.state(session_id)
    return [
        {"type": "escalation", **escalation_view(state, state.escalations[eid], now)}
        for eid in changed
        if eid in state.escalations
    ]


def _event_messages(services: Services, session_id: str, after: int, upto: int | None) -> list[dict[str, Any]]:
    out = []
    for event in services.events(session_id, after=after):
        if upto is not None and event.seq > upto:
            break
        message: dict[str, Any] = {
            "type": "event",
            "session_id": session_id,
            "seq": event.seq,
            "kind": event.kind,
            "at": event.at.isoformat(),
            "actor": event.actor,
            "data": dict(event.data),
        }
        if event.participant_id is not None:
            message["participant_id"] = event.participant_id
        out.append(message)
    return out


__all__ = ["router"]
