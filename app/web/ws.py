"""The screens' websockets: a room tablet, the lead's overview, and the open-alarm list every
signed-in page carries. Every (re)connect starts with a full snapshot; after that each socket is
one outbox of its room's feed (app.live.feeds): a change is read and rendered once per room and
the same frames go to every socket, straight onto its wire when it can take them. A small
heartbeat lets a screen notice a dead link when nothing changes. How a socket is let in and kept
is in `sockets.py`; the JSON stream is in `stream.py`.

An open socket costs one task (its handler, waiting for the client to go) and little memory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.domain.escalation import reaches_beyond_the_room
from app.live.broker import STEP_THREE, MemoryBroker, room_channel
from app.live.feeds import Feed
from app.live.outbox import CLOSE_CLIENT_GONE, Outbox
from app.live.presence import Presence, device_name
from app.services import Services
from app.store.tables import User
from app.web.live import (
    alarm_strip_context,
    overview_lists,
    overview_rooms,
    render_alarm_strip,
    render_overview_lists,
    render_overview_live,
    status_fragment,
)
from app.web.sockets import (
    CLOSE_INTERNAL_ERROR,
    CLOSE_NOT_FOUND,
    Caller,
    Sink,
    hub_of,
    let_go_of_the_handshake,
    may_see_room,
    send_snapshot,
    sign_ins,
    socket_route,
    until_gone,
)

log = logging.getLogger("holdspace.ws")
router = APIRouter()


@socket_route(router, "/ws/rooms/{room_id}")
async def room_socket(websocket: WebSocket, caller: Caller, user: User) -> None:
    room_id = str(websocket.path_params["room_id"])
    services: Services = websocket.app.state.services
    if not await run_in_threadpool(may_see_room, services, room_id, user):
        await websocket.close(code=CLOSE_NOT_FOUND)
        return
    del user
    await _room_socket(websocket, caller, room_id)


async def _room_socket(websocket: WebSocket, caller: Caller, room_id: str) -> None:
    services: Services = websocket.app.state.services
    hub = hub_of(websocket)
    watch = sign_ins(websocket)
    # Only a socket admitted to this room names a tablet on the room's overview.
    device = device_name(websocket.query_params.get("device"))
    let_go_of_the_handshake(websocket)
    outbox = Outbox(Sink(websocket), keep_latest=True)
    watch.add(caller.sign_in, outbox)
    try:
        version = await hub.join_room(room_id, outbox)
        # The snapshot: the room's current version, the very bytes every tablet of the room
        # holds (no copy per socket), then the time now.
        if not await send_snapshot(websocket, [outbox.take() or version.frame or ""]):
            return
        outbox.release()
        outbox.put_heartbeat(status_fragment(services.clock(), version.seq))
        del version
        async with _present(websocket, caller, device, room_id):
            await until_gone(websocket)
    except (WebSocketDisconnect, RuntimeError, OSError):
        return
    finally:
        outbox.close(CLOSE_CLIENT_GONE)
        watch.remove(caller.sign_in, outbox)
        hub.leave_room(room_id, outbox)


@asynccontextmanager
async def _present(
    websocket: WebSocket, caller: Caller, device: str | None, room_id: str | None
) -> AsyncIterator[None]:
    """Count this socket as its device's live link while it is open. `room_id` is a room the caller
    was admitted to (only such a socket names a tablet on the room's overview), or None for a page
    of no room, which keeps the device in the room it was last in. When the device's last link
    closes, the overview hears of it at once and again once the grace period has passed: a move
    between a tablet's pages is not a drop, a tablet that went away shows as offline."""
    services: Services = websocket.app.state.services
    broker: MemoryBroker = websocket.app.state.broker
    presence: Presence = websocket.app.state.presence
    before = presence.room_of(device) if device is not None else None
    if device is not None and presence.connected(device, room_id, caller.username, services.clock()):
        now_in = presence.room_of(device)
        _tell_room(broker, now_in)
        if before != now_in:
            _tell_room(broker, before)  # the tablet moved: its old room no longer lists it
    else:
        device = None
    try:
        yield
    finally:
        if device is not None:
            room = presence.disconnected(device, services.clock())
            _tell_room(broker, room)
            delay = presence.grace.total_seconds() + 0.5
            asyncio.get_running_loop().call_later(delay, _tell_room, broker, room)


def _tell_room(broker: MemoryBroker, room_id: str | None) -> None:
    """Which tablets are live changed: only the room's overview tile reads it."""
    if room_id is not None:
        broker.publish([room_channel(room_id)], {"type": "presence", "room_id": room_id})


class _Rebuild:
    """An overview's pending update: built by one task at a time, only while there is something
    to build (nothing runs for an idle overview)."""

    def __init__(self, outbox: Outbox, build: Callable[[], Awaitable[str]]) -> None:
        self.outbox = outbox
        self.build = build
        self.dirty = False
        self.started = False
        self.task: asyncio.Task[None] | None = None

    def poke(self) -> None:
        self.dirty = True
        if self.started and (self.task is None or self.task.done()):
            self.task = asyncio.get_running_loop().create_task(self._run())

    def start(self) -> None:
        self.started = True
        if self.dirty:
            self.poke()

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def _run(self) -> None:
        while self.dirty and self.outbox.close_code is None:
            self.dirty = False
            try:
                frame = await self.build()
            except Exception:  # the screen reconnects to a fresh snapshot
                log.exception("could not update an overview")
                self.outbox.close(CLOSE_INTERNAL_ERROR)
                return
            if frame:
                self.outbox.put(frame)


@socket_route(router, "/ws/overview")
async def overview_socket(websocket: WebSocket, caller: Caller, user: User) -> None:
    """The rooms the user oversees, plus step-3 alarms from anywhere for those they reach. After
    the snapshot a change sends only the tiles that changed, the alarm list and the follow-ups."""
    services: Services = websocket.app.state.services
    broker = websocket.app.state.broker
    hub = hub_of(websocket)
    watch = sign_ins(websocket)
    rooms = await run_in_threadpool(overview_rooms, services, user)
    room_ids = [room.id for room in rooms]
    let_go_of_the_handshake(websocket)
    outbox = Outbox(Sink(websocket), keep_latest=True)
    tiles: set[str] = set()
    lists = [False]
    loop = asyncio.get_running_loop()
    timer: list[asyncio.TimerHandle | None] = [None]

    async def update() -> str:
        parts = []
        for room_id in sorted(tiles):
            feed = hub.feeds.get(room_id)
            if feed is not None:
                parts.append(await feed.tile())
        tiles.clear()
        if lists[0]:
            lists[0] = False
            context = await build_lists(feeds)
            parts.append(await run_in_threadpool(render_overview_lists, context))
        if not parts:
            return ""
        return "".join(parts) + status_fragment(services.clock(), None)

    rebuild = _Rebuild(outbox, update)

    def changed(feed: Feed, what: str) -> None:
        tiles.add(feed.room_id)
        if what == "room":
            lists[0] = True
        rebuild.poke()

    def alarms_elsewhere(message: dict[str, Any]) -> None:
        if message.get("room_id") in room_ids:
            return  # the room's own feed tells, once it has read the change
        lists[0] = True
        rebuild.poke()

    def refresh_lists_at(context: dict[str, Any]) -> None:
        """An open follow-up turns overdue with time alone: rebuild the lists once then."""
        if timer[0] is not None:
            timer[0].cancel()
            timer[0] = None
        due = [datetime.fromisoformat(f["due_at"]) for f in context["followups"] if not f["overdue"]]
        if due:
            delay = max(0.05, (min(due) - services.clock()).total_seconds() + 0.05)
            timer[0] = loop.call_later(delay, alarms_elsewhere, {})

    async def build_lists(feeds: list[Feed]) -> dict[str, Any]:
        sessions = {feed.room_id: (await feed.ready(html=True)).view for feed in feeds}
        context = await run_in_threadpool(overview_lists, services, user, rooms, sessions, services.clock())
        refresh_lists_at(context)
        return context

    watch.add(caller.sign_in, outbox)
    feeds = hub.watch(room_ids, outbox, changed)
    step_three = reaches_beyond_the_room(3, user.role)
    if step_three:
        broker.listen(STEP_THREE, alarms_elsewhere)
    try:
        context = await build_lists(feeds)
        now = services.clock()
        presence = websocket.app.state.presence
        context["rooms"] = [
            {
                "room": {"id": room.id, "name": room.name, "lead": room.lead},
                "session": (await feed.ready(html=True)).view,
                "tablets": presence.for_room(room.id, now),
            }
            for room, feed in zip(rooms, feeds, strict=True)
        ]
        html = await run_in_threadpool(render_overview_live, context)
        del context
        tiles.clear()
        lists[0] = False
        rebuild.dirty = False
        if not await send_snapshot(websocket, [html + status_fragment(now, None)]):
            return
        del html
        outbox.release()
        rebuild.start()
        await until_gone(websocket)
    except (WebSocketDisconnect, RuntimeError, OSError):
        return
    finally:
        outbox.close(CLOSE_CLIENT_GONE)
        rebuild.stop()
        watch.remove(caller.sign_in, outbox)
        if timer[0] is not None:
            timer[0].cancel()
        if step_three:
            broker.unlisten(STEP_THREE, alarms_elsewhere)
        hub.unwatch(room_ids, outbox, changed)


@socket_route(router, "/ws/alarms")
async def alarm_strip_socket(websocket: WebSocket, caller: Caller, user: User) -> None:
    """The open alarms of the user's rooms, for every signed-in page; `room` names the page's room
    (for the tablet's presence), `except=1` leaves out that room's alarms (its page lists them).
    Follows the feeds of the user's rooms (their versions are read and rendered once for every
    screen) and, for leads and prescribers, step-3 alarms from anywhere; after the snapshot a change
    is sent only when the list reads differently."""
    services: Services = websocket.app.state.services
    broker = websocket.app.state.broker
    hub = hub_of(websocket)
    watch = sign_ins(websocket)
    room_id = (websocket.query_params.get("room") or "").strip()[:80] or None
    if room_id is not None and not await run_in_threadpool(may_see_room, services, room_id, user):
        await websocket.close(code=CLOSE_NOT_FOUND)
        return
    except_room = room_id if websocket.query_params.get("except") == "1" else None
    device = device_name(websocket.query_params.get("device"))
    rooms = await run_in_threadpool(overview_rooms, services, user)
    room_ids = [room.id for room in rooms if room.id != except_room]
    let_go_of_the_handshake(websocket)
    outbox = Outbox(Sink(websocket), keep_latest=True)
    shown = [""]

    async def update() -> str:
        sessions = {feed.room_id: (await feed.ready(html=True)).view for feed in feeds}
        context = await run_in_threadpool(
            alarm_strip_context, services, user, rooms, sessions, except_room, services.clock()
        )
        html = await run_in_threadpool(render_alarm_strip, context)
        if html == shown[0]:
            return ""
        shown[0] = html
        return html

    rebuild = _Rebuild(outbox, update)

    def changed(feed: Feed, what: str) -> None:
        if what == "room":
            rebuild.poke()

    def alarms_elsewhere(message: dict[str, Any]) -> None:
        if message.get("room_id") not in room_ids:
            rebuild.poke()

    watch.add(caller.sign_in, outbox)
    feeds = hub.watch(room_ids, outbox, changed, heartbeat="alarms")
    step_three = reaches_beyond_the_room(3, user.role)
    if step_three:
        broker.listen(STEP_THREE, alarms_elsewhere)
    try:
        # A change that arrives while the snapshot is built leaves the rebuild dirty: it runs once
        # more after the snapshot (and sends nothing if the list reads the same).
        snapshot = await update()
        if not await send_snapshot(websocket, [snapshot]):
            return
        del snapshot
        outbox.release()
        rebuild.start()
        async with _present(websocket, caller, device, room_id):
            await until_gone(websocket)
    except (WebSocketDisconnect, RuntimeError, OSError):
        return
    finally:
        outbox.close(CLOSE_CLIENT_GONE)
        rebuild.stop()
        watch.remove(caller.sign_in, outbox)
        if step_three:
            broker.unlisten(STEP_THREE, alarms_elsewhere)
        hub.unwatch(room_ids, outbox, changed)
