"""The authorization matrix: every route and websocket of the app (read from its own route table,
so a route added without a rule here fails) × every role × own room / other room / signed out,
query parameters that name a room or a session included.

The rule, as the README states it: staff see and act only in the rooms they work in or lead (any
other room's things answer 404, as if they did not exist); admins manage users and rooms and see
no clinical record (404 on every room's thing), and only they read the access log; without a
sign-in every route but the public ones answers 401 (pages: a redirect to the login page) and every
websocket closes with 4401."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount, WebSocketRoute
from starlette.websockets import WebSocketDisconnect

from app.store import people
from app.store.db import unit_of_work
from tests.conftest import PASSWORD
from tests.integration.conftest import JSON
from tests.integration.helpers import (
    API,
    CONSENT,
    SESSION_COOKIE,
    add_participant,
    ok,
    open_session,
    signed_cookie,
    walk_routes,
)

P = "/sessions/{session_id}/participants/{participant_id}"


@dataclass(frozen=True)
class Rule:
    """Who may use a route: `public`, `signed_in` (any role), `admin` (admins only), or `room`
    (staff of the room the path, query or body names)."""

    scope: str
    body: dict[str, Any] | None = field(default=None, hash=False)


PUBLIC, SIGNED_IN, ADMIN, ROOM = Rule("public"), Rule("signed_in"), Rule("admin"), Rule("room")
REVIEW, REPLAY, REPORT = Rule("review"), Rule("replay"), Rule("report")
RULES: dict[tuple[str, str], Rule] = {
    ("POST", f"{API}/auth/login"): PUBLIC,
    ("POST", f"{API}/auth/logout"): PUBLIC,
    ("GET", f"{API}/me"): SIGNED_IN,
    ("GET", f"{API}/rooms"): SIGNED_IN,
    ("POST", f"{API}/sessions"): Rule("room", {"kind": "individual", "facilitators": []}),  # room_id, lead: filled in
    ("GET", f"{API}/sessions/{{session_id}}"): ROOM,
    ("GET", f"{API}/sessions/{{session_id}}/events"): ROOM,
    ("POST", f"{API}/sessions/{{session_id}}/close"): ROOM,
    ("POST", f"{API}/sessions/{{session_id}}/facilitators/{{username}}/check-in"): ROOM,
    ("POST", f"{API}/sessions/{{session_id}}/facilitators/{{username}}/check-out"): ROOM,
    ("POST", f"{API}/sessions/{{session_id}}/participants"): Rule("room", {"display_name": "Zed", "chart_id": "Z-1"}),
    ("GET", f"{API}{P}"): ROOM,
    ("PUT", f"{API}{P}/screening"): Rule("room", {"bp": {"sbp": 120, "dbp": 80}}),
    ("POST", f"{API}{P}/screening/clear"): Rule("room", {"note": "cleared"}),
    ("PUT", f"{API}{P}/consent"): Rule("room", CONSENT),
    ("POST", f"{API}{P}/consent/withdraw"): Rule("room", {"items": ["music"]}),
    ("POST", f"{API}{P}/consent/checkin"): Rule("room", {"ok": True}),
    ("POST", f"{API}{P}/support"): Rule("room", {"kind": "staff", "id": "{staff}"}),
    ("DELETE", f"{API}{P}/support/{{support_id}}"): ROOM,
    ("POST", f"{API}{P}/support/handover"): Rule(
        "room", {"replacement": {"kind": "staff", "id": "{staff}"}, "reason": "r"}
    ),
    ("POST", f"{API}{P}/dose"): Rule("room", {"route": "sublingual", "dose_mg": 100}),
    ("POST", f"{API}{P}/phase"): Rule("room", {"to": "journeying"}),
    ("POST", f"{API}{P}/pause"): Rule("room", {"requested_by": "participant"}),
    ("POST", f"{API}{P}/resume"): Rule("room", {"requested_by": "participant", "participant_wishes_to_continue": True}),
    ("POST", f"{API}{P}/stop"): Rule("room", {"requested_by": "participant"}),
    ("POST", f"{API}{P}/vitals"): Rule("room", {"hr": 70}),
    ("POST", f"{API}{P}/observations"): Rule("room", {"note": "resting"}),
    ("POST", f"{API}{P}/checklist/{{item}}"): Rule("room", {"done": True}),
    ("POST", f"{API}{P}/discharge"): ROOM,
    ("POST", f"{API}{P}/transfer"): Rule("room", {"reason": "r", "destination": "d"}),
    ("POST", f"{API}{P}/amend"): Rule("room", {"event_seq": "{entry_seq}", "correction": "c", "reason": "r"}),
    ("POST", f"{API}{P}/step-out"): Rule("room", {"accompanied_by": "{staff}"}),
    ("POST", f"{API}{P}/return"): ROOM,
    ("POST", f"{API}{P}/dedicated-facilitator"): Rule("room", {"username": "{staff}"}),
    ("POST", f"{API}{P}/notes"): Rule("room", {"kind": "observation", "text": "t"}),
    ("GET", f"{API}/escalations"): SIGNED_IN,
    ("POST", f"{API}/escalations/{{escalation_id}}/ack"): ROOM,
    ("POST", f"{API}/escalations/{{escalation_id}}/resolve"): Rule("room", {"action": "a", "outcome": "o"}),
    ("POST", f"{API}/escalations/{{escalation_id}}/mute"): ROOM,
    ("GET", f"{API}/followups"): SIGNED_IN,
    ("POST", f"{API}/followups/{{followup_id}}/close"): Rule("room", {"contact_note": "called"}),
    ("GET", f"{API}{P}/export.pdf"): ROOM,
    ("GET", f"{API}{P}/export.csv"): ROOM,
    ("GET", f"{API}{P}/export.json"): ROOM,
    ("GET", f"{API}{P}/export.fhir.json"): ROOM,
    ("GET", f"{API}/sessions/{{session_id}}/export.zip"): ROOM,
    ("GET", f"{API}/access-log"): ADMIN,
    # The afterwards (issue 14): a visible screen reports the alarms it shows (its own room's; a
    # step-3 alarm also reaches every lead and prescriber, which this matrix's alarms never do).
    ("POST", f"{API}/sessions/{{session_id}}/seen"): Rule("room", {"escalation_ids": ["{escalation_id}"]}),
    # The session review: its lead, the room's lead, its facilitators and the clinic's admins.
    ("GET", f"{API}/sessions/{{session_id}}/review"): REVIEW,
    ("GET", f"{API}/sessions/{{session_id}}/review.pdf"): REVIEW,
    ("GET", "/sessions/{session_id}/review"): REVIEW,
    # Replay and the state at an event: leads of the session or room, and admins.
    ("GET", f"{API}/sessions/{{session_id}}/state"): REPLAY,
    ("GET", "/sessions/{session_id}/replay"): REPLAY,
    # The clinic's response report: leads (their sessions and rooms) and admins (all).
    ("GET", f"{API}/reports/response"): REPORT,
    ("GET", "/reports"): REPORT,
    # Anyone of the room opens a follow-up (a concern raised after the session), and so may an admin.
    ("POST", f"{API}/followups"): Rule(
        "room_or_admin", {"session_id": "{session_id}", "participant_id": "{participant_id}", "reason": "r"}
    ),
    ("GET", "/openapi.json"): SIGNED_IN,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): PUBLIC,
    ("GET", "/rooms"): SIGNED_IN,
    ("GET", "/rooms/{room_id}"): ROOM,
    ("GET", "/rooms/{room_id}/live"): ROOM,
    ("GET", P): ROOM,
    ("GET", "/overview"): SIGNED_IN,
    ("WS", "/ws/rooms/{room_id}"): ROOM,
    ("WS", "/ws/overview"): SIGNED_IN,
    ("WS", "/ws/alarms"): ROOM,  # ?room= names a room (the page's); without it, the caller's rooms
    ("WS", f"{API}/stream"): ROOM,  # ?room= names a room, ?after_seq= names sessions
}
STAFF = {"facilitator": "farah", "lead": "lena", "prescriber": "dr.ade"}
OTHER_ROOM_STAFF = {"facilitator": "mika", "lead": "lou", "prescriber": "dr.wu"}


def route_table(app: Any) -> list[tuple[str, str]]:
    out = []
    for route in walk_routes(app.routes):
        if isinstance(route, APIRoute):
            out.extend((method, route.path) for method in sorted(route.methods - {"HEAD"}))
        elif isinstance(route, WebSocketRoute):  # FastAPI's or a plain Starlette one
            out.append(("WS", route.path))
        elif isinstance(route, Mount) and route.path == "/static":
            continue  # the static files: public, and no patient data
        else:
            out.append(("?", str(getattr(route, "path", route))))
    return out


def test_every_route_of_the_app_has_a_rule(app: Any) -> None:
    table = route_table(app)
    missing = [route for route in table if route not in RULES]
    assert not missing, f"routes without an authorization rule in this matrix: {missing}"
    stale = [route for route in RULES if route not in table]
    assert not stale, f"rules for routes the app no longer has: {stale}"


# ------------------------------------------------------------------ a clinic with two rooms at work


@dataclass
class Room:
    id: str
    session_id: str
    participant_id: str
    escalation_id: str
    followup_id: str
    staff: str
    lead: str
    entry_seq: int


def _room_at_work(client: TestClient, room: str, lead: str, staff: str, prescriber: str) -> Room:
    use(client, staff)
    sid = open_session(client, room=room, facilitators=[staff], lead=lead)
    use(client, staff)
    stopped = dosed_participant_as(client, sid, "Bo", staff, prescriber)
    ok(client.post(f"{API}/sessions/{sid}/participants/{stopped}/stop", json={"requested_by": "participant"}))
    pid = dosed_participant_as(client, sid, "Ada", staff, prescriber)
    ok(client.post(f"{API}/sessions/{sid}/participants/{pid}/observations", json={"distress": 2}))
    escalation = next(e for e in ok(client.get(f"{API}/escalations")) if e["session_id"] == sid)
    assert escalation["step"] == 1  # an alarm that has not climbed beyond its room
    followup = next(f for f in ok(client.get(f"{API}/followups")) if f["session_id"] == sid)
    entry = next(e for e in ok(client.get(f"{API}/sessions/{sid}/events")) if e.get("participant_id") == pid)
    return Room(room, sid, pid, escalation["id"], followup["id"], staff, lead, entry["seq"])


def dosed_participant_as(client: TestClient, sid: str, name: str, staff: str, prescriber: str) -> str:
    use(client, staff)
    pid = add_participant(client, sid, name)
    ok(client.put(f"{API}/sessions/{sid}/participants/{pid}/screening", json={"bp": {"sbp": 118, "dbp": 76}}))
    ok(client.put(f"{API}/sessions/{sid}/participants/{pid}/consent", json=CONSENT))
    ok(client.post(f"{API}/sessions/{sid}/participants/{pid}/support", json={"kind": "staff", "id": staff}))
    state = ok(client.get(f"{API}/sessions/{sid}"))
    if staff not in state["facilitators_present"]:
        ok(client.post(f"{API}/sessions/{sid}/facilitators/{staff}/check-in"))
    use(client, prescriber)
    ok(client.post(f"{API}/sessions/{sid}/participants/{pid}/dose", json={"route": "sublingual", "dose_mg": 200}))
    use(client, staff)
    return pid


def use(client: TestClient, username: str | None) -> None:
    """Swap the one client's cookie (one event loop serves every socket): a user's standing
    sign-in, or none."""
    client.cookies.clear()
    if username is not None:
        client.cookies.set(SESSION_COOKIE, signed_cookie(client.app, username))


@pytest.fixture
def clinic(app: Any) -> Iterator[tuple[TestClient, Room, Room]]:
    # A prescriber for Willow too, so each room can dose.
    with unit_of_work(app.state.services.write_engine) as db:
        people.create_user(db, "dr.wu", "prescriber", PASSWORD)
        people.assign(db, people.find_room(db, "willow-room"), "dr.wu")  # type: ignore[arg-type]
        db.commit()
    with app.state.services.write_engine.begin() as raw:
        raw.exec_driver_sql(
            "INSERT INTO sign_in (id, username, created_at) VALUES ('test-dr.wu', 'dr.wu', CURRENT_TIMESTAMP)"
        )
    client = TestClient(app, headers=JSON)
    with client:
        cedar = _room_at_work(client, "cedar-room", "lena", "farah", "dr.ade")
        willow = _room_at_work(client, "willow-room", "lou", "mika", "dr.wu")
        yield client, cedar, willow


def fill(path: str, room: Room) -> str:
    values = {
        "room_id": room.id,
        "session_id": room.session_id,
        "participant_id": room.participant_id,
        "escalation_id": room.escalation_id,
        "followup_id": room.followup_id,
        "username": room.staff,
        "support_id": room.staff,
        "item": "oriented",
    }
    for name, value in values.items():
        path = path.replace(f"{{{name}}}", value)
    assert "{" not in path, path
    return path


def _placed(value: Any, room: Room) -> Any:
    """A rule's body with the room's own staff member and record entry put in."""
    if isinstance(value, dict):
        return {k: _placed(v, room) for k, v in value.items()}
    if isinstance(value, list):
        return [_placed(v, room) for v in value]
    named = {
        "{staff}": room.staff,
        "{entry_seq}": room.entry_seq,
        "{session_id}": room.session_id,
        "{participant_id}": room.participant_id,
        "{escalation_id}": room.escalation_id,
    }
    return named.get(value, value) if isinstance(value, str) else value


def call(client: TestClient, method: str, path: str, rule: Rule, room: Room) -> Any:
    body = _placed(rule.body, room)
    if path == f"{API}/sessions":
        body = {**(body or {}), "room_id": room.id, "lead": room.lead}
    return client.request(method, fill(path, room), json=body, follow_redirects=False)


def socket_answer(client: TestClient, path: str) -> tuple[int | None, str]:
    """(close code, None if it stayed open; the first message)."""
    try:
        with client.websocket_connect(path) as ws:
            first = ws.receive_text()
    except WebSocketDisconnect as closed:
        return closed.code, ""
    return None, first


def events_of(client: TestClient, room: Room) -> list[dict[str, Any]]:
    use(client, room.staff)
    return ok(client.get(f"{API}/sessions/{room.session_id}/events"))


def http_routes(app: Any, scope: str) -> list[tuple[str, str, Rule]]:
    return [(m, p, RULES[(m, p)]) for m, p in route_table(app) if m != "WS" and RULES[(m, p)].scope == scope]


# ------------------------------------------------------------------ the matrix


@pytest.mark.parametrize("role", [*STAFF, "admin"])
def test_another_rooms_things_answer_404_to_every_role_and_change_nothing(
    app: Any, clinic: tuple[TestClient, Room, Room], role: str
) -> None:
    client, cedar, willow = clinic
    before = events_of(client, willow)
    caller = STAFF.get(role, "admin")
    use(client, caller)
    wrong = []
    for method, path, rule in http_routes(app, "room"):
        response = call(client, method, path, rule, willow)
        if response.status_code != 404:
            wrong.append((method, path, response.status_code, response.text[:120]))
        elif path.startswith("/api/") or path.endswith(".json"):
            body = response.json()
            assert body["error"]["code"] == "not_found"
            assert willow.session_id not in json.dumps(body) and "Ada" not in json.dumps(body)
    assert not wrong, wrong
    # The websockets and the stream's query parameters name the room or the session.
    assert socket_answer(client, f"/ws/rooms/{willow.id}")[0] == 4404
    assert socket_answer(client, f"/ws/alarms?room={willow.id}")[0] == 4404
    assert socket_answer(client, f"{API}/stream?room={willow.id}")[0] == 4404
    code, first = socket_answer(client, f"{API}/stream?after_seq={willow.session_id}:0")
    assert code is None and willow.session_id not in first
    assert events_of(client, willow) == before  # not even a refusal was recorded


@pytest.mark.parametrize("role", list(STAFF))
def test_staff_reach_every_route_of_their_own_room(app: Any, clinic: tuple[TestClient, Room, Room], role: str) -> None:
    client, cedar, willow = clinic
    willow_before = events_of(client, willow)
    use(client, STAFF[role])
    wrong = []
    for method, path, rule in http_routes(app, "room"):
        response = call(client, method, path, rule, cedar)
        # Allowed through: it may still be refused by a clinic rule (409), a role (403) or
        # the state of things (422), but never as someone who may not be here.
        if response.status_code in (401, 404) or response.status_code >= 500:
            wrong.append((method, path, response.status_code, response.text[:160]))
    assert not wrong, wrong
    assert socket_answer(client, f"/ws/rooms/{cedar.id}")[0] is None
    assert socket_answer(client, f"/ws/alarms?room={cedar.id}")[0] is None
    code, first = socket_answer(client, f"{API}/stream?room={cedar.id}")
    assert code is None and json.loads(first)["type"] == "snapshot"
    assert events_of(client, willow) == willow_before


def test_admins_see_no_room_at_all(app: Any, clinic: tuple[TestClient, Room, Room]) -> None:
    client, cedar, _ = clinic
    use(client, "admin")
    wrong = [
        (method, path, response.status_code)
        for method, path, rule in http_routes(app, "room")
        if (response := call(client, method, path, rule, cedar)).status_code != 404
    ]
    assert not wrong, wrong
    assert socket_answer(client, f"/ws/rooms/{cedar.id}")[0] == 4404
    code, first = socket_answer(client, f"{API}/stream")
    assert code is None and json.loads(first) == {"type": "snapshot", "sessions": [], "seq": {}}


@pytest.mark.parametrize("role", [*STAFF, "admin"])
def test_routes_for_anyone_signed_in_answer_every_role(
    app: Any, clinic: tuple[TestClient, Room, Room], role: str
) -> None:
    client, cedar, willow = clinic
    use(client, STAFF.get(role, "admin"))
    for method, path, rule in http_routes(app, "signed_in"):
        response = call(client, method, path, rule, cedar)
        assert response.status_code in (200, 403), (method, path, response.status_code)
        # Lists name only the caller's own rooms' things.
        assert willow.session_id not in response.text and willow.participant_id not in response.text
    code, first = socket_answer(client, "/ws/overview")
    assert code is None and willow.session_id not in first
    code, first = socket_answer(client, "/ws/alarms")
    assert code is None and willow.participant_id not in first
    code, first = socket_answer(client, f"{API}/stream")
    assert code is None and list(json.loads(first)["seq"]) == ([] if role == "admin" else [cedar.session_id])


@pytest.mark.parametrize("role", [*STAFF, "admin"])
def test_only_admins_read_the_admin_routes(app: Any, clinic: tuple[TestClient, Room, Room], role: str) -> None:
    client, cedar, _ = clinic
    use(client, STAFF.get(role, "admin"))
    for method, path, rule in http_routes(app, "admin"):
        response = call(client, method, path, rule, cedar)
        assert response.status_code == (200 if role == "admin" else 403), (method, path, response.status_code)


def test_signed_out_every_route_but_the_public_ones_asks_for_a_sign_in(
    app: Any, clinic: tuple[TestClient, Room, Room]
) -> None:
    client, cedar, willow = clinic
    use(client, None)
    wrong = []
    for scope in ("room", "signed_in", "admin", "review", "replay", "report", "room_or_admin"):
        for method, path, rule in http_routes(app, scope):
            for room in (cedar, willow):
                response = call(client, method, path, rule, room)
                page = not (path.startswith("/api/") or path.endswith(".json"))
                if page:
                    good = response.status_code == 303 and response.headers["location"].startswith("/login")
                else:
                    good = response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
                if not good:
                    wrong.append((method, path, response.status_code))
    assert not wrong, wrong
    for path in (
        f"/ws/rooms/{cedar.id}",
        "/ws/overview",
        "/ws/alarms",
        f"{API}/stream",
        f"{API}/stream?room={cedar.id}",
    ):
        assert socket_answer(client, path)[0] == 4401, path
    for method, path, _rule in http_routes(app, "public"):
        response = client.request(method, path, follow_redirects=False)
        assert response.status_code not in (401, 404) and response.status_code < 500, (method, path)


# ------------------------------------------------------------------ the afterwards (issue 14)

# Who reads the review, the replay and the report, of their own room's session (cedar) and of
# another room's (willow): 200, or 404 as if it did not exist. Admins read every room's.
AFTERWARDS = {
    # role: (review own, replay own, report)
    "facilitator": (200, 404, 404),
    "lead": (200, 200, 200),
    "prescriber": (404, 404, 404),
    "admin": (200, 200, 200),
}


@pytest.mark.parametrize("role", [*STAFF, "admin"])
def test_the_afterwards_follow_the_access_rules(app: Any, clinic: tuple[TestClient, Room, Room], role: str) -> None:
    client, cedar, willow = clinic
    willow_before = events_of(client, willow)
    review, replay, report = AFTERWARDS[role]
    use(client, STAFF.get(role, "admin"))
    wrong = []
    for scope, own in (("review", review), ("replay", replay), ("report", report)):
        for method, path, rule in http_routes(app, scope):
            for room, expected in ((cedar, own), (willow, own if role == "admin" or scope == "report" else 404)):
                response = call(client, method, path, rule, room)
                if response.status_code != expected:
                    wrong.append((role, method, path, room.id, response.status_code))
                elif expected == 404 and (path.startswith("/api/") or path.endswith(".json")):
                    assert response.json()["error"]["code"] == "not_found"
                if expected == 200 and scope != "report" and room is willow:
                    assert role == "admin"
    for method, path, rule in http_routes(app, "room_or_admin"):
        for room, expected in ((cedar, 201), (willow, 201 if role == "admin" else 404)):
            response = call(client, method, path, rule, room)
            if response.status_code != expected:
                wrong.append((role, method, path, room.id, response.status_code))
    assert not wrong, wrong
    if role != "admin":
        assert events_of(client, willow) == willow_before  # another room's record is untouched
    # The report of a lead holds only what she leads.
    use(client, STAFF.get(role, "admin"))
    if report == 200:
        found = ok(client.get(f"{API}/reports/response"))
        leads = {row["key"] for row in found["by_lead"]}
        assert leads == ({"lena", "lou"} if role == "admin" else {"lena"})
