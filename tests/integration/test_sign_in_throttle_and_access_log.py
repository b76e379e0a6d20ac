"""Sign-in that resists guessing, and the access log (issue: access and abuse, item 5)."""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from limits import RateLimitItemPerMinute

from app import cli
from app.web import throttle as throttle_module
from tests.conftest import PASSWORD
from tests.integration.conftest import JSON
from tests.integration.helpers import (
    API,
    add_participant,
    assert_error,
    ok,
    part,
    sess,
)

Clients = Callable[[str], TestClient]
LOGIN = f"{API}/auth/login"
PER_USERNAME, PER_CLIENT = throttle_module.PER_USERNAME, throttle_module.PER_CLIENT


@pytest.fixture(autouse=True)
def quick(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Failures are answered after a growing delay, which most tests here need not wait for; and
    smaller limits than the clinic's keep the number of (deliberately slow) password checks low."""
    app.state.login_throttle.base_delay = 0.0
    monkeypatch.setattr(throttle_module, "PER_USERNAME", RateLimitItemPerMinute(4, 15))
    monkeypatch.setattr(throttle_module, "PER_CLIENT", RateLimitItemPerMinute(7, 15))


def test_the_clinics_limits_are_ten_per_username_and_thirty_per_address() -> None:
    assert (PER_USERNAME.amount, PER_USERNAME.get_expiry()) == (10, 15 * 60)
    assert (PER_CLIENT.amount, PER_CLIENT.get_expiry()) == (30, 15 * 60)


def attempt(client: TestClient, username: str, password: str) -> Any:
    return client.post(LOGIN, json={"username": username, "password": password})


def access_log(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    return ok(client.get(f"{API}/access-log", params=params))


# ------------------------------------------------------------------ throttling


def test_wrong_passwords_for_one_username_are_throttled_with_retry_after(app: Any) -> None:
    client = TestClient(app, headers=JSON)
    limit = throttle_module.PER_USERNAME.amount
    for _ in range(limit):
        assert_error(attempt(client, "farah", "wrong password"), 401, "unauthorized")
    response = attempt(client, "farah", PASSWORD)  # even the right password waits now
    error = assert_error(response, 429, "too_many_attempts")
    retry_after = int(response.headers["retry-after"])
    assert 0 < retry_after <= 15 * 60
    assert error["details"] == {"retry_after": retry_after}
    # Another username from the same address is not locked out by farah's failures.
    assert ok(attempt(TestClient(app, headers=JSON), "theo", PASSWORD))["username"] == "theo"


def test_one_address_guessing_many_usernames_is_throttled(app: Any) -> None:
    client = TestClient(app, headers=JSON)
    limit = throttle_module.PER_CLIENT.amount
    for i in range(limit):
        assert_error(attempt(client, f"user{i}", "wrong password"), 401, "unauthorized")
    response = attempt(client, "theo", PASSWORD)
    assert_error(response, 429, "too_many_attempts")
    assert int(response.headers["retry-after"]) > 0


def test_a_right_password_clears_the_run_of_failures(app: Any) -> None:
    client = TestClient(app, headers=JSON)
    limit = throttle_module.PER_USERNAME.amount
    for _ in range(limit - 1):
        assert_error(attempt(client, "farah", "wrong password"), 401, "unauthorized")
    assert ok(attempt(client, "farah", PASSWORD))["username"] == "farah"
    for _ in range(limit - 1):
        assert_error(attempt(client, "farah", "wrong password"), 401, "unauthorized")
    assert ok(attempt(client, "farah", PASSWORD))["username"] == "farah"


def test_repeated_failures_are_answered_more_and_more_slowly(app: Any) -> None:
    app.state.login_throttle.base_delay = 0.1
    client = TestClient(app, headers=JSON)
    took = []
    for _ in range(3):
        started = time.monotonic()
        assert_error(attempt(client, "farah", "wrong password"), 401, "unauthorized")
        took.append(time.monotonic() - started)
    assert took[0] >= 0.1 and took[1] >= 0.2 and took[2] >= 0.4, took
    throttle = app.state.login_throttle
    assert [throttle.failed("theo", "x") for _ in range(4)] == [0.1, 0.2, 0.4, 0.8]
    slow = throttle_module.LoginThrottle(base_delay=1.5)
    assert [slow.failed("theo", "x") for _ in range(3)] == [1.5, 2.0, 2.0]  # at most MAX_DELAY_SECONDS


def test_the_login_page_is_throttled_too(app: Any) -> None:
    import re

    client = TestClient(app)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    form = {"username": "farah", "password": "wrong password", "csrf_token": token.group(1)}
    for _ in range(throttle_module.PER_USERNAME.amount):
        assert client.post("/login", data=form, follow_redirects=False).status_code == 401
    response = client.post("/login", data={**form, "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    assert "Too many failed sign-ins" in response.text


# ------------------------------------------------------------------ the access log


def test_sign_ins_failed_throttled_and_ok_are_in_the_access_log(app: Any, client_for: Clients) -> None:
    client = TestClient(app, headers=JSON)
    assert_error(attempt(client, "Farah", "wrong password"), 401, "unauthorized")
    assert ok(attempt(client, "farah", PASSWORD))["username"] == "farah"
    for _ in range(throttle_module.PER_USERNAME.amount + 3):
        attempt(client, "theo", "wrong password")
    log = access_log(client_for("admin"))
    sign_ins = [(e["username"], e["outcome"]) for e in log if e["action"] == "sign_in"]
    assert sign_ins[:2] == [("farah", "failed"), ("farah", "ok")]
    theo = [outcome for name, outcome in sign_ins if name == "theo"]
    # Throttled attempts are recorded once a minute per username and address, not once each.
    assert theo == ["failed"] * throttle_module.PER_USERNAME.amount + ["throttled"]
    assert all(e["client"] == "testclient" for e in log)
    ok(client.post(f"{API}/auth/logout"))  # farah's sign-in ends
    assert [(e["username"], e["action"]) for e in access_log(client_for("admin"))][-1] == ("farah", "sign_out")
    assert "wrong password" not in str(log) and PASSWORD not in str(log)


def test_chart_views_and_exports_are_in_the_access_log(client_for: Clients, session_id: str) -> None:
    farah, lena, admin = client_for("farah"), client_for("lena"), client_for("admin")
    pid = add_participant(farah, session_id, "Ada")
    other = add_participant(farah, session_id, "Bo")
    assert farah.get(f"/sessions/{session_id}/participants/{pid}").status_code == 200
    ok(lena.get(part(session_id, pid)))
    assert lena.get(part(session_id, pid, "/export.pdf")).status_code == 200
    assert lena.get(part(session_id, other, "/export.csv")).status_code == 200
    assert lena.get(sess(session_id, "/export.zip")).status_code == 200
    # A refused read is not a view.
    assert_error(client_for("mika").get(part(session_id, pid)), 404, "not_found")
    seen = [
        (e["username"], e["action"], e["detail"])
        for e in access_log(admin, participant=pid)
        if e["action"].startswith("chart")
    ]
    assert seen == [
        ("farah", "chart_view", "page"),
        ("lena", "chart_view", "api"),
        ("lena", "chart_export", "pdf"),
        ("lena", "chart_export", "zip"),
    ]
    assert [e["action"] for e in access_log(admin, participant=other)] == ["chart_export", "chart_export"]
    assert {e["session_id"] for e in access_log(admin, participant=pid)} == {session_id}
    assert access_log(admin, user="mika") == []


def test_only_admins_read_the_access_log(client_for: Clients) -> None:
    for name in ("farah", "lena", "dr.ade"):
        assert_error(client_for(name).get(f"{API}/access-log"), 403, "forbidden")
    admin = client_for("admin")
    assert_error(admin.get(f"{API}/access-log", params={"since": "2026-01-01T00:00:00"}), 422, "validation_error")
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert access_log(admin, since=future) == []


def test_holdspace_audit_prints_the_access_log(
    app: Any, client_for: Clients, session_id: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client = TestClient(app, headers=JSON)
    assert_error(attempt(client, "theo", "wrong password"), 401, "unauthorized")
    farah = client_for("farah")
    pid = add_participant(farah, session_id, "Ada")
    assert farah.get(part(session_id, pid, "/export.json")).status_code == 200
    monkeypatch.setenv("HOLDSPACE_DATABASE_URL", app.state.settings.database_url)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))

    def audit(*argv: str) -> list[list[str]]:
        capsys.readouterr()
        assert cli.main(["audit", *argv]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        assert lines[0].split("\t")[:4] == ["at", "username", "action", "outcome"]
        return [line.split("\t") for line in lines[1:]]

    everything = audit()
    assert [(r[1], r[2], r[3]) for r in everything] == [
        ("theo", "sign_in", "failed"),
        ("farah", "chart_export", "ok"),
    ]
    assert audit("--user", "farah") == everything[1:]
    [row] = audit("--participant", pid)
    assert row[5:8] == [session_id, pid, "json"]
    assert audit("--since", (datetime.now(UTC) + timedelta(hours=1)).isoformat()) == []
    capsys.readouterr()
    assert cli.main(["audit", "--since", "yesterday"]) == 2
    assert "ISO 8601" in capsys.readouterr().err
