"""Websockets. Every (re)connect starts with a full snapshot; after that each socket is one outbox
of its room's feed (app.live.feeds): a change is read and rendered once per room and the same
frames go to every socket, straight onto its wire when it can take them. A small heartbeat lets a
screen notice a dead link when nothing changes. A socket ends with its sign-in (4401), and the
sockets of one sign-in and of one user are bounded (4429).

An open socket costs one task (its handler, waiting for the client to go) and little memory: the
routes are plain Starlette ones (`socket_route`), and a socket keeps nothing of its handshake
once admitted. A new socket route: `@socket_route(path)` on `async def handler(websocket)`, with
`_admit` first and `_counts(websocket).release(caller)` last, and a rule in the authorization
matrix (tests/integration/test_authorization_matrix.py)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.domain.escalation import reaches_beyond_the_room
from app.live import feeds
from app.live.broker import SIGNED_OUT, STEP_THREE, MemoryBroker, room_channel, sign_in_channel
from app.live.feeds import CLOSE_CLIENT_GONE, CLOSE_TOO_SLOW, SEND_TIMEOUT_SECONDS, Feed, Hub, Outbox
from app.live.presence import Presence, device_name
from app.services import Services
from app.store import people
from app.store.db import unit_of_work
from app.store.tables import Room, User
from app.web.deps import load_user
from app.web.live import (
    alarm_strip_context,
    event_message,
    overview_lists,
    overview_rooms,
    render_alarm_strip,
    render_overview_lists,
    render_overview_live,
    status_fragment,
)
from app.web.socket_protocol import DIRECT_SEND
from app.web.views import session_view

log = logging.getLogger("holdspace.ws")
router = APIRouter()

HEARTBEAT_SECONDS = feeds.HEARTBEAT_SECONDS  # sent by the room feeds' hub (app.live.feeds)
CLOSE_INTERNAL_ERROR = 1011
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN_ORIGIN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_RESTARTING = 1012
CLOSE_TOO_MANY = 4429
# Open sockets at once: per sign-in (one browser: a few tabs) and per user (several tablets).
MAX_SOCKETS_PER_SIGN_IN = 8
MAX_SOCKETS_PER_USER = 24
# How often this process looks again whether the sign-ins of its open sockets still hold (one
# query for all of them, whatever their number).
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


@dataclass(frozen=True, slots=True)
class Caller:
    """A socket's user (by name) and the sign-in (cookie) it came with: all an open socket keeps
    of who opened it (the user's row is read at connect and let go)."""

    username: str
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
        if self._by_sign_in[caller.sign_in] >= self.per_sign_in or self._by_user[caller.username] >= self.per_user:
            return False
        self._by_sign_in[caller.sign_in] += 1
        self._by_user[caller.username] += 1
        return True

    def release(self, caller: Caller) -> None:
        self._by_sign_in[caller.sign_in] -= 1
        self._by_user[caller.username] -= 1
        if self._by_sign_in[caller.sign_in] <= 0:
            del self._by_sign_in[caller.sign_in]
        if self._by_user[caller.username] <= 0:
            del self._by_user[caller.username]


async def _admit(websocket: WebSocket) -> tuple[Caller, User] | None:
    """Accept, then close with a code the page understands if the socket may not stay open. An
    admitted socket counts against its sign-in's and its user's bounds until `_counts(...).release`."""
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
    caller = Caller(user.username, str(websocket.session.get("sign_in")))
    if not _counts(websocket).acquire(caller):
        await websocket.close(code=CLOSE_TOO_MANY, reason="too many live screens")
        return None
    return caller, user


def _let_go_of_the_handshake(websocket: WebSocket) -> None:
    """An admitted socket stays open for hours: it keeps nothing of its handshake (the request's
    headers, the cookie among them), once what it needs of them has been read."""
    websocket.scope["headers"] = []
    websocket.__dict__.pop("_headers", None)
    websocket.__dict__.pop("_query_params", None)


def _counts(websocket: WebSocket) -> SocketCounts:
    return websocket.app.state.socket_counts  # type: ignore[no-any-return]


class SignInWatch:
    """The open sockets of each sign-in in this process. Signing out here closes them at once (a
    hint on the sign-in's channel); a sign-in revoked by another process or run out is found by
    one query every SIGN_IN_CHECK_SECONDS for all of them, run only while sockets are open."""

    def __init__(self, services: Services, broker: MemoryBroker) -> None:
        self.services = services
        self.broker = broker
        self.outboxes: dict[str, set[Outbox]] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, sign_in: str, outbox: Outbox) -> None:
        outboxes = self.outboxes.get(sign_in)
        if outboxes is None:
            outboxes = self.outboxes[sign_in] = set()
            self.broker.listen(sign_in_channel(sign_in), self._signed_out_listener(sign_in))
        outboxes.add(outbox)
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._check_forever())

    def remove(self, sign_in: str, outbox: Outbox) -> None:
        outboxes = self.outboxes.get(sign_in)
        if outboxes is None:
            return
        outboxes.discard(outbox)
        if not outboxes:
            del self.outboxes[sign_in]
            self.broker.unlisten(sign_in_channel(sign_in), self._signed_out_listener(sign_in))

    def _signed_out_listener(self, sign_in: str) -> Any:
        return _SignedOut(self, sign_in)

    def end(self, sign_in: str) -> None:
        for outbox in list(self.outboxes.get(sign_in, ())):
            outbox.close(CLOSE_UNAUTHORIZED)

    async def _check_forever(self) -> None:
        while self.outboxes:
            await asyncio.sleep(SIGN_IN_CHECK_SECONDS)
            ids = list(self.outboxes)
            if not ids:
                return
            try:
                valid = await run_in_threadpool(_valid_sign_ins, self.services, ids)
            except Exception:  # a passing database error: look again next time
                log.warning("could not check the sign-ins of open sockets", exc_info=True)
                continue
            for sign_in in ids:
                if sign_in not in valid:
                    self.end(sign_in)


