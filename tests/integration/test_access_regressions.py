"""The holes an audit found (issue: access and abuse), one test each, so none can come back."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app.config import Settings
from app.live import feeds
from app.live.presence import Presence
from app.main import create_app
from app.web import sockets as sockets_module
from app.web.errors import MAX_ERROR_FIELDS
from app.web.guards import MAX_BODY_BYTES
from tests.conftest import PASSWORD, Clock
from tests.integration.conftest import JSON, login
from tests.integration.helpers import (
    API,
    SESSION_COOKIE,
    add_participant,
    assert_error,
    ok,
    open_session,
    signed_cookie,
)

Clients = Callable[[str], TestClient]
STREAM = f"{API}/stream"
MAX_MESSAGES = 6
TEMPLATES = Path(__file__).parents[2] / "app" / "templates"


@pytest.fixture
def live(client_for: Clients) -> Iterator[TestClient]:
    client = client_for("farah")
    with client:
        yield client


# ------------------------------------------------------------------ 1. no cross-room read through the stream


@pytest.mark.parametrize("who", ["farah", "lena", "dr.ade", "admin"])
def test_after_seq_naming_another_rooms_session_never_sends_its_events(
    client_for: Clients, session_id: str, who: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stream follows only the feeds of rooms the user works in: willow's changes never wake
    # it, and what arrives is the heartbeat (quickened here).
    monkeypatch.setattr(feeds, "HEARTBEAT_SECONDS", 0.2)
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
    fields = error["details"]["fields"]
    assert len(fields) == MAX_ERROR_FIELDS
    assert [f["field"] for f in fields] == [f"k{i}" for i in range(MAX_ERROR_FIELDS)]
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


# ------------------------------------------------------------------ 3. sockets end with the sign-in


def closed_with(ws: Any) -> int:
    """Read until the server closes the socket (a bounded number of messages); its close code."""
    for _ in range(MAX_MESSAGES):
        try:
            ws.receive_text()
        except WebSocketDisconnect as closed:
            return closed.code
    raise AssertionError("the socket stayed open")


def use_cookie(client: TestClient, cookie: str) -> None:
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, cookie)


@pytest.mark.parametrize("path", ["/ws/rooms/cedar-room", "/ws/overview", STREAM])
def test_signing_out_closes_every_socket_of_that_sign_in_with_4401(app: Any, session_id: str, path: str) -> None:
    # Sockets are opened through one client (one event loop), swapping its cookie.
    other = login(app, "lena").cookies[SESSION_COOKIE]  # another sign-in of the same person
    tablet = login(app, "lena")
    own = tablet.cookies[SESSION_COOKIE]
    with tablet:
        with tablet.websocket_connect(path) as first, tablet.websocket_connect(path) as copied:
            use_cookie(tablet, other)
            with tablet.websocket_connect(path) as untouched:
                for ws in (first, copied, untouched):
                    ws.receive_text()
                use_cookie(tablet, own)
                started = time.monotonic()
                ok(tablet.post(f"{API}/auth/logout"))
                assert closed_with(first) == 4401
                assert closed_with(copied) == 4401
                assert time.monotonic() - started < 3
                use_cookie(tablet, other)
                body = {"display_name": "Ada", "chart_id": "C"}
                ok(tablet.post(f"{API}/sessions/{session_id}/participants", json=body), 201)
                assert untouched.receive_text()
    tablet.close()


def test_a_sign_in_revoked_elsewhere_or_run_out_closes_its_sockets_within_seconds(
    app: Any, live: TestClient, monkeypatch: pytest.MonkeyPatch, session_id: str
) -> None:
    monkeypatch.setattr(sockets_module, "HEARTBEAT_SECONDS", 0.2)
    monkeypatch.setattr(sockets_module, "SIGN_IN_CHECK_SECONDS", 0.1)
    with live.websocket_connect("/ws/rooms/cedar-room") as ws:
        ws.receive_text()
        # Revoked in the database only (as another app process would), with no hint to this one.
        engine = app.state.services.write_engine
        with engine.begin() as db:
            db.execute(sa.text("UPDATE sign_in SET revoked_at = CURRENT_TIMESTAMP WHERE id = 'test-farah'"))
        started = time.monotonic()
        assert closed_with(ws) == 4401
        assert time.monotonic() - started < 3


def test_the_page_says_it_is_signed_out(app: Any) -> None:
    page = TestClient(app).get("/login?signed_out=1&next=/rooms/cedar-room")
    assert page.status_code == 200 and 'id="signed-out"' in page.text
    assert 'id="signed-out"' not in TestClient(app).get("/login").text


# ------------------------------------------------------------------ 4. sockets are bounded


def test_sockets_are_bounded_per_sign_in_and_per_user(app: Any, client_for: Clients) -> None:
    app.state.socket_counts = sockets_module.SocketCounts(per_sign_in=2, per_user=3)
    second = login(app, "lena").cookies[SESSION_COOKIE]
    client = client_for("lena")
    first = client.cookies[SESSION_COOKIE]
    with client, client.websocket_connect("/ws/overview") as a, client.websocket_connect("/ws/overview") as b:
        a.receive_text(), b.receive_text()
        assert refused_handshake(client, "/ws/overview") == 4429
        use_cookie(client, second)
        with client.websocket_connect("/ws/overview") as c:
            c.receive_text()
            # The user's third socket is the last one, whichever sign-in asks.
            assert refused_handshake(client, "/ws/overview") == 4429
        # A closed socket frees its place.
        with client.websocket_connect("/ws/overview") as d:
            assert d.receive_text()
        # Another user is not counted against lena.
        use_cookie(client, signed_cookie(app, "lou"))
        with client.websocket_connect("/ws/overview") as e:
            assert e.receive_text()
    use_cookie(client, first)


def refused_handshake(client: TestClient, path: str) -> int:
    with pytest.raises(WebSocketDisconnect) as closed:
        with client.websocket_connect(path) as ws:
            ws.receive_text()
    return closed.value.code


# ------------------------------------------------------------------ 2. presence only after admission


def tablets(app: Any, room_id: str) -> list[str]:
    presence = app.state.presence
    return [link.device for link in presence.for_room(room_id, app.state.services.clock())]


@pytest.mark.parametrize("who", ["farah", "lena", "admin", "dr.ade"])
def test_a_socket_refused_by_a_room_records_no_tablet(app: Any, client_for: Clients, who: str) -> None:
    client = client_for(who)
    with client:
        assert refused_handshake(client, "/ws/rooms/willow-room?device=tablet-junk0001") == 4404
    assert tablets(app, "willow-room") == []


@pytest.mark.parametrize("device", ["<b>junk</b>", "a" * 41, "tablet 1", "-x", ""])
def test_device_names_outside_the_pattern_are_not_recorded(app: Any, live: TestClient, device: str) -> None:
    with live.websocket_connect(f"/ws/rooms/cedar-room?device={quote(device)}") as ws:
        ws.receive_text()
        assert tablets(app, "cedar-room") == []


def test_an_admitted_tablet_is_listed_and_forgotten_after_the_policy_time(
    app: Any, live: TestClient, clock: Clock
) -> None:
    with live.websocket_connect("/ws/rooms/cedar-room?device=tablet-1a2b3c4d") as ws:
        ws.receive_text()
        assert tablets(app, "cedar-room") == ["tablet-1a2b3c4d"]
    assert tablets(app, "cedar-room") == ["tablet-1a2b3c4d"]  # offline, still shown to the lead
    forget = app.state.settings.clinic_policy.offline_tablet_forget_minutes
    assert app.state.presence.forget_after.total_seconds() == forget * 60
    clock.advance(minutes=forget - 1)
    assert tablets(app, "cedar-room") == ["tablet-1a2b3c4d"]
    clock.advance(minutes=2)
    assert tablets(app, "cedar-room") == []


def test_a_room_remembers_a_bounded_number_of_tablets(clock: Clock) -> None:
    presence = Presence(max_per_room=3)
    for i in range(3):
        assert presence.connected(f"tablet-{i}", "cedar-room", "farah", clock())
    assert not presence.connected("tablet-new", "cedar-room", "farah", clock())
    clock.advance(seconds=1)
    presence.disconnected("tablet-1", clock())
    # The oldest offline tablet makes room; online ones are never dropped.
    assert presence.connected("tablet-new", "cedar-room", "farah", clock())
    assert [link.device for link in presence.for_room("cedar-room", clock())] == ["tablet-0", "tablet-2", "tablet-new"]
    assert presence.connected("tablet-x", "willow-room", "mika", clock())


# ------------------------------------------------------------------ 7. the API says what it does


def test_the_openapi_document_lists_the_error_answers_of_every_route(farah: TestClient) -> None:
    document = ok(farah.get("/openapi.json"))
    error = {"$ref": "#/components/schemas/Error"}
    assert "HTTPValidationError" not in json.dumps(document)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            if path not in (f"{API}/auth/login", f"{API}/auth/logout"):
                assert "401" in codes, (method, path)
            if method in ("post", "put", "delete"):
                assert {"403", "413"} <= codes, (method, path)
            if operation.get("parameters") or "requestBody" in operation:
                assert "422" in codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)
            for code in codes - {"200", "201"}:
                assert operation["responses"][code]["content"]["application/json"]["schema"] == error
    login = document["paths"][f"{API}/auth/login"]["post"]["responses"]
    assert "Retry-After" in login["429"]["headers"]


def test_an_unparseable_body_is_malformed_input_not_a_bad_request(farah: TestClient, session_id: str) -> None:
    response = farah.post(
        f"{API}/sessions/{session_id}/participants", content=b"\xff\xfe{", headers={"Content-Type": "application/json"}
    )
    assert_error(response, 422, "validation_error")


def test_a_whole_number_written_with_a_point_is_a_whole_number(farah: TestClient, session_id: str) -> None:
    pid = add_participant(farah, session_id, "Ada")
    answer = ok(farah.post(f"{API}/sessions/{session_id}/participants/{pid}/vitals", json={"hr": 72.0}))
    assert answer["last_vitals"]["hr"]["value"] == 72
    for bad in (72.5, "72", True):
        assert_error(
            farah.post(f"{API}/sessions/{session_id}/participants/{pid}/vitals", json={"hr": bad}),
            422,
            "validation_error",
        )
