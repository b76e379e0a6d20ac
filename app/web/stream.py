"""The JSON stream of API.md (`/api/v1/stream`): a snapshot of the live sessions the caller may
see, then every event in order, encoded once for all subscribers; a reconnect that names where it
left off (`after_seq`) gets what it missed."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.live.outbox import CLOSE_CLIENT_GONE, Outbox
from app.services import Services
from app.store import people
from app.store.db import unit_of_work
from app.store.tables import Room, User
from app.web.live import (
    event_message,
)
from app.web.sockets import (
    CLOSE_NOT_FOUND,
    MAX_AFTER_SEQ,
    Caller,
    Sink,
    hub_of,
    let_go_of_the_handshake,
    send_snapshot,
    sign_ins,
    socket_route,
    until_gone,
)
from app.web.views import session_view

router = APIRouter()


def _stream_rooms(services: Services, user: User, room_id: str | None) -> list[str] | None:
    """The rooms whose sessions the stream may carry; None if the named room is not visible."""
    with unit_of_work(services.engine) as db:
        if room_id is not None:
            room = db.get(Room, room_id)
            if room is None or not people.works_in(db, room, user):
                return None
            return [room.id]
        return [room.id for room in people.rooms_for(db, user)]


def _live_sessions(services: Services, room_ids: list[str]) -> list[str]:
    with unit_of_work(services.engine) as db:
        out = []
        for room_id in room_ids:
            live = people.live_session(db, room_id)
            if live is not None:
                out.append(live.id)
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


def _snapshot(services: Services, room_ids: list[str], after: dict[str, int], outbox: Outbox) -> list[str]:
    """The snapshot, then (for a reconnect that names where it left off) what it missed, in order."""
    now = services.clock()
    views = [session_view(services.state(sid), services.policy, now) for sid in _live_sessions(services, room_ids)]
    messages: list[dict[str, Any]] = [
        {"type": "snapshot", "sessions": views, "seq": {v["id"]: v["seq"] for v in views}}
    ]
    for view in views:
        left_at = after.get(view["id"])
        if left_at is not None:
            messages.extend(
                event_message(view["id"], e) for e in services.events(view["id"], after=left_at) if e.seq <= view["seq"]
            )
        outbox.sent[view["id"]] = view["seq"]
    return [json.dumps(m) for m in messages]


@socket_route(router, "/api/v1/stream")
async def json_stream(websocket: WebSocket, caller: Caller, user: User) -> None:
    services: Services = websocket.app.state.services
    room_ids = await run_in_threadpool(_stream_rooms, services, user, websocket.query_params.get("room"))
    if room_ids is None:
        await websocket.close(code=CLOSE_NOT_FOUND)
        return
    del user
    await _json_stream(websocket, caller, room_ids)


async def _json_stream(websocket: WebSocket, caller: Caller, room_ids: list[str]) -> None:
    services: Services = websocket.app.state.services
    hub = hub_of(websocket)
    watch = sign_ins(websocket)
    after = _parse_after(websocket.query_params.get("after_seq"))
    let_go_of_the_handshake(websocket)
    # Every event, in order: one that falls JSON_BACKLOG behind is closed (1013) and resumes with
    # `after_seq`, missing nothing.
    outbox = Outbox(Sink(websocket), keep_latest=False)
    watch.add(caller.sign_in, outbox)
    try:
        # Joined before the snapshot is read, so nothing committed in between is missed; what
        # arrives meanwhile is held and sent after it, less what the snapshot already holds.
        await hub.join_json(room_ids, outbox)
        frames = await run_in_threadpool(_snapshot, services, room_ids, after, outbox)
        if not await send_snapshot(websocket, frames):
            return
        del frames
        outbox.release()
        await until_gone(websocket)
    except (WebSocketDisconnect, RuntimeError, OSError):
        return
    finally:
        outbox.close(CLOSE_CLIENT_GONE)
        watch.remove(caller.sign_in, outbox)
        hub.leave_json(room_ids, outbox)
