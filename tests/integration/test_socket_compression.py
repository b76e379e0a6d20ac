"""Sockets are compressed (permessage-deflate) as `holdspace serve` runs them, without a
compression context kept per idle socket; pages are gzipped (see test_live_feeds)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from websockets.sync.client import connect

from app.config import Settings
from app.main import create_app
from app.web.socket_protocol import LiveWebSocketProtocol
from tests.conftest import PASSWORD


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws=LiveWebSocketProtocol)
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not running.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        running.should_exit = True
        thread.join(timeout=15)
        app.state.services.engine.dispose()
        app.state.services.write_engine.dispose()


def test_a_room_socket_is_deflated_without_a_context_kept_between_messages(server: str) -> None:
    import httpx

    with httpx.Client(base_url=f"http://{server}", headers={"X-Requested-With": "holdspace"}) as client:
        client.post("/api/v1/auth/login", json={"username": "farah", "password": PASSWORD}).raise_for_status()
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    with connect(f"ws://{server}/ws/rooms/cedar-room", additional_headers={"Cookie": cookie}) as ws:
        negotiated = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        assert 'id="room-live"' in str(ws.recv(timeout=10))
    assert "permessage-deflate" in negotiated
    assert "server_no_context_takeover" in negotiated and "client_no_context_takeover" in negotiated


def test_a_heartbeat_goes_out_plain_and_a_fragment_compressed() -> None:
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
    from websockets.frames import Frame, Opcode

    from app.web.socket_protocol import PLAIN_BELOW_BYTES, deflate

    client_params = ClientPerMessageDeflateFactory(client_max_window_bits=True).get_request_params()
    _response, extension = deflate().process_request_params(client_params, [])
    beat = extension.encode(Frame(Opcode.TEXT, b'<div id="live-status">Live</div>'))
    assert not beat.rsv1 and beat.data == b'<div id="live-status">Live</div>'
    fragment = ("<article>" + "Participant " * 400 + "</article>").encode()
    assert len(fragment) > PLAIN_BELOW_BYTES
    packed = extension.encode(Frame(Opcode.TEXT, fragment))
    assert packed.rsv1 and len(packed.data) < len(fragment) / 5


def test_the_same_fragment_is_compressed_once_for_every_socket() -> None:
    import zlib

    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
    from websockets.frames import Frame, Opcode

    from app.web.socket_protocol import deflate

    client_params = ClientPerMessageDeflateFactory(client_max_window_bits=True).get_request_params()
    sockets = [deflate().process_request_params(client_params, [])[1] for _ in range(3)]
    fragment = ("<article>" + "Participant · distress 2 · " * 300 + "</article>").encode()
    sent = [ext.encode(Frame(Opcode.TEXT, bytes(bytearray(fragment)))) for ext in sockets]
    assert all(frame.rsv1 for frame in sent)
    assert sent[1].data is sent[0].data and sent[2].data is sent[0].data  # compressed once
    inflated = zlib.decompressobj(wbits=-12).decompress(bytes(sent[2].data) + b"\x00\x00\xff\xff")
    assert inflated == fragment


def test_a_change_goes_straight_onto_the_wire_of_every_socket_with_the_same_bytes(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As `holdspace serve` runs it, a socket that can take a frame gets it from the feed's own
    loop: no sender task per socket, and the frame is made for the wire once."""
    import httpx

    from app.live import outbox as feeds
    from app.web import socket_protocol

    drains: list[object] = []
    real_drain = feeds.Outbox._drain

    def counted(self: feeds.Outbox) -> object:
        drains.append(self)
        return real_drain(self)

    monkeypatch.setattr(feeds.Outbox, "_drain", counted)
    framed: list[bytes] = []
    real_serialize = socket_protocol.Frame.serialize

    def serialize(self: object, **kwargs: object) -> bytes:
        wire = real_serialize(self, **kwargs)  # type: ignore[arg-type]
        framed.append(wire)
        return wire

    monkeypatch.setattr(socket_protocol.Frame, "serialize", serialize)
    with httpx.Client(base_url=f"http://{server}", headers={"X-Requested-With": "holdspace"}) as client:
        client.post("/api/v1/auth/login", json={"username": "farah", "password": PASSWORD}).raise_for_status()
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        body = {"room_id": "cedar-room", "kind": "group", "facilitators": ["farah"], "lead": "lena"}
        sid = client.post("/api/v1/sessions", json=body).json()["id"]
        url = f"ws://{server}/api/v1/stream?room=cedar-room"
        with contextlib.ExitStack() as stack:
            streams = [stack.enter_context(connect(url, additional_headers={"Cookie": cookie})) for _ in range(3)]
            for ws in streams:
                assert '"type": "snapshot"' in str(ws.recv(timeout=10))
            framed.clear()
            participant = {"display_name": "Ada", "chart_id": "C-1"}
            client.post(f"/api/v1/sessions/{sid}/participants", json=participant).raise_for_status()
            got = [str(ws.recv(timeout=10)) for ws in streams]
    assert len(set(got)) == 1 and '"participant_added"' in got[0]
    assert drains == []  # every socket took it at once
    assert len([w for w in framed if b"participant_added" in w]) == 1  # framed once for three sockets
