"""The production store: the same service and API behaviour on PostgreSQL as on SQLite —
optimistic appends from concurrent tablets, the hash chain, idempotency, one live session per
room, and an escalation clock that survives a restart. Runs when HOLDSPACE_TEST_POSTGRES_URL names
a server where a database may be created (CI starts one with .ci/postgres.sh)."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.store.db import make_engine, unit_of_work
from app.store.events import read_records, verify_chain
from tests.conftest import PASSWORD, Clock
from tests.integration.conftest import login

SERVER_URL = os.environ.get("HOLDSPACE_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not SERVER_URL, reason="set HOLDSPACE_TEST_POSTGRES_URL (see .ci/postgres.sh)")


def _app(url: str, clock: Clock) -> Any:
    return create_app(
        Settings(database_url=url, secret_key="postgres-test-secret-0123456789", secure_cookies=False),
        clock=clock,
        run_clock_task=False,
    )


def _dispose(app: Any) -> None:
    app.state.services.engine.dispose()
    app.state.services.write_engine.dispose()


def test_concurrent_tablets_idempotency_and_the_hash_chain_on_postgresql(pg_url: str, clock: Clock) -> None:
    app = _app(pg_url, clock)
    try:
        farah, theo = login(app, "farah"), login(app, "theo")
        sid = farah.post(
            "/api/v1/sessions",
            json={"room_id": "cedar-room", "kind": "group", "facilitators": ["farah"], "lead": "lena"},
        ).json()["id"]
        second = theo.post(
            "/api/v1/sessions",
            json={"room_id": "cedar-room", "kind": "group", "facilitators": ["theo"], "lead": "lena"},
        )
        assert second.status_code == 409 and second.json()["error"]["code"] == "room_busy"
        pid = farah.post(
            f"/api/v1/sessions/{sid}/participants", json={"display_name": "Ada", "chart_id": "C-1"}
        ).json()["id"]
        path = f"/api/v1/sessions/{sid}/participants/{pid}/vitals"

        def record(i: int) -> int:
            client = farah if i % 2 else theo
            return client.post(path, json={"hr": 60 + i}).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert set(pool.map(record, range(16))) == {200}

        first = farah.post(path, json={"hr": 99}, headers={"Idempotency-Key": "tap-1"})
        again = farah.post(path, json={"hr": 99}, headers={"Idempotency-Key": "tap-1"})
        assert again.json() == first.json() and again.headers.get("idempotent-replay") == "true"

        engine = make_engine(pg_url)
        with unit_of_work(engine) as db:
            records = read_records(db, sid)
        engine.dispose()
        assert [r.seq for r in records] == list(range(1, len(records) + 1))
        assert sum(r.kind == "vitals_recorded" for r in records) == 17
        assert verify_chain(records) is None
        farah.close()
        theo.close()
    finally:
        _dispose(app)


def test_an_escalation_climbs_on_time_after_a_restart_on_postgresql(pg_url: str, clock: Clock) -> None:
    app = _app(pg_url, clock)
    try:
        farah = login(app, "farah")
        sid = farah.post(
            "/api/v1/sessions",
            json={"room_id": "cedar-room", "kind": "group", "facilitators": ["farah"], "lead": "lena"},
        ).json()["id"]
        pid = farah.post(
            f"/api/v1/sessions/{sid}/participants", json={"display_name": "Ada", "chart_id": "C-1"}
        ).json()["id"]
        farah.post(f"/api/v1/sessions/{sid}/participants/{pid}/observations", json={"distress": 3}).raise_for_status()
        farah.close()
    finally:
        _dispose(app)

    clock.advance(seconds=61)
    restarted = _app(pg_url, clock)
    try:
        assert restarted.state.services.tick_due() == [sid]
        lena: TestClient = login(restarted, "lena")
        [escalation] = lena.get("/api/v1/escalations").json()
        assert (escalation["priority"], escalation["step"]) == ("medium", 3)
        lena.close()
    finally:
        _dispose(restarted)


def test_a_change_made_through_one_app_process_reaches_a_screen_on_another(pg_url: str, clock: Clock) -> None:
    """Two app processes on one database (two apps here): the room socket on the first hears,
    through LISTEN/NOTIFY, of a change committed through the second."""
    first, second = _app(pg_url, clock), _app(pg_url, clock)
    try:
        with (
            TestClient(first, headers={"X-Requested-With": "holdspace"}) as a,
            TestClient(second, headers={"X-Requested-With": "holdspace"}) as b,
        ):
            for client in (a, b):
                client.post("/api/v1/auth/login", json={"username": "farah", "password": PASSWORD}).raise_for_status()
            assert first.state.listener.connected.wait(5)
            sid = b.post(
                "/api/v1/sessions",
                json={"room_id": "cedar-room", "kind": "group", "facilitators": ["farah"], "lead": "lena"},
            ).json()["id"]
            with (
                a.websocket_connect("/ws/rooms/cedar-room") as socket,
                a.websocket_connect("/ws/rooms/cedar-room") as other,
                a.websocket_connect("/api/v1/stream?room=cedar-room") as stream,
            ):
                assert "Rowan A." not in socket.receive_text()
                assert "Rowan A." not in other.receive_text()
                assert stream.receive_text().startswith('{"type": "snapshot"')
                feed = first.state.hub.feeds["cedar-room"]
                renders = feed.renders
                b.post(f"/api/v1/sessions/{sid}/participants", json={"display_name": "Rowan A.", "chart_id": "C-9"})
                # The heartbeat would come after 10 s; the hint arrives well before.
                started = time.monotonic()
                while "Rowan A." not in (pushed := socket.receive_text()):
                    pass
                assert time.monotonic() - started < 5
                while "Rowan A." not in (same := other.receive_text()):
                    pass
                assert same == pushed  # read and rendered once in this process, the same bytes to both
                assert feed.renders == renders + 1
                while '"participant_added"' not in (event := stream.receive_text()):
                    pass
                assert "Rowan A." in event
    finally:
        _dispose(first)
        _dispose(second)


def test_a_local_commit_reaches_the_stream_without_a_read_though_its_notify_comes_back(
    pg_url: str, clock: Clock
) -> None:
    """On PostgreSQL a commit's NOTIFY reaches every process, its own too, and may come before
    the process's own hint (which carries the events). Its own NOTIFY is skipped, so the JSON
    stream is sent the events with no read; a commit made through another process is read, once."""
    first, second = _app(pg_url, clock), _app(pg_url, clock)
    try:
        with (
            TestClient(first, headers={"X-Requested-With": "holdspace"}) as a,
            TestClient(second, headers={"X-Requested-With": "holdspace"}) as b,
        ):
            for client in (a, b):
                client.post("/api/v1/auth/login", json={"username": "farah", "password": PASSWORD}).raise_for_status()
            assert first.state.listener.connected.wait(5)
            body = {"room_id": "cedar-room", "kind": "group", "facilitators": ["farah"], "lead": "lena"}
            sid = a.post("/api/v1/sessions", json=body).json()["id"]
            with a.websocket_connect("/api/v1/stream?room=cedar-room") as stream:
                assert stream.receive_text().startswith('{"type": "snapshot"')
                feed = first.state.hub.feeds["cedar-room"]
                reads = feed.reads
                participant = {"display_name": "Rowan A.", "chart_id": "C-9"}
                a.post(f"/api/v1/sessions/{sid}/participants", json=participant).raise_for_status()
                assert '"participant_added"' in stream.receive_text()
                time.sleep(1.0)  # the NOTIFY of that commit has come back by now
                assert feed.reads == reads
                other = {"display_name": "Sol B.", "chart_id": "C-10"}
                b.post(f"/api/v1/sessions/{sid}/participants", json=other).raise_for_status()
                message = stream.receive_text()
                assert '"participant_added"' in message and "Sol B." in message
                assert feed.reads == reads + 1
    finally:
        _dispose(first)
        _dispose(second)
