"""The server's websocket protocol: uvicorn's own, with permessage-deflate that keeps no
compression context between messages.

A live screen gets a whole fragment now and then and a small heartbeat in between; a compression
context kept per socket would hold its zlib buffers (tens of KiB) for every idle tablet, while a
fresh one per message costs microseconds and compresses a self-contained fragment just as well.
Clients are asked the same for what they send (nearly nothing), so no decoder is kept either."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import PerMessageDeflate, ServerPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
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


class LiveWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        extensions = [deflate()] if self.config.ws_per_message_deflate else []
        self.conn = ServerProtocol(
            extensions=extensions, max_size=self.config.ws_max_size, logger=logging.getLogger("uvicorn.error")
        )


__all__ = ["LiveWebSocketProtocol"]
