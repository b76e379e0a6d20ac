"""The holes an audit found (issue: access and abuse), one test each, so none can come back."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.web.errors import MAX_ERROR_FIELDS
from app.web.guards import MAX_BODY_BYTES
from tests.conftest import PASSWORD, Clock
from tests.integration.conftest import JSON
from tests.integration.helpers import (
    API,
    add_participant,
    assert_error,
    fast_client_for,  # noqa: F401 - carries a standing sign-in's cookie instead of signing in
    fast_db_url,  # noqa: F401 - the seeded database, copied per test
    ok,
    open_session,
)

Clients = Callable[[str], TestClient]
STREAM = f"{API}/stream"
TEMPLATES = Path(__file__).parents[2] / "app" / "templates"


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


# ------------------------------------------------------------------ 4. bounded requests


def test_a_body_over_the_limit_is_refused_413_from_its_content_length(farah: TestClient, session_id: str) -> None:
    before = ok(farah.get(f"{API}/sessions/{session_id}"))
    body = b'{"display_name": "' + b"a" * MAX_BODY_BYTES + b'", "chart_id": "C-1"}'
    response = farah.post(
        f"{API}/sessions/{session_id}/participants", content=body, headers={"Content-Type": "application/json"}
    )
    error = assert_error(response, 413, "payload_too_large")
    assert error["details"] == {"limit_bytes": MAX_BODY_BYTES}
    assert ok(farah.get(f"{API}/sessions/{session_id}")) == before


def test_a_streamed_body_is_cut_off_once_it_passes_the_limit(farah: TestClient, session_id: str) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"display_name": "'
        for _ in range(4 * MAX_BODY_BYTES // 4096):
            sent += 4096
            yield b"a" * 4096
        yield b'", "chart_id": "C-1"}'

    before = ok(farah.get(f"{API}/sessions/{session_id}"))
    response = farah.post(
        f"{API}/sessions/{session_id}/participants", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_error(response, 413, "payload_too_large")
    assert ok(farah.get(f"{API}/sessions/{session_id}")) == before


def test_the_login_form_is_bounded_too(app: Any) -> None:
    with TestClient(app) as client:
        response = client.post("/login", data={"username": "farah", "password": "x" * (MAX_BODY_BYTES + 10)})
    assert_error(response, 413, "payload_too_large")


def test_a_body_at_the_limit_is_read(farah: TestClient, session_id: str) -> None:
    padding = MAX_BODY_BYTES - len(b'{"display_name": "Ada", "chart_id": "C-1"}') - 2
    body = b'{"display_name": "Ada", "chart_id": "C-1"' + b" " * padding + b"}"
    assert len(body) < MAX_BODY_BYTES
    ok(
        farah.post(
            f"{API}/sessions/{session_id}/participants", content=body, headers={"Content-Type": "application/json"}
        ),
        201,
    )


def test_unknown_fields_are_refused_with_a_bounded_answer(farah: TestClient, session_id: str) -> None:
    junk = {f"k{i}": i for i in range(5000)}
    response = farah.post(
        f"{API}/sessions/{session_id}/participants", json={"display_name": "A", "chart_id": "C", **junk}
    )
    error = assert_error(response, 422, "validation_error")
    assert len(error["details"]["fields"]) == MAX_ERROR_FIELDS
    assert error["details"]["more_fields"] == 5000 - MAX_ERROR_FIELDS
    assert len(response.content) < 4096


def test_a_wrong_method_answers_405_with_allow(farah: TestClient) -> None:
    response = farah.delete(f"{API}/rooms")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET"


# ------------------------------------------------------------------ 6. headers


def test_pages_and_api_answers_carry_the_security_headers(app: Any, farah: TestClient, session_id: str) -> None:
    for response in (
        farah.get(f"{API}/sessions/{session_id}"),
        farah.get("/rooms/cedar-room"),
        TestClient(app).get("/login"),
        farah.get(f"{API}/sessions/nope"),
    ):
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["cache-control"] == "no-store"
        assert "strict-transport-security" not in response.headers
    static = farah.get("/static/app.js")
    assert static.status_code == 200 and "no-store" not in static.headers.get("cache-control", "")


def test_pages_have_no_inline_script() -> None:
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag, f"{template.name}: inline script {tag}"
        assert not re.search(r"\son[a-z]+\s*=", text), f"{template.name}: inline event handler"
        assert "hx-on" not in text and "js:" not in text, template.name


def test_over_https_the_cookie_is_secure_and_hsts_is_sent(settings: Settings, clock: Clock) -> None:
    secure = Settings(database_url=settings.database_url, secret_key=settings.secret_key, secure_cookies=True)
    app = create_app(secure, clock=clock, run_clock_task=False)
    with TestClient(app, base_url="https://testserver", headers=JSON) as client:
        response = client.post(f"{API}/auth/login", json={"username": "farah", "password": PASSWORD})
        assert response.status_code == 200
        assert "secure" in [a.strip().lower() for a in response.headers["set-cookie"].split(";")]
        assert response.headers["strict-transport-security"].startswith("max-age=")
        assert ok(client.get(f"{API}/me"))["username"] == "farah"


def test_secure_cookies_are_on_by_default_outside_the_demo() -> None:
    assert Settings(secret_key="x" * 32).https is True
    assert Settings(secret_key="x" * 32, demo=True).https is False
    assert Settings(secret_key="x" * 32, secure_cookies=False).https is False