@dataclass(frozen=True)
class _SignedOut:
    """The listener for one sign-in's channel (equal for the same sign-in, so it can be removed)."""

    watch: SignInWatch
    sign_in: str

    def __call__(self, message: dict[str, Any]) -> None:
        if message.get("type") == SIGNED_OUT["type"]:
            self.watch.end(self.sign_in)


def _valid_sign_ins(services: Services, ids: list[str]) -> set[str]:
    with unit_of_work(services.engine) as db:
        return people.valid_sign_ins(db, ids)


def _sign_ins(websocket: WebSocket) -> SignInWatch:
    return websocket.app.state.sign_in_watch  # type: ignore[no-any-return]


class _Sink:
    """A socket as its outbox sends to it: straight onto the wire when the server offers that
    (app.web.socket_protocol) and the transport takes it without waiting; else the ASGI way."""

    __slots__ = ("websocket", "_direct")

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self._direct: Callable[[str], bool] | None = websocket.scope.get("extensions", {}).get(DIRECT_SEND)

    def try_send(self, frame: str) -> bool:
        direct = self._direct
        return direct is not None and direct(frame)

    async def send(self, frame: str) -> None:
        await self.websocket.send_text(frame)

    async def close(self, code: int) -> None:
        await _close(self.websocket, code)


async def _close(websocket: WebSocket, code: int) -> None:
    try:
        async with asyncio.timeout(1.0):
            await websocket.close(code=code)
    except (TimeoutError, WebSocketDisconnect, RuntimeError, OSError):
        pass


async def _until_gone(websocket: WebSocket) -> None:
    """An open socket's one task: it waits for the client to go (or for the close the server
    sent). Frames are sent by the room's feed, not from here; anything the client sends is
    ignored (commands travel as HTTP requests)."""
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
    except (WebSocketDisconnect, RuntimeError, OSError):
        return


