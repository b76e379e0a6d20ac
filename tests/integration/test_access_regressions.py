"""The holes an audit found (issue: access and abuse), one test each, so none can come back."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.helpers import (
    API,
    add_participant,
    fast_client_for,  # noqa: F401 - carries a standing sign-in's cookie instead of signing in
    fast_db_url,  # noqa: F401 - the seeded database, copied per test
    ok,
    open_session,
)

Clients = Callable[[str], TestClient]
STREAM = f"{API}/stream"


@pytest.fixture
def live(client_for: Clients) -> Iterator[TestClient]:
    client = client_for("farah")
    with client:
        yield client


# ------------------------------------------------------------------ 1. no cross-room read through the stream


@pytest.mark.parametrize("who", ["farah", "lena", "dr.ade", "admin"])
def test_after_seq_naming_another_rooms_session_never_sends_its_events(
    client_for: Clients, session_id: str, who: str
) -> None:
    mika = client_for("mika")
    willow = open_session(mika, room="willow-room", facilitators=["mika"], lead="lou")
    add_participant(mika, willow, "Secret", chart="CHART-WILLOW")
    watcher = client_for(who)
    with watcher:
        with watcher.websocket_connect(f"{STREAM}?after_seq={willow}:0") as ws:
            received = [json.loads(ws.receive_text())]
            assert received[0]["type"] == "snapshot"
            assert willow not in received[0]["seq"]
            # Every later wake-up (here: willow's own change) used to send willow's whole log.
            add_participant(mika, willow, "Other", chart="CHART-WILLOW-2")
            received.append(json.loads(ws.receive_text()))
            add_participant(mika, willow, "Third", chart="CHART-WILLOW-3")
            received.append(json.loads(ws.receive_text()))
    text = json.dumps(received)
    assert willow not in text and "Secret" not in text and "CHART-WILLOW" not in text, text
    assert [m["type"] for m in received[1:]] == ["heartbeat", "heartbeat"]


def test_after_seq_still_replays_the_users_own_session(live: TestClient, client_for: Clients, session_id: str) -> None:
    theo = client_for("theo")
    add_participant(theo, session_id, "Ada")
    with live.websocket_connect(f"{STREAM}?after_seq={session_id}:0,{'x' * 5000}:1") as ws:
        snapshot = json.loads(ws.receive_text())
        replayed = [json.loads(ws.receive_text()) for _ in range(snapshot["seq"][session_id])]
    assert [m["seq"] for m in replayed] == list(range(1, snapshot["seq"][session_id] + 1))
    assert all(m["session_id"] == session_id for m in replayed)
    assert ok(theo.get(f"{API}/sessions/{session_id}"))["seq"] == snapshot["seq"][session_id]
