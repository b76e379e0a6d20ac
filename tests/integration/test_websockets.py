"""The live streams: the room's HTML fragments and the JSON stream, their admission rules, and what
they send when another tablet changes something.

The socket client is entered as a context manager so the app's lifespan binds the broker to the
loop the sockets run on; changes are made by other, plain clients. The server re-renders on every
broker hint (and on a 10 s heartbeat), so a test reads a bounded number of messages and never
waits for a heartbeat unless a hint went missing."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.config import Settings
from app.main import create_app
from tests.conftest import Clock
from tests.integration.conftest import JSON
from tests.integration.helpers import (
    API,
    NORMAL_VITALS,
    SESSION_COOKIE,
    add_participant,
    dosed_participant,
    events,
    ok,
    open_session,
    part,
    sess,
    state,
)

Clients = Callable[[str], TestClient]
ROOM = "/ws/rooms/cedar-room"
STREAM = f"{API}/stream"
MAX_MESSAGES = 6


@pytest.fixture
def live(client_for: Clients) -> Iterator[TestClient]:
    """farah's tablet, with the app's lifespan running (and so the broker bound to its loop)."""
    client = client_for("farah")
    with client:
        yield client


def next_containing(ws: Any, *needles: str) -> str:
    """The first of the next few messages that contains every needle."""
    seen = []
    for _ in range(MAX_MESSAGES):
        message = ws.receive_text()
        if all(n in message for n in needles):
            return message
        seen.append(message[:200])
    raise AssertionError(f"none of {len(seen)} messages contained {needles}: {seen}")


def next_json(ws: Any, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    seen = []
    for _ in range(MAX_MESSAGES):
        message = json.loads(ws.receive_text())
        if predicate(message):
            return message
        seen.append(message)
    raise AssertionError(f"no matching message among {seen}")


def refused_handshake(client: TestClient, path: str, **kwargs: Any) -> int:
    with pytest.raises(WebSocketDisconnect) as closed:
        with client.websocket_connect(path, **kwargs) as ws:
            ws.receive_text()
    return closed.value.code


def denied_before_accept(client: TestClient, path: str, **kwargs: Any) -> int:
    """The close code of a socket refused during the handshake, before any byte is sent."""
    connection = client.websocket_connect(path, **kwargs)
    with pytest.raises(WebSocketDisconnect) as closed:
        connection.__enter__()
        connection.__exit__(None, None, None)  # pragma: no cover - only when the handshake wrongly succeeds
    return closed.value.code


# ------------------------------------------------------------------ the room's HTML


def test_the_room_socket_starts_with_the_snapshot(live: TestClient, session_id: str) -> None:
    add_participant(live, session_id, "Ada")
    with live.websocket_connect(ROOM) as ws:
        first = ws.receive_text()
    assert 'id="room-live"' in first and 'id="live-status"' in first
    assert 'hx-swap-oob="true"' in first and 'data-live="true"' in first
    assert "Ada" in first
    assert f'data-seq="{state(live, session_id)["seq"]}"' in first


def test_the_room_socket_without_a_session_says_so(live: TestClient) -> None:
    with live.websocket_connect(ROOM) as ws:
        first = ws.receive_text()
    assert 'id="room-live"' in first and "No session under way" in first


def test_a_change_from_another_tablet_reaches_the_room_socket(
    live: TestClient, client_for: Clients, session_id: str
) -> None:
    theo, doc = client_for("theo"), client_for("dr.ade")
    pid = dosed_participant(theo, doc, session_id, "Ada")
    with live.websocket_connect(ROOM) as ws:
        first = ws.receive_text()
        assert "Zelda" not in first and "3 · acute" not in first
        add_participant(theo, session_id, "Zelda")
        assert 'id="room-live"' in next_containing(ws, "Zelda", 'id="live-status"')
        ok(theo.post(part(session_id, pid, "/observations"), json={"distress": 3}))
        message = next_containing(ws, "3 · acute")
        assert "distress-3" in message
        assert f'data-seq="{state(theo, session_id)["seq"]}"' in message


def test_the_room_socket_sees_a_new_session_open(live: TestClient, client_for: Clients) -> None:
    theo = client_for("theo")
    with live.websocket_connect(ROOM) as ws:
        assert "No session under way" in ws.receive_text()
        sid = open_session(theo)
        add_participant(theo, sid, "Wren")
        assert "No session under way" not in next_containing(ws, "Wren")


def test_names_are_escaped_in_the_pushed_html(live: TestClient, client_for: Clients, session_id: str) -> None:
    theo = client_for("theo")
    with live.websocket_connect(ROOM) as ws:
        ws.receive_text()
        add_participant(theo, session_id, "<img src=x onerror=alert(1)>")
        message = next_containing(ws, "onerror")
    assert "<img src=x" not in message
    assert "&lt;img src=x onerror=alert(1)&gt;" in message


# ------------------------------------------------------------------ admission


def test_a_foreign_origin_is_refused_and_the_apps_own_is_admitted(live: TestClient, session_id: str) -> None:
    for origin in (
        "http://evil.example",
        "http://testserver.evil.example",
        "http://evil.example/testserver",
        "null",
        "file://",
        "ws://testserver",
    ):
        for path in (ROOM, STREAM):
            assert denied_before_accept(live, path, headers={"Origin": origin}) == 4403, (origin, path)
    for path in (ROOM, STREAM):
        with live.websocket_connect(path, headers={"Origin": "http://testserver"}) as ws:
            assert ws.receive_text()


def test_an_allowed_origin_is_admitted(settings: Settings, clock: Clock, client_for: Clients) -> None:
    cookie = client_for("farah").cookies[SESSION_COOKIE]
    allowed = create_app(
        settings.model_copy(update={"allowed_origins": "https://tablets.example/, https://x.example"}),
        clock=clock,
        run_clock_task=False,
    )
    try:
        with TestClient(allowed, headers=JSON, cookies={SESSION_COOKIE: cookie}) as client:
            with client.websocket_connect(ROOM, headers={"Origin": "https://tablets.example"}) as ws:
                assert 'id="room-live"' in ws.receive_text()
            assert denied_before_accept(client, ROOM, headers={"Origin": "https://other.example"}) == 4403
    finally:
        allowed.state.services.engine.dispose()
        allowed.state.services.write_engine.dispose()


def test_a_room_the_user_does_not_work_in_closes_with_4404(live: TestClient, client_for: Clients) -> None:
    mika = client_for("mika")
    open_session(mika, room="willow-room", facilitators=["mika"], lead="lou")
    for path in (
        "/ws/rooms/willow-room",
        "/ws/rooms/no-such-room",
        f"{STREAM}?room=willow-room",
        f"{STREAM}?room=no-such-room",
    ):
        assert refused_handshake(live, path) == 4404, path


def as_cookie(value: str) -> dict[str, str]:
    """Headers that make a socket of the `live` client (on the lifespan's loop) someone else's."""
    return {"Cookie": f"{SESSION_COOKIE}={value}"}


def test_the_admin_gets_no_room_socket(live: TestClient, client_for: Clients, session_id: str) -> None:
    admin = as_cookie(client_for("admin").cookies[SESSION_COOKIE])
    assert refused_handshake(live, ROOM, headers=admin) == 4404
    with live.websocket_connect(STREAM, headers=admin) as ws:
        snapshot = json.loads(ws.receive_text())
    assert snapshot == {"type": "snapshot", "sessions": [], "seq": {}}


def test_a_socket_without_a_valid_session_is_closed_with_4401(live: TestClient, client_for: Clients) -> None:
    theo = client_for("theo").cookies[SESSION_COOKIE]
    forged = theo[:-4] + ("AAAA" if not theo.endswith("AAAA") else "BBBB")
    for cookie in (forged, "", "e30=.garbage"):
        assert refused_handshake(live, ROOM, headers=as_cookie(cookie)) == 4401
        assert refused_handshake(live, STREAM, headers=as_cookie(cookie)) == 4401
    with live.websocket_connect(ROOM, headers=as_cookie(theo)) as ws:
        assert 'id="room-live"' in ws.receive_text()


# ------------------------------------------------------------------ the JSON stream


def test_the_stream_sends_a_snapshot_then_one_message_per_event(
    live: TestClient, client_for: Clients, session_id: str
) -> None:
    theo = client_for("theo")
    pid = add_participant(theo, session_id, "Ada")
    seq = state(theo, session_id)["seq"]
    with live.websocket_connect(STREAM) as ws:
        snapshot = json.loads(ws.receive_text())
        assert snapshot["type"] == "snapshot"
        assert snapshot["seq"] == {session_id: seq}
        [view] = snapshot["sessions"]
        assert view == state(theo, session_id)
        assert view["participants"][0]["display_name"] == "Ada"

        ok(theo.post(part(session_id, pid, "/vitals"), json=NORMAL_VITALS))
        event = next_json(ws, lambda m: m["type"] == "event")
        assert {"type", "session_id", "seq", "kind", "at", "data"} <= set(event)
        assert event["session_id"] == session_id and event["seq"] == seq + 1
        assert event["kind"] == "vitals_recorded" and event["data"]["vitals"] == NORMAL_VITALS
        assert event["at"] == events(theo, session_id, after=seq)[0]["at"]

        # Distress 2 raises a low alarm; distress 3 raises it to medium, which reaches the lead and
        # so opens a follow-up: every one of those events is its own message, in order.
        ok(theo.post(part(session_id, pid, "/observations"), json={"distress": 2}))
        ok(theo.post(part(session_id, pid, "/observations"), json={"distress": 3}))
        got = [next_json(ws, lambda m: m["type"] == "event") for _ in range(5)]
        assert [(m["seq"], m["kind"]) for m in got] == [
            (seq + 2, "observation_recorded"),
            (seq + 3, "escalation_raised"),
            (seq + 4, "observation_recorded"),
            (seq + 5, "escalation_updated"),
            (seq + 6, "followup_opened"),
        ]
        assert [got[0]["data"]["distress"], got[2]["data"]["distress"]] == [2, 3]
        assert got == [
            {"type": "event", "session_id": session_id, **{k: v for k, v in e.items() if k != "device"}}
            for e in events(theo, session_id, after=seq + 1)
        ]


def test_the_stream_reports_refusals_too(live: TestClient, client_for: Clients, session_id: str) -> None:
    theo, doc = client_for("theo"), client_for("dr.ade")
    pid = dosed_participant(theo, doc, session_id)
    with live.websocket_connect(f"{STREAM}?room=cedar-room") as ws:
        assert json.loads(ws.receive_text())["type"] == "snapshot"
        theo.delete(part(session_id, pid, "/support/farah"))
        event = next_json(ws, lambda m: m["type"] == "event")
    assert event["kind"] == "command_refused" and event["data"]["code"] == "dyad_locked"


def test_reconnecting_with_after_seq_replays_what_was_missed(
    live: TestClient, client_for: Clients, session_id: str
) -> None:
    theo = client_for("theo")
    pid = add_participant(theo, session_id, "Ada")
    with live.websocket_connect(STREAM) as ws:
        left_at = json.loads(ws.receive_text())["seq"][session_id]
    for distress in (1, 2, 0):
        ok(theo.post(part(session_id, pid, "/observations"), json={"distress": distress}))
    now = state(theo, session_id)["seq"]
    assert now == left_at + 4  # three observations and the low alarm that distress 2 raised
    with live.websocket_connect(f"{STREAM}?after_seq={session_id}:{left_at}") as ws:
        snapshot = json.loads(ws.receive_text())
        assert snapshot["type"] == "snapshot" and snapshot["seq"] == {session_id: now}
        missed = [json.loads(ws.receive_text()) for _ in range(4)]
    assert [m["type"] for m in missed] == ["event"] * 4
    assert [m["seq"] for m in missed] == [left_at + 1, left_at + 2, left_at + 3, left_at + 4]
    assert [m["kind"] for m in missed] == [
        "observation_recorded",
        "observation_recorded",
        "escalation_raised",
        "observation_recorded",
    ]
    assert [m["data"].get("distress") for m in missed] == [1, 2, None, 0]
    assert missed[2]["data"]["priority"] == "low" and missed[2]["data"]["step"] == 1
    assert missed == [
        {"type": "event", "session_id": session_id, **{k: v for k, v in e.items() if k != "device"}}
        for e in events(theo, session_id, after=left_at)
    ]


def test_after_seq_for_a_session_it_cannot_see_replays_nothing(
    live: TestClient, client_for: Clients, session_id: str
) -> None:
    mika = client_for("mika")
    willow = open_session(mika, room="willow-room", facilitators=["mika"], lead="lou")
    add_participant(mika, willow, "Secret")
    theo = client_for("theo")
    with live.websocket_connect(f"{STREAM}?after_seq={willow}:0,{session_id}:0,garbage,:,x:y") as ws:
        snapshot = json.loads(ws.receive_text())
        assert list(snapshot["seq"]) == [session_id]
        replayed = json.loads(ws.receive_text())
        assert replayed["session_id"] == session_id and replayed["seq"] == 1
        add_participant(theo, session_id, "Ada")
        event = next_json(ws, lambda m: m["type"] == "event")
    assert event["session_id"] == session_id and event["kind"] == "participant_added"
    assert "Secret" not in json.dumps(snapshot) + json.dumps(event)


def test_the_stream_picks_up_a_session_opened_after_it_connected(live: TestClient, client_for: Clients) -> None:
    theo = client_for("theo")
    with live.websocket_connect(STREAM) as ws:
        assert json.loads(ws.receive_text()) == {"type": "snapshot", "sessions": [], "seq": {}}
        sid = open_session(theo)
        event = next_json(ws, lambda m: m["type"] == "event")
    assert event["session_id"] == sid and event["seq"] == 1 and event["kind"] == "session_opened"
    assert event["data"]["room_id"] == "cedar-room"


def test_another_rooms_change_does_not_leak_into_the_stream(
    live: TestClient, client_for: Clients, session_id: str
) -> None:
    mika, theo = client_for("mika"), client_for("theo")
    willow = open_session(mika, room="willow-room", facilitators=["mika"], lead="lou")
    with live.websocket_connect(STREAM) as ws:
        assert list(json.loads(ws.receive_text())["seq"]) == [session_id]
        add_participant(mika, willow, "Secret")
        # The stream follows only farah's rooms' feeds: willow's change never reaches it.
        add_participant(theo, session_id, "Ada")
        event = json.loads(ws.receive_text())
    assert event["type"] == "event"
    assert event["session_id"] == session_id and event["data"]["display_name"] == "Ada"
    assert "Secret" not in json.dumps(event)


# ------------------------------------------------------------------ bugs found


def test_the_stream_sends_the_event_that_closes_a_session(
    live: TestClient, client_for: Clients, session_id: str
) -> None:
    theo = client_for("theo")
    pid = add_participant(theo, session_id, "Ada")
    with live.websocket_connect(STREAM) as ws:
        assert json.loads(ws.receive_text())["type"] == "snapshot"
        ok(theo.post(part(session_id, pid, "/discharge")))
        assert next_json(ws, lambda m: m["type"] == "event")["kind"] == "discharged"
        ok(theo.post(sess(session_id, "/close")))
        message = json.loads(ws.receive_text())
    assert message["type"] == "event" and message["kind"] == "session_closed", message


def test_sockets_stay_open_after_the_app_is_started_a_second_time(client_for: Clients, session_id: str) -> None:
    farah, theo = client_for("farah"), client_for("theo")
    for name in ("Ada", "Bo"):
        with farah:  # each `with` runs the app's lifespan: start, then shutdown
            with farah.websocket_connect(STREAM) as ws:
                assert json.loads(ws.receive_text())["type"] == "snapshot"
                add_participant(theo, session_id, name)
                event = next_json(ws, lambda m: m["type"] == "event")
            assert event["data"]["display_name"] == name