async def _send_snapshot(websocket: WebSocket, frames: list[str]) -> bool:
    """The first frames, before the outbox takes over; a client that cannot take them in
    SEND_TIMEOUT_SECONDS is closed with 1013."""
    try:
        for frame in frames:
            async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
                await websocket.send_text(frame)
        return True
    except TimeoutError:
        await _close(websocket, CLOSE_TOO_SLOW)
        return False


def _may_see_room(services: Services, room_id: str, user: User) -> bool:
    with unit_of_work(services.engine) as db:
        room = db.get(Room, room_id)
        return room is not None and people.works_in(db, room, user)


def _hub(websocket: WebSocket) -> Hub:
    return websocket.app.state.hub  # type: ignore[no-any-return]


Endpoint = Callable[[WebSocket], Awaitable[None]]


def socket_route(path: str) -> Callable[[Endpoint], Endpoint]:
    """Register a websocket of the app: a plain Starlette route (nothing of FastAPI's dependency
    machinery stays alive with each open socket), in the app's route table like any other."""

    def register(endpoint: Endpoint) -> Endpoint:
        def named(websocket: WebSocket) -> Awaitable[None]:
            websocket.scope["route"] = route  # for the connection's log line (app/web/logs.py)
            return endpoint(websocket)

        route = WebSocketRoute(path, named, name=endpoint.__name__)
        router.routes.append(route)
        return endpoint

    return register


@socket_route("/ws/rooms/{room_id}")
async def room_socket(websocket: WebSocket) -> None:
    admitted = await _admit(websocket)
    if admitted is None:
        return
    caller, user = admitted
    del admitted
    try:
        room_id = str(websocket.path_params["room_id"])
        services: Services = websocket.app.state.services
        if not await run_in_threadpool(_may_see_room, services, room_id, user):
            await websocket.close(code=CLOSE_NOT_FOUND)
            return
        del user
        await _room_socket(websocket, caller, room_id)
    finally:
        _counts(websocket).release(caller)


async def _room_socket(websocket: WebSocket, caller: Caller, room_id: str) -> None:
    services: Services = websocket.app.state.services
    hub = _hub(websocket)
    watch = _sign_ins(websocket)
    # Only a socket admitted to this room names a tablet on the room's overview.
    device = device_name(websocket.query_params.get("device"))
    _let_go_of_the_handshake(websocket)
    outbox = Outbox(_Sink(websocket), keep_latest=True)
    watch.add(caller.sign_in, outbox)
    try:
        version = await hub.join_room(room_id, outbox)
        # The snapshot: the room's current version, the very bytes every tablet of the room
        # holds (no copy per socket), then the time now.
        if not await _send_snapshot(websocket, [outbox.take() or version.frame or ""]):
            return
        outbox.release()
        outbox.put_heartbeat(status_fragment(services.clock(), version.seq))
        del version
        async with _present(websocket, caller, device, room_id):
            await _until_gone(websocket)
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


@socket_route("/ws/overview")
async def overview_socket(websocket: WebSocket) -> None:
    admitted = await _admit(websocket)
    if admitted is None:
        return
    caller, user = admitted
    del admitted
    try:
        await _overview_socket(websocket, caller, user)
    finally:
        _counts(websocket).release(caller)


async def _overview_socket(websocket: WebSocket, caller: Caller, user: User) -> None:
    """The rooms the user oversees, plus step-3 alarms from anywhere for those they reach. After
    the snapshot a change sends only the tiles that changed, the alarm list and the follow-ups."""
    services: Services = websocket.app.state.services
    broker = websocket.app.state.broker
    hub = _hub(websocket)
    watch = _sign_ins(websocket)
    rooms = await run_in_threadpool(overview_rooms, services, user)
    room_ids = [room.id for room in rooms]
    _let_go_of_the_handshake(websocket)
    outbox = Outbox(_Sink(websocket), keep_latest=True)
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
        if not await _send_snapshot(websocket, [html + status_fragment(now, None)]):
            return
        del html
        outbox.release()
        rebuild.start()
        await _until_gone(websocket)
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


