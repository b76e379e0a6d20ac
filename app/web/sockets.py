"""How a live socket is let in and kept: the origin and sign-in checked, the sockets of one sign-in
and one user bounded (4429), a sign-out or a revoked sign-in closing them (4401), and what an open
socket keeps of its handshake (nothing). The screens' sockets are in `ws.py`, the JSON stream in
`stream.py`.

A new socket route: `@socket_route(router, path)` on `async def handler(websocket, caller, user)`:
the route admits the socket first (or closes it with the page's code) and releases its count when
the handler ends; the handler drops `user` once it has read what it needs. Add a rule in the
authorization matrix (tests/integration/test_authorization_matrix.py)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.live import feeds
from app.live.broker import SIGNED_OUT, MemoryBroker, sign_in_channel
from app.live.feeds import Hub
from app.live.outbox import CLOSE_TOO_SLOW, SEND_TIMEOUT_SECONDS, Outbox
from app.services import Services
from app.store import people
from app.store.db import unit_of_work
from app.store.tables import Room, User
from app.web.deps import load_user
from app.web.socket_protocol import DIRECT_SEND

log = logging.getLogger("holdspace.ws")

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


async def admit(websocket: WebSocket) -> tuple[Caller, User] | None:
    """Accept, then close with a code the page understands if the socket may not stay open. An
    admitted socket counts against its sign-in's and its user's bounds until `counts(...).release`."""
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
    if not counts(websocket).acquire(caller):
        await websocket.close(code=CLOSE_TOO_MANY, reason="too many live screens")
        return None
    return caller, user


def let_go_of_the_handshake(websocket: WebSocket) -> None:
    """An admitted socket stays open for hours: it keeps nothing of its handshake (the request's
    headers, the cookie among them), once what it needs of them has been read."""
    websocket.scope["headers"] = []
    websocket.__dict__.pop("_headers", None)
    websocket.__dict__.pop("_query_params", None)


def counts(websocket: WebSocket) -> SocketCounts:
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


def sign_ins(websocket: WebSocket) -> SignInWatch:
    return websocket.app.state.sign_in_watch  # type: ignore[no-any-return]


class Sink:
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
        await close_socket(self.websocket, code)


async def close_socket(websocket: WebSocket, code: int) -> None:
    try:
        async with asyncio.timeout(1.0):
            await websocket.close(code=code)
    except (TimeoutError, WebSocketDisconnect, RuntimeError, OSError):
        pass


async def until_gone(websocket: WebSocket) -> None:
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


async def send_snapshot(websocket: WebSocket, frames: list[str]) -> bool:
    """The first frames, before the outbox takes over; a client that cannot take them in
    SEND_TIMEOUT_SECONDS is closed with 1013."""
    try:
        for frame in frames:
            async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
                await websocket.send_text(frame)
        return True
    except TimeoutError:
        await close_socket(websocket, CLOSE_TOO_SLOW)
        return False


def may_see_room(services: Services, room_id: str, user: User) -> bool:
    with unit_of_work(services.engine) as db:
        room = db.get(Room, room_id)
        return room is not None and people.works_in(db, room, user)


def hub_of(websocket: WebSocket) -> Hub:
    return websocket.app.state.hub  # type: ignore[no-any-return]


Endpoint = Callable[[WebSocket, Caller, User], Awaitable[None]]


def socket_route(router: APIRouter, path: str) -> Callable[[Endpoint], Endpoint]:
    """Register a websocket of the app on `router`: a plain Starlette route (nothing of FastAPI's
    dependency machinery stays alive with each open socket), in the app's route table like any
    other. The route admits the socket (`admit`) before the handler runs and releases its place in
    the sign-in's and the user's bounds when the handler ends, whatever ends it."""

    def register(endpoint: Endpoint) -> Endpoint:
        async def admitted(websocket: WebSocket) -> None:
            websocket.scope["route"] = route  # for the connection's log line (app/web/logs.py)
            found = await admit(websocket)
            if found is None:
                return
            caller, user = found
            # Handed over, not kept: the user's row lives only as long as the handler needs it.
            held = [user]
            del found, user
            try:
                await endpoint(websocket, caller, held.pop())
            finally:
                counts(websocket).release(caller)

        route = WebSocketRoute(path, admitted, name=endpoint.__name__)
        router.routes.append(route)
        return endpoint

    return register
