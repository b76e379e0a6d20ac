"""Running it for a clinic: readiness, database outages, the clock after an outage, JSON logs,
several workers, backups, and a package that carries everything it needs."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import io
import json
import logging
import shutil
import sqlite3
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

import app as app_package
from app import cli
from app.live import clock as live_clock
from app.store.db import make_engine
from app.store.migrate import MIGRATIONS, head_revision, upgrade
from app.web import assets
from tests.integration.helpers import (
    API,
    add_participant,
    open_session,
    state,
)

ROOT = Path(__file__).resolve().parents[2]
# Nothing listens on port 1 of the loopback: a PostgreSQL that is down.
DOWN_URL = "postgresql+psycopg://holdspace:x@127.0.0.1:1/holdspace"


# ---------------------------------------------------------------- readiness


def test_healthz_and_readyz_answer_when_the_database_is_at_the_latest_schema(app: Any) -> None:
    client = TestClient(app)
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "schema": head_revision()}


def test_readyz_is_503_with_the_reason_when_the_schema_is_behind(tmp_path: Path) -> None:
    from app.config import Settings
    from app.main import create_app

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0001")
    application = create_app(Settings(database_url=url, secret_key="test-secret-key-0123456789"), run_clock_task=False)
    answer = TestClient(application).get("/readyz")
    assert answer.status_code == 503
    assert answer.headers["retry-after"]
    error = answer.json()["error"]
    assert error["code"] == "unavailable" and "holdspace migrate" in error["message"]
    assert error["details"] == {"schema": "0001", "expected": head_revision()}
    application.state.services.engine.dispose()


def test_readyz_is_503_when_the_database_does_not_answer(app: Any) -> None:
    services = app.state.services
    services.engine = make_engine(DOWN_URL)
    answer = TestClient(app).get("/readyz")
    assert answer.status_code == 503
    error = answer.json()["error"]
    assert error["code"] == "unavailable" and "does not answer" in error["message"]
    assert "OperationalError" in error["details"]["reason"]


# ---------------------------------------------------------------- a database outage


@pytest.mark.parametrize("down", [DOWN_URL, "sqlite:////nonexistent-holdspace-dir/x.db"])
def test_a_write_during_an_outage_is_a_retryable_503_and_the_retry_records_once(
    app: Any, client_for: Callable[[str], TestClient], down: str
) -> None:
    farah = client_for("farah")
    sid = open_session(farah)
    before = state(farah, sid)["seq"]
    services = app.state.services
    working = services.write_engine
    services.write_engine = make_engine(down)
    headers = {"Idempotency-Key": "add-ada-1"}
    body = {"display_name": "Ada", "chart_id": "C-1"}
    answer = farah.post(f"{API}/sessions/{sid}/participants", json=body, headers=headers)
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "2"
    assert answer.json()["error"]["code"] == "unavailable"
    assert "nothing was recorded" in answer.json()["error"]["message"]
    assert state(farah, sid)["seq"] == before

    services.write_engine.dispose()
    services.write_engine = working
    again = farah.post(f"{API}/sessions/{sid}/participants", json=body, headers=headers)
    assert again.status_code == 201, again.text
    repeat = farah.post(f"{API}/sessions/{sid}/participants", json=body, headers=headers)
    assert repeat.json() == again.json()
    assert len(state(farah, sid)["participants"]) == 1


def test_a_page_during_an_outage_is_a_503_page_not_a_500(app: Any, client_for: Callable[[str], TestClient]) -> None:
    farah = client_for("farah")
    app.state.services.engine = make_engine(DOWN_URL)
    answer = farah.get("/rooms", headers={"Accept": "text/html", "X-Requested-With": ""})
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "2"


def test_a_bug_that_is_no_outage_is_still_a_500() -> None:
    from app.web.errors import database_unavailable

    assert database_unavailable(sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection")))
    assert not database_unavailable(sa.exc.IntegrityError("INSERT", {}, Exception("unique")))
    assert not database_unavailable(sa.exc.ProgrammingError("SELECT", {}, Exception("syntax")))


def test_the_clock_retries_within_a_second_after_a_failed_tick() -> None:
    calls: list[float] = []

    class FlakyServices:
        def clock(self) -> Any:
            from datetime import UTC, datetime

            return datetime.now(UTC)

        def tick_due(self) -> list[str]:
            calls.append(time.monotonic())
            if len(calls) <= 2:
                raise sa.exc.OperationalError("SELECT", {}, Exception("the database is restarting"))
            return []

        def next_deadline(self) -> None:
            return None

    async def run_a_while() -> None:
        task = asyncio.create_task(live_clock.run_clock(FlakyServices()))
        for _ in range(40):
            await asyncio.sleep(0.05)
            if len(calls) >= 3:
                break
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    # In a thread of its own: the browser tests' Playwright may own this thread's event loop.
    import threading

    runner = threading.Thread(target=lambda: asyncio.run(run_a_while()))
    runner.start()
    runner.join(timeout=10)
    assert len(calls) >= 3, "the clock did not tick again within 2 s of the database coming back"
    assert calls[2] - calls[1] < 1.0


# ---------------------------------------------------------------- logs


def _access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.fields for r in caplog.records if r.name == "holdspace.access"]  # type: ignore[attr-defined]


def test_one_json_line_per_request_with_route_user_and_request_id_never_patient_data(
    app: Any, client_for: Callable[[str], TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    from app.web.logs import JsonFormatter

    caplog.set_level(logging.INFO, logger="holdspace")
    farah = client_for("farah")
    sid = open_session(farah)
    pid = add_participant(farah, sid, name="Marguerite Quill", chart="CHART-98765")
    answer = farah.get(f"{API}/sessions/{sid}/participants/{pid}", headers={"X-Request-ID": "tablet-7.req-42"})
    assert answer.headers["x-request-id"] == "tablet-7.req-42"
    lines = _access_lines(caplog)
    read = [line for line in lines if line["request_id"] == "tablet-7.req-42"]
    assert len(read) == 1
    assert read[0]["route"] == "/api/v1/sessions/{session_id}/participants/{participant_id}"
    assert read[0]["status"] == 200 and read[0]["user"] == "farah" and read[0]["method"] == "GET"
    assert read[0]["duration_ms"] >= 0
    added = [line for line in lines if line["route"] == "/api/v1/sessions/{session_id}/participants"]
    assert added and added[0]["status"] == 201

    formatter = JsonFormatter()
    text = "\n".join(formatter.format(r) for r in caplog.records)
    for line in text.splitlines():
        assert set(json.loads(line)) >= {"time", "level", "logger"}
    for secret in ("Marguerite", "Quill", "CHART-98765", sid, pid):
        assert secret not in text


def test_one_json_line_per_live_connection_when_it_closes(
    app: Any, client_for: Callable[[str], TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="holdspace")
    farah = client_for("farah")
    with farah.websocket_connect("/ws/rooms/cedar-room?device=tablet-1") as socket:
        socket.receive_text()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and not [x for x in _access_lines(caplog) if x["kind"] == "live"]:
        time.sleep(0.02)
    live = [line for line in _access_lines(caplog) if line["kind"] == "live"]
    assert len(live) == 1
    assert live[0]["route"] == "/ws/rooms/{room_id}" and live[0]["status"] == 101
    assert live[0]["user"] == "farah" and "close_code" in live[0]


# ---------------------------------------------------------------- the command line


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def _run(*argv: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(""))
        capsys.readouterr()
        code = cli.main(list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    return _run


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(cli.common, "serve", lambda target, host, port, **kw: calls.append({"port": port, **kw}))
    monkeypatch.setattr(cli.common, "migrate", lambda url: (None, None))
    monkeypatch.setenv("HOLDSPACE_SECRET_KEY", "test-secret-key-0123456789")
    return calls


def test_several_workers_on_sqlite_are_refused_with_a_clear_message(run, served, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HOLDSPACE_DATABASE_URL", "sqlite:///./somewhere.db")
    code, _, err = run("serve", "--workers", "2")
    assert code == 2 and served == []
    assert "--workers 2 needs PostgreSQL" in err and "Traceback" not in err


def test_several_workers_on_postgresql_start_that_many_processes(run, served, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HOLDSPACE_DATABASE_URL", "postgresql+psycopg://h:p@127.0.0.1/holdspace")
    monkeypatch.setenv("HOLDSPACE_PORT", "8123")
    code, _, err = run("serve", "--workers", "3")
    assert code == 0, err
    assert served == [{"port": 8123, "factory": True, "workers": 3}]


def test_serve_refuses_to_start_naming_a_missing_static_file(run, served, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    static = tmp_path / "static"
    shutil.copytree(assets.STATIC, static)
    (static / "vendor" / "ws.js").unlink()
    monkeypatch.setattr(assets, "STATIC", static)
    monkeypatch.setenv("HOLDSPACE_DATABASE_URL", f"sqlite:///{tmp_path / 'h.db'}")
    code, _, err = run("serve")
    assert code == 2 and served == []
    assert str(static / "vendor" / "ws.js") in err and "make vendor" in err


def test_every_static_file_the_pages_name_is_in_the_package() -> None:
    needed = assets.required_assets()
    assert {"vendor/htmx.min.js", "vendor/ws.js", "app.js", "css/app.css"} <= set(needed)
    assert assets.missing_assets() == []


def test_backup_copies_a_live_database_that_verify_then_checks(  # type: ignore[no-untyped-def]
    run, app: Any, client_for: Callable[[str], TestClient], db_url: str, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("HOLDSPACE_DATABASE_URL", db_url)
    farah = client_for("farah")
    sid = open_session(farah)
    add_participant(farah, sid)
    copy = tmp_path / "backups" / "monday.db"
    copy.parent.mkdir()
    code, out, err = run("backup", str(copy))
    assert code == 0, err
    assert f"verify --database {copy}" in out
    with sqlite3.connect(copy) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert raw.execute("SELECT count(*) FROM event").fetchone()[0] >= 2
    raw.close()
    code, out, err = run("verify", "--database", str(copy))
    assert code == 0 and "every event log is whole" in out

    # A later write goes to the live database, not the copy; a new backup never overwrites.
    add_participant(farah, sid, name="Bo")
    code, _, err = run("backup", str(copy))
    assert code == 2 and "already exists" in err

    with sqlite3.connect(copy) as raw:
        raw.execute("UPDATE event SET data = replace(data, 'Ada', 'Eve')")
    raw.close()
    code, out, _ = run("verify", "--database", str(copy))
    assert code == 1 and f"session {sid}" in out


def test_backup_of_postgresql_points_to_pg_dump_and_verify_needs_an_existing_file(run, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HOLDSPACE_DATABASE_URL", "postgresql+psycopg://h:secret-pw@127.0.0.1/holdspace")
    code, _, err = run("backup", str(tmp_path / "x.db"))
    assert code == 2 and "pg_dump" in err and "secret-pw" not in err
    code, _, err = run("verify", "--database", str(tmp_path / "nothing.db"))
    assert code == 2 and "there is no database file" in err


# ---------------------------------------------------------------- the package carries what it needs


def test_the_wheel_carries_every_migration_template_and_static_file() -> None:
    assert MIGRATIONS.parent == Path(app_package.__file__).resolve().parent
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["app"]
    package = Path(app_package.__file__).resolve().parent
    shipped = {f for p in patterns for f in package.glob(p) if f.is_file()}
    for folder in ("migrations", "templates", "static"):
        files = [f for f in (package / folder).rglob("*") if f.is_file() and "__pycache__" not in f.parts]
        assert files
        for file in files:
            assert file in shipped, f"{file.relative_to(package)} would be left out of the wheel"
    # Every data file beside the code (the demo clinic, as data) travels too.
    for file in package.glob("*"):
        if file.is_file() and file.suffix != ".py":
            assert file in shipped, f"{file.name} would be left out of the wheel"


def test_the_vendored_htmx_files_are_the_ones_the_lock_file_pins() -> None:
    spec = importlib.util.spec_from_file_location("vendor_tool", ROOT / "tools" / "vendor.py")
    assert spec and spec.loader
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.problems() == []
    manifest = json.loads((assets.STATIC / "vendor" / "VENDOR.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    assert manifest["htmx.min.js"]["version"] == lock["node_modules/htmx.org"]["version"]
    digest = hashlib.sha256((assets.STATIC / "vendor" / "ws.js").read_bytes()).hexdigest()
    assert manifest["ws.js"]["sha256"] == digest


# ---------------------------------------------------------------- graceful shutdown


def test_stopping_the_server_tells_open_live_screens_1012_to_reconnect(db_url: str, tmp_path: Path) -> None:
    import os
    import signal
    import socket
    import subprocess
    from base64 import b64encode

    from itsdangerous import TimestampSigner
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    secret = "test-secret-key-0123456789"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "HOLDSPACE_DATABASE_URL": db_url, "HOLDSPACE_SECRET_KEY": secret}
    env.pop("HOLDSPACE_POLICY", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        cookie = TimestampSigner(secret).sign(b64encode(json.dumps({"sign_in": "test-farah"}).encode())).decode()
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        with connect(
            f"ws://127.0.0.1:{port}/ws/rooms/cedar-room?device=t1",
            additional_headers={"Cookie": f"holdspace_session={cookie}"},
            open_timeout=5,
        ) as live:
            live.recv(timeout=5)  # the snapshot
            server.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    live.recv(timeout=5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
        assert server.wait(timeout=15) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once stopped
        log_lines = [json.loads(line) for line in server.stderr.read().decode().splitlines() if line.startswith("{")]
        assert any(line.get("kind") == "live" and line.get("user") == "farah" for line in log_lines)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        server.stderr.close()


def test_compose_runs_migrate_once_before_two_app_processes_with_secrets_from_an_uncommitted_file() -> None:
    import yaml

    text = (ROOT / "compose.yaml").read_text()
    compose = yaml.safe_load(text)
    services = compose["services"]
    assert services["db"]["image"].endswith("postgres:15")
    assert "holdspace-db" in compose["volumes"]
    assert any(v.startswith("holdspace-db:") for v in services["db"]["volumes"])
    assert services["migrate"]["command"] == ["migrate"]
    app_service = services["app"]
    assert app_service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert app_service["command"][:1] == ["serve"] and "--workers" in app_service["command"]
    assert int(app_service["command"][app_service["command"].index("--workers") + 1]) >= 2
    env = app_service["environment"]
    assert env["HOLDSPACE_SECRET_KEY"].startswith("${HOLDSPACE_SECRET_KEY:?")
    assert "${POSTGRES_PASSWORD:?" in env["HOLDSPACE_DATABASE_URL"]
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored
