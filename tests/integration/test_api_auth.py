"""Auth through the app: sign-in, the session cookie, CSRF protection, who sees which room, sign-out."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocketDisconnect

from tests.conftest import PASSWORD
from tests.integration.conftest import JSON, login
from tests.integration.helpers import (
    API,
    NORMAL_VITALS,
    SESSION_COOKIE,
    add_participant,
    assert_error,
    events,
    ok,
    part,
    sess,
    state,
    walk_routes,
)

Clients = Callable[[str], TestClient]
PUBLIC = {f"{API}/auth/login", f"{API}/auth/logout"}


def set_cookies(response: Any) -> list[str]:
    return [h for h in response.headers.get_list("set-cookie") if h.startswith("holdspace_session=")]


def willow_session(client_for: Clients) -> str:
    mika = client_for("mika")
    return ok(
        mika.post(
            f"{API}/sessions",
            json={"room_id": "willow-room", "kind": "individual", "facilitators": ["mika"], "lead": "lou"},
        ),
        201,
    )["id"]


# ------------------------------------------------------------------ sign-in and the cookie


def test_login_answers_the_user_and_sets_an_httponly_samesite_strict_cookie(app: Any) -> None:
    with TestClient(app, headers=JSON) as client:
        response = client.post(f"{API}/auth/login", json={"username": "farah", "password": PASSWORD})
        assert ok(response) == {"username": "farah", "role": "facilitator"}
        cookies = set_cookies(response)
        assert len(cookies) == 1
        attributes = [a.strip().lower() for a in cookies[0].split(";")[1:]]
        assert "httponly" in attributes
        assert "samesite=strict" in attributes
        assert "path=/" in attributes
        assert ok(client.get(f"{API}/me")) == {"username": "farah", "role": "facilitator"}


def test_login_is_case_insensitive_on_the_username(app: Any) -> None:
    client = TestClient(app, headers=JSON)
    response = client.post(f"{API}/auth/login", json={"username": "  Dr.Ade ", "password": PASSWORD})
    assert ok(response) == {"username": "dr.ade", "role": "prescriber"}


@pytest.mark.parametrize(
    "username, password",
    [("farah", "wrong password"), ("nobody", PASSWORD), ("farah", PASSWORD.upper())],
)
def test_bad_credentials_get_401_in_the_error_shape_and_no_session(app: Any, username: str, password: str) -> None:
    client = TestClient(app, headers=JSON)
    response = client.post(f"{API}/auth/login", json={"username": username, "password": password})
    error = assert_error(response, 401, "unauthorized")
    assert error["details"] == {}
    assert set_cookies(response) == []
    assert_error(client.get(f"{API}/me"), 401, "unauthorized")


def test_a_malformed_login_is_a_validation_error_not_a_sign_in(app: Any) -> None:
    client = TestClient(app, headers=JSON)
    assert_error(client.post(f"{API}/auth/login", json={"username": "farah"}), 422, "validation_error")
    assert_error(
        client.post(f"{API}/auth/login", json={"username": "farah", "password": PASSWORD, "role": "admin"}),
        422,
        "validation_error",
    )
    assert_error(client.get(f"{API}/me"), 401, "unauthorized")


def test_a_new_sign_in_replaces_the_previous_session(client_for: Clients) -> None:
    client = client_for("farah")
    assert ok(client.get(f"{API}/me"))["username"] == "farah"
    assert ok(client.post(f"{API}/auth/login", json={"username": "theo", "password": PASSWORD}))["username"] == "theo"
    assert ok(client.get(f"{API}/me"))["username"] == "theo"
    # A failed attempt does not sign the current user out, nor in as someone else.
    assert_error(
        client.post(f"{API}/auth/login", json={"username": "lena", "password": "nope-nope"}), 401, "unauthorized"
    )
    assert ok(client.get(f"{API}/me"))["username"] == "theo"


def test_logout_ends_the_session(app: Any) -> None:
    client = login(app, "farah")
    response = client.post(f"{API}/auth/logout")
    assert ok(response) == {"signed_out": True}
    assert_error(client.get(f"{API}/me"), 401, "unauthorized")
    assert_error(client.get(f"{API}/rooms"), 401, "unauthorized")


# ------------------------------------------------------------------ every route needs the cookie


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


def api_routes(app: Any) -> list[tuple[str, str]]:
    out = []
    for route in walk_routes(app.routes):
        if isinstance(route, APIRoute) and route.path.startswith(API) and route.path not in PUBLIC:
            for method in sorted(route.methods):
                out.append((method, route.path))
    return out


def test_every_api_route_needs_the_cookie(app: Any) -> None:
    routes = api_routes(app)
    # The table of API.md, at least.
    paths = {p for _, p in routes}
    for expected in (
        "/rooms",
        "/sessions",
        "/sessions/{session_id}",
        "/sessions/{session_id}/events",
        "/sessions/{session_id}/participants/{participant_id}/vitals",
    ):
        assert f"{API}{expected}" in paths
    anonymous = TestClient(app, headers=JSON)
    for method, path in routes:
        response = anonymous.request(method, _fill(path), json={} if method in ("POST", "PUT") else None)
        assert_error(response, 401, "unauthorized")


def test_every_api_route_refuses_a_forged_cookie(app: Any) -> None:
    forged = TestClient(app, headers=JSON, cookies={"holdspace_session": "eyJ1c2VybmFtZSI6ICJsZW5hIn0=.forged.sig"})
    for method, path in api_routes(app):
        response = forged.request(method, _fill(path), json={} if method in ("POST", "PUT") else None)
        assert_error(response, 401, "unauthorized")


def test_every_websocket_needs_the_cookie(app: Any) -> None:
    paths = [r.path for r in walk_routes(app.routes) if isinstance(r, WebSocketRoute)]  # plain or FastAPI
    assert "/ws/rooms/{room_id}" in paths and f"{API}/stream" in paths
    with TestClient(app) as anonymous:
        for path in paths:
            with anonymous.websocket_connect(path.replace("{room_id}", "cedar-room")) as ws:
                with pytest.raises(WebSocketDisconnect) as closed:
                    ws.receive_text()
            assert closed.value.code == 4401


# ------------------------------------------------------------------ CSRF


def test_an_unsafe_request_without_the_header_or_token_is_refused_and_records_nothing(
    client_for: Clients, session_id: str
) -> None:
    farah = client_for("farah")
    pid = add_participant(farah, session_id)
    before = state(farah, session_id)
    bare = client_for("theo")
    bare.headers.pop("X-Requested-With")
    attempts = [
        lambda: bare.post(part(session_id, pid, "/vitals"), json=NORMAL_VITALS),
        lambda: bare.post(
            part(session_id, pid, "/vitals"), json=NORMAL_VITALS, headers={"X-Requested-With": "XMLHttpRequest"}
        ),
        lambda: bare.post(part(session_id, pid, "/vitals"), json=NORMAL_VITALS, headers={"X-CSRF-Token": "guess"}),
        lambda: bare.put(part(session_id, pid, "/screening"), json={"bp": {"sbp": 120, "dbp": 80}}),
        lambda: bare.delete(part(session_id, pid, "/support/farah")),
        lambda: bare.post(sess(session_id, "/facilitators/theo/check-in")),
        lambda: bare.post(f"{API}/sessions", json={"room_id": "cedar-room", "kind": "group", "lead": "lena"}),
        lambda: bare.post(f"{API}/auth/logout"),
    ]
    for attempt in attempts:
        assert_error(attempt(), 403, "forbidden")
    assert state(farah, session_id) == before
    assert events(farah, session_id, after=before["seq"]) == []
    # Still signed in: the refused logout did not log theo out.
    assert ok(bare.get(f"{API}/me"))["username"] == "theo"


def test_the_page_csrf_token_stands_in_for_the_header(client_for: Clients, session_id: str) -> None:
    farah = client_for("farah")
    pid = add_participant(farah, session_id)
    page = farah.get("/rooms/cedar-room")
    assert page.status_code == 200
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    assert token is not None
    farah.headers.pop("X-Requested-With")
    answer = ok(
        farah.post(part(session_id, pid, "/vitals"), json=NORMAL_VITALS, headers={"X-CSRF-Token": token.group(1)})
    )
    assert answer["last_vitals"]["sbp"]["value"] == NORMAL_VITALS["sbp"]
    # Another user's token is not this user's token.
    theo = client_for("theo")
    theo.headers.pop("X-Requested-With")
    theo.get("/rooms/cedar-room")
    assert_error(
        theo.post(part(session_id, pid, "/vitals"), json=NORMAL_VITALS, headers={"X-CSRF-Token": token.group(1)}),
        403,
        "forbidden",
    )


# ------------------------------------------------------------------ who sees what


def test_staff_list_only_the_rooms_they_work_in_or_lead(client_for: Clients, session_id: str) -> None:
    def room_ids(username: str) -> list[str]:
        return [r["id"] for r in ok(client_for(username).get(f"{API}/rooms"))]

    assert room_ids("farah") == ["cedar-room"]
    assert room_ids("dr.ade") == ["cedar-room"]
    assert room_ids("lena") == ["cedar-room"]
    assert room_ids("mika") == ["willow-room"]
    assert room_ids("lou") == ["willow-room"]
    assert room_ids("admin") == []


def test_a_session_in_another_room_answers_404_for_every_read_and_write(client_for: Clients) -> None:
    willow = willow_session(client_for)
    mika = client_for("mika")
    pid = add_participant(mika, willow, "Wren")
    before = state(mika, willow)
    farah = client_for("farah")
    attempts = [
        lambda: farah.get(sess(willow)),
        lambda: farah.get(sess(willow, "/events")),
        lambda: farah.get(part(willow, pid)),
        lambda: farah.post(sess(willow, "/participants"), json={"display_name": "Mal", "chart_id": "M-1"}),
        lambda: farah.post(part(willow, pid, "/vitals"), json=NORMAL_VITALS),
        lambda: farah.post(sess(willow, "/facilitators/mika/check-in")),
        lambda: farah.post(sess(willow, "/close")),
        lambda: farah.post(f"{API}/sessions", json={"room_id": "willow-room", "kind": "group", "lead": "lou"}),
    ]
    for attempt in attempts:
        error = assert_error(attempt(), 404, "not_found")
        assert willow not in error["message"] and "Wren" not in error["message"]
    # Nothing reached Willow's record, not even a refusal.
    assert state(mika, willow) == before
    assert events(mika, willow, after=before["seq"]) == []


def test_a_lead_sees_only_the_rooms_they_lead(client_for: Clients, session_id: str) -> None:
    willow = willow_session(client_for)
    assert ok(client_for("lou").get(sess(willow)))["id"] == willow
    assert_error(client_for("lou").get(sess(session_id)), 404, "not_found")
    assert ok(client_for("lena").get(sess(session_id)))["id"] == session_id
    assert_error(client_for("lena").get(sess(willow)), 404, "not_found")


def test_admin_sees_no_clinical_records(client_for: Clients, session_id: str) -> None:
    farah = client_for("farah")
    add_participant(farah, session_id)
    before = state(farah, session_id)
    admin = client_for("admin")
    assert ok(admin.get(f"{API}/me")) == {"username": "admin", "role": "admin"}
    assert ok(admin.get(f"{API}/rooms")) == []
    assert_error(admin.get(sess(session_id)), 404, "not_found")
    assert_error(admin.get(sess(session_id, "/events")), 404, "not_found")
    assert_error(
        admin.post(sess(session_id, "/participants"), json={"display_name": "X", "chart_id": "X"}), 404, "not_found"
    )
    assert_error(admin.post(sess(session_id, "/close")), 404, "not_found")
    assert_error(
        admin.post(f"{API}/sessions", json={"room_id": "willow-room", "kind": "group", "lead": "lou"}), 404, "not_found"
    )
    assert state(farah, session_id) == before


def test_unknown_api_paths_and_methods_answer_in_the_error_shape(client_for: Clients) -> None:
    farah = client_for("farah")
    assert_error(farah.get(f"{API}/no-such-thing"), 404, "not_found")
    assert_error(farah.delete(f"{API}/rooms"), 405, "method_not_allowed")
    assert_error(farah.get(sess("does-not-exist")), 404, "not_found")


def test_signing_out_revokes_the_cookie_even_where_it_was_copied(app: Any) -> None:
    """Sign-ins are recorded on the server: a copy of the cookie stops working at sign-out."""
    tablet = login(app, "farah")
    copied = TestClient(app, headers=JSON, cookies={SESSION_COOKIE: tablet.cookies[SESSION_COOKIE]})
    assert copied.get(f"{API}/me").status_code == 200
    assert tablet.post(f"{API}/auth/logout").status_code == 200
    assert_error(copied.get(f"{API}/me"), 401, "unauthorized")
    other = login(app, "farah")  # another sign-in of the same person is untouched
    assert other.get(f"{API}/me").status_code == 200
    for client in (tablet, copied, other):
        client.close()
