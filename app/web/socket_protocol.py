"""The server's websocket protocol: uvicorn's own, with permessage-deflate that keeps no
compression context between messages.

A live screen gets a whole fragment now and then and a small heartbeat in between; a compression
context kept per socket would hold its zlib buffers (tens of KiB) for every idle tablet, while a
fresh one per message costs microseconds and compresses a self-contained fragment just as well.
Clients are asked the same for what they send (nearly nothing), so no decoder is kept either.

It also offers the app a way to send without waiting (`DIRECT_SEND` in the scope's extensions):
a frame goes onto the wire at once if the transport takes it, else the app sends it the ASGI way
from a task of that socket's own. As no compression context is kept, the same message makes the
same bytes on the wire for every socket: they are framed (and compressed) once."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import PerMessageDeflate, ServerPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import ExtensionParameter

# A heartbeat (about 140 bytes) would gain a few dozen bytes from a fresh zlib context that costs
# more to set up than the bytes are worth: messages under this size go out uncompressed, as
# RFC 7692 allows (the frame simply does not set RSV1).
PLAIN_BELOW_BYTES = 512


# Without a context kept between messages, the same bytes compress to the same bytes on every
# socket: the room's fragment, sent to every tablet of the room, is compressed once. A few recent
# messages are remembered (the room versions being sent right now).
_COMPRESSED: OrderedDict[tuple[bytes, int], bytes] = OrderedDict()
_COMPRESSED_SIZE = 8


class _PerMessageDeflate(PerMessageDeflate):
    def encode(self, frame: Frame) -> Frame:
        whole = frame.fin and frame.opcode in (Opcode.TEXT, Opcode.BINARY)
        if whole and len(frame.data) < PLAIN_BELOW_BYTES:
            return frame
        if not (whole and self.local_no_context_takeover):
            return super().encode(frame)
        key = (bytes(frame.data), self.local_max_window_bits)
        data = _COMPRESSED.get(key)
        if data is None:
            data = super().encode(frame).data
            data = bytes(data)
            _COMPRESSED[key] = data
            while len(_COMPRESSED) > _COMPRESSED_SIZE:
                _COMPRESSED.popitem(last=False)
        return Frame(frame.opcode, data, frame.fin, True, frame.rsv2, frame.rsv3)


class _DeflateFactory(ServerPerMessageDeflateFactory):
    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> tuple[list[ExtensionParameter], PerMessageDeflate]:
        response, extension = super().process_request_params(params, accepted_extensions)
        extension.__class__ = _PerMessageDeflate
        return response, extension


def deflate() -> ServerPerMessageDeflateFactory:
    return _DeflateFactory(
        server_no_context_takeover=True,
        client_no_context_takeover=True,  # and no decoder kept for a client that sends nothing
        server_max_window_bits=12,
        client_max_window_bits=12,
        compress_settings={"memLevel": 5},
    )


# The scope's extension under which a socket offers `try_send(text) -> bool`.
DIRECT_SEND = "holdspace.try_send"

# Messages being fanned out right now, framed for the wire: (text, how the socket frames) -> bytes.
_WIRE: OrderedDict[tuple[str, tuple[Any, ...]], bytes] = OrderedDict()
_WIRE_SIZE = 64


def _framing(conn: ServerProtocol) -> tuple[Any, ...] | None:
    """What a frame's bytes depend on for this connection, or None when they depend on more (a
    compression context kept between messages): then the frame is made per socket."""
    key: list[Any] = []
    for extension in conn.extensions:
        if not (isinstance(extension, _PerMessageDeflate) and extension.local_no_context_takeover):
            return None
        key.append(extension.local_max_window_bits)
    return tuple(key)


class _Inbox:
    """What the client sent, for the app's `receive`: the part of asyncio.Queue uvicorn uses,
    without its four deques (an idle socket holds no message and one waiting reader)."""

    __slots__ = ("_items", "_waiters")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiters: list[asyncio.Future[None]] = []

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                return

    def empty(self) -> bool:
        return not self._items

    async def get(self) -> Any:
        while not self._items:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                if self._items:
                    self._wake_one()  # woken, then cancelled: the message is another reader's
                raise
        return self._items.pop(0)


class _Writable:
    """Whether the transport takes more now: the part of asyncio.Event uvicorn uses, with no deque
    kept while nobody waits (the usual case)."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return True


class LiveWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # An idle socket is mostly these: lighter than asyncio's Queue and Event, same behaviour.
        self.queue = _Inbox()  # type: ignore[assignment]
        self.writable = _Writable()  # type: ignore[assignment]
        extensions = [deflate()] if self.config.ws_per_message_deflate else []
        self.conn = ServerProtocol(
            extensions=extensions, max_size=self.config.ws_max_size, logger=logging.getLogger("uvicorn.error")
        )

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:  # (the app's task is created, not yet run)
            scope["extensions"][DIRECT_SEND] = self.try_send

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # Open for hours: it keeps nothing of the handshake (request and response headers).
            self.request = self.response = None  # type: ignore[assignment]

    def try_send(self, text: str) -> bool:
        """Put a text message on the wire now if the transport takes it without waiting (its
        buffer below the high-water mark); False if it would wait, or if the socket is closing."""
        if (
            not self.writable.is_set()
            or self.close_sent
            or self.disconnected
            or self.conn.state is not State.OPEN
            or self.transport.is_closing()
        ):
            return False
        framing = _framing(self.conn)
        if framing is None:
            self.conn.send_text(text.encode())
            self.transport.write(b"".join(self.conn.data_to_send()))
            return True
        key = (text, framing)
        wire = _WIRE.get(key)
        if wire is None:
            wire = Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=self.conn.extensions)
            _WIRE[key] = wire
            while len(_WIRE) > _WIRE_SIZE:
                _WIRE.popitem(last=False)
        self.transport.write(wire)
        return True


__all__ = ["DIRECT_SEND", "LiveWebSocketProtocol"]