@socket_route("/ws/alarms")
async def alarm_strip_socket(websocket: WebSocket) -> None:
    """The open alarms of the user's rooms, for every signed-in page; `room` names the page's room
    (for the tablet's presence), `except=1` leaves out that room's alarms (its page lists them)."""
    admitted = await _admit(websocket)
    if admitted is None:
        return
    caller, user = admitted
    del admitted
    try:
        await _alarm_strip_socket(websocket, caller, user)
    finally:
        _counts(websocket).release(caller)


async def _alarm_strip_socket(websocket: WebSocket, caller: Caller, user: User) -> None:
    """Follows the feeds of the user's rooms (their versions are read and rendered once for every
    screen) and, for leads and prescribers, step-3 alarms from anywhere; after the snapshot a change
    is sent only when the list reads differently."""
    services: Services = websocket.app.state.services
    broker = websocket.app.state.broker
    hub = _hub(websocket)
    watch = _sign_ins(websocket)
    room_id = (websocket.query_params.get("room") or "").strip()[:80] or None
    if room_id is not None and not await run_in_threadpool(_may_see_room, services, room_id, user):
        await websocket.close(code=CLOSE_NOT_FOUND)
        return
    except_room = room_id if websocket.query_params.get("except") == "1" else None
    device = device_name(websocket.query_params.get("device"))
    rooms = await run_in_threadpool(overview_rooms, services, user)
    room_ids = [room.id for room in rooms if room.id != except_room]
    _let_go_of_the_handshake(websocket)
    outbox = Outbox(_Sink(websocket), keep_latest=True)
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
        if not await _send_snapshot(websocket, [snapshot]):
            return
        del snapshot
        outbox.release()
        rebuild.start()
        async with _present(websocket, caller, device, room_id):
            await _until_gone(websocket)
    except (WebSocketDisconnect, RuntimeError, OSError):
        return
    finally:
        outbox.close(CLOSE_CLIENT_GONE)
        rebuild.stop()
        watch.remove(caller.sign_in, outbox)
        if step_three:
            broker.unlisten(STEP_THREE, alarms_elsewhere)
        hub.unwatch(room_ids, outbox, changed)


# ------------------------------------------------------------------ the JSON stream


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


@socket_route("/api/v1/stream")
async def json_stream(websocket: WebSocket) -> None:
    admitted = await _admit(websocket)
    if admitted is None:
        return
    caller, user = admitted
    del admitted
    try:
        services: Services = websocket.app.state.services
        room_ids = await run_in_threadpool(_stream_rooms, services, user, websocket.query_params.get("room"))
        if room_ids is None:
            await websocket.close(code=CLOSE_NOT_FOUND)
            return
        del user
        await _json_stream(websocket, caller, room_ids)
    finally:
        _counts(websocket).release(caller)


async def _json_stream(websocket: WebSocket, caller: Caller, room_ids: list[str]) -> None:
    services: Services = websocket.app.state.services
    hub = _hub(websocket)
    watch = _sign_ins(websocket)
    after = _parse_after(websocket.query_params.get("after_seq"))
    _let_go_of_the_handshake(websocket)
    # Every event, in order: one that falls JSON_BACKLOG behind is closed (1013) and resumes with
    # `after_seq`, missing nothing.
    outbox = Outbox(_Sink(websocket), keep_latest=False)
    watch.add(caller.sign_in, outbox)
    try:
        # Joined before the snapshot is read, so nothing committed in between is missed; what
        # arrives meanwhile is held and sent after it, less what the snapshot already holds.
        await hub.join_json(room_ids, outbox)
        frames = await run_in_threadpool(_snapshot, services, room_ids, after, outbox)
        if not await _send_snapshot(websocket, frames):
            return
        del frames
        outbox.release()
        await _until_gone(websocket)
    except (WebSocketDisconnect, RuntimeError, OSError):
        return
    finally:
        outbox.close(CLOSE_CLIENT_GONE)
        watch.remove(caller.sign_in, outbox)
        hub.leave_json(room_ids, outbox)


__all__ = ["router"]
