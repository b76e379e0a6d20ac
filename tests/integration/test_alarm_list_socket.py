"""Issue 13 item 3 on the live core: the alarm list every signed-in page carries (`/ws/alarms`) is
built from the rooms' feeds, changes live, says only its own link is alive on a heartbeat (never
the page's live status), and a tablet's presence follows the device across its pages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.helpers import (
    SESSION_COOKIE,
    add_participant,
    ok,
    part,
)

Clients = Callable[[str], TestClient]


@pytest.fixture
def live(client_for: Clients) -> Iterator[TestClient]:
    client = client_for("farah")
    with client:
        yield client


def as_cookie(client: TestClient) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={client.cookies[SESSION_COOKIE]}"}


def test_the_alarm_list_shows_the_rooms_alarms_live_and_links_to_the_card(
    live: TestClient, client_for: Clients, session_id: str
) -> None:
    theo = client_for("theo")
    ada = add_participant(theo, session_id, "Ada")
    bea = add_participant(theo, session_id, "Bea")
    ok(theo.post(part(session_id, ada, "/vitals"), json={"spo2": 88}))
    with live.websocket_connect("/ws/alarms") as ws:
        first = ws.receive_text()
        assert 'id="alarm-strip"' in first and 'data-count="1"' in first
        assert f'href="/rooms/cedar-room#p-{ada}"' in first and "Ada: SpO2 88%" in first
        ok(theo.post(part(session_id, bea, "/observations"), json={"distress": 3}))
        update = ws.receive_text()
    assert 'data-count="2"' in update and f'href="/rooms/cedar-room#p-{bea}"' in update
    # The most urgent first: Ada's high alarm above Bea's medium one.
    assert update.index(f"#p-{ada}") < update.index(f"#p-{bea}")


def test_on_a_rooms_own_page_the_list_leaves_that_room_out(
    live: TestClient, client_for: Clients, session_id: str
) -> None:
    theo = client_for("theo")
    ada = add_participant(theo, session_id, "Ada")
    ok(theo.post(part(session_id, ada, "/vitals"), json={"spo2": 88}))
    with live.websocket_connect("/ws/alarms?room=cedar-room&except=1") as ws:
        first = ws.receive_text()
    assert 'data-count="0"' in first and "No open alarms in your other rooms." in first


def test_the_alarm_lists_heartbeat_leaves_the_pages_live_status_alone(live: TestClient, session_id: str) -> None:
    hub = live.app.state.hub  # type: ignore[attr-defined]
    with live.websocket_connect("/ws/alarms") as ws:
        ws.receive_text()
        live.portal.call(hub.beat)  # type: ignore[union-attr]
        beat = ws.receive_text()
    assert beat.startswith('<span id="alarm-strip-beat" hx-swap-oob="true" hidden>')
    assert "live-status" not in beat


def test_a_room_tiles_order_leaves_the_tablets_order_alone(
    live: TestClient, client_for: Clients, session_id: str
) -> None:
    """The tile lists the person with an alarm first; the room's own cards keep their order."""
    theo, lena = client_for("theo"), client_for("lena")
    ada = add_participant(theo, session_id, "Ada")
    bea = add_participant(theo, session_id, "Bea")
    ok(theo.post(part(session_id, bea, "/vitals"), json={"spo2": 88}))
    with live.websocket_connect("/ws/overview", headers=as_cookie(lena)) as ws:
        overview = ws.receive_text()
    tile = overview[overview.index('id="room-cedar-room"') :]
    assert tile.index(f'data-participant="{bea}"') < tile.index(f'data-participant="{ada}"')
    with live.websocket_connect("/ws/rooms/cedar-room") as ws:
        room = ws.receive_text()
    assert room.index(f'id="p-{ada}"') < room.index(f'id="p-{bea}"')


def test_a_tablet_moving_to_the_record_page_stays_present_in_its_room(live: TestClient, session_id: str) -> None:
    presence = live.app.state.presence  # type: ignore[attr-defined]
    services: Any = live.app.state.services  # type: ignore[attr-defined]
    with live.websocket_connect("/ws/rooms/cedar-room?device=tablet-7") as ws:
        ws.receive_text()
        ws.receive_text()
        [link] = presence.for_room("cedar-room", services.clock())
        assert link.device == "tablet-7" and link.online
    # The record page of the same room: the alarm list's socket carries the device's presence.
    with live.websocket_connect("/ws/alarms?room=cedar-room&device=tablet-7") as ws:
        ws.receive_text()
        [link] = presence.for_room("cedar-room", services.clock())
        assert link.online and link.sockets == 1
    # A page of no room keeps no device that was in no room (nothing to list, nothing to remember).
    with live.websocket_connect("/ws/alarms?device=tablet-new") as ws:
        ws.receive_text()
        assert presence.room_of("tablet-new") is None


def test_every_clinicians_page_carries_the_alarm_list(live: TestClient, client_for: Clients, session_id: str) -> None:
    lena, admin = client_for("lena"), client_for("admin")
    pid = add_participant(client_for("theo"), session_id, "Ada")
    pages = ["/rooms", f"/sessions/{session_id}/participants/{pid}", f"/sessions/{session_id}/review", "/reports"]
    for path in pages:
        response = lena.get(path)
        assert response.status_code == 200, (path, response.status_code)
        assert 'ws-connect="/ws/alarms' in response.text, path
    assert 'ws-connect="/ws/alarms?room=cedar-room&amp;except=1"' in lena.get("/rooms/cedar-room").text
    # An admin works in no room: no alarm list.
    assert "/ws/alarms" not in admin.get("/reports").text
