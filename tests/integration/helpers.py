"""Helpers shared by the API integration tests: building participants step by step through the
JSON API, reading state and events, and asserting that a refusal changed nothing but the record."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD
from tests.integration.conftest import SESSION_COOKIE as SESSION_COOKIE  # re-exported for the tests
from tests.integration.conftest import signed_cookie as signed_cookie

API = "/api/v1"
CONSENT = {
    "touch": ["hand", "shoulder"],
    "pause_signal": "hand on heart",
    "stop_signal": "red card",
    "music": True,
    "eyeshades": False,
    "emergency_contact": "Sam, +1 555 0100",
    "transport_plan": "Partner drives her home",
    "signed_by_participant": True,
}
NORMAL_VITALS = {"sbp": 122, "dbp": 78, "hr": 72, "spo2": 98, "rr": 14}


def walk_routes(routes: Any) -> Iterator[Any]:
    """Every route of the app, looking inside included routers."""
    for route in routes:
        if hasattr(route, "original_router"):
            yield from walk_routes(route.original_router.routes)
        else:
            yield route


def sess(sid: str, suffix: str = "") -> str:
    return f"{API}/sessions/{sid}{suffix}"


def part(sid: str, pid: str, suffix: str = "") -> str:
    return f"{API}/sessions/{sid}/participants/{pid}{suffix}"


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    return response.json()


def open_session(client: TestClient, room: str = "cedar-room", kind: str = "group", **extra: Any) -> str:
    body = {"room_id": room, "kind": kind, "facilitators": ["farah", "theo"], "lead": "lena", **extra}
    return ok(client.post(f"{API}/sessions", json=body), 201)["id"]


def add_participant(client: TestClient, sid: str, name: str = "Ada", chart: str | None = None) -> str:
    body = {"display_name": name, "chart_id": chart or f"C-{name}"}
    answer = ok(client.post(sess(sid, "/participants"), json=body), 201)
    assert answer["display_name"] == name and answer["phase"] == "arrived"
    return answer["id"]


def screen(client: TestClient, sid: str, pid: str, sbp: int = 118, dbp: int = 76, **extra: Any) -> dict[str, Any]:
    body = {
        "contraindications": {"psychosis_history": False},
        "bp": {"sbp": sbp, "dbp": dbp},
        "concomitant_sedatives": [],
        "notes": "",
        **extra,
    }
    return ok(client.put(part(sid, pid, "/screening"), json=body))


def consent(client: TestClient, sid: str, pid: str, **overrides: Any) -> dict[str, Any]:
    return ok(client.put(part(sid, pid, "/consent"), json={**CONSENT, **overrides}))


def assign_support(client: TestClient, sid: str, pid: str, who: str, kind: str = "staff") -> dict[str, Any]:
    return ok(client.post(part(sid, pid, "/support"), json={"kind": kind, "id": who}))


def check_in(client: TestClient, sid: str, username: str) -> dict[str, Any]:
    """`username` checks themselves in: from their own sign-in, or by typing their password on the
    tablet `client` is signed in to (nobody checks in someone else)."""
    me = ok(client.get(f"{API}/me"))["username"]
    body = None if me == username else {"password": PASSWORD}
    return ok(client.post(sess(sid, f"/facilitators/{username}/check-in"), json=body))


def ready_participant(
    client: TestClient,
    sid: str,
    name: str = "Ada",
    support: str = "farah",
    present: str | None = "farah",
    support_kind: str = "staff",
) -> str:
    """Added, screened, consented, with a support person, and (optionally) a facilitator checked in."""
    pid = add_participant(client, sid, name)
    screen(client, sid, pid)
    consent(client, sid, pid)
    assign_support(client, sid, pid, support, kind=support_kind)
    if present is not None and present not in state(client, sid)["facilitators_present"]:
        check_in(client, sid, present)
    return pid


def dose(prescriber: TestClient, sid: str, pid: str, **extra: Any) -> dict[str, Any]:
    body = {"route": "sublingual", "dose_mg": 200, **extra}
    return ok(prescriber.post(part(sid, pid, "/dose"), json=body))


def dosed_participant(
    client: TestClient, prescriber: TestClient, sid: str, name: str = "Ada", support: str = "farah"
) -> str:
    pid = ready_participant(client, sid, name, support=support)
    assert dose(prescriber, sid, pid)["phase"] == "dosed"
    return pid


def phase(client: TestClient, sid: str, pid: str, to: str) -> dict[str, Any]:
    return ok(client.post(part(sid, pid, "/phase"), json={"to": to}))


def state(client: TestClient, sid: str) -> dict[str, Any]:
    return ok(client.get(sess(sid)))


def participant(client: TestClient, sid: str, pid: str) -> dict[str, Any]:
    found = [p for p in state(client, sid)["participants"] if p["id"] == pid]
    assert len(found) == 1
    return found[0]


def events(client: TestClient, sid: str, after: int = 0) -> list[dict[str, Any]]:
    return ok(client.get(sess(sid, "/events"), params={"after": after}))


def comparable(view: dict[str, Any], *also: str) -> dict[str, Any]:
    """The session state less what a refusal is allowed to change: the refusals and the seq (and
    whatever else is named in `also`)."""
    return {k: v for k, v in view.items() if k not in ("refusals", "seq", *also)}


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"].strip()
    assert isinstance(error["details"], dict)
    return error


def refused(
    observer: TestClient,
    sid: str,
    attempt: Callable[[], httpx.Response],
    status: int,
    code: str,
    actor: str,
) -> dict[str, Any]:
    """Run `attempt`, check it was refused with `code`, that the state did not change, and that
    exactly one `command_refused` event naming the code and the actor was appended.

    An attempt to break a dyad lock also reaches the lead as a follow-up item: that one event
    carries it (`data.followup`), and the session's open follow-ups gain exactly that item; every
    other refusal leaves the follow-ups as they were."""
    before = state(observer, sid)
    error = assert_error(attempt(), status, code)
    after = state(observer, sid)
    assert comparable(after, "followups") == comparable(before, "followups")
    new = events(observer, sid, after=before["seq"])
    if code == "dyad_locked":
        assert len(new) == 1 and "followup" in new[0]["data"], new
        derived = new[0]["data"]["followup"]
        # The lead owns the repair, unless it was the lead who tried: then the clinic's admins do.
        owner = "@admins" if actor == after["lead"] else after["lead"]
        assert derived["owner"] == owner and derived["due_at"] and derived["reason"]
        [item] = [f for f in after["followups"] if f not in before["followups"]]
        assert item["id"] == f"{sid}-f{new[0]['seq']}"
        assert item["owner"] == owner and item["status"] == "open"
        assert (item["participant_id"], item["reason"], item["due_at"]) == (
            derived["participant_id"],
            derived["reason"],
            derived["due_at"],
        )
        assert [f for f in after["followups"] if f != item] == before["followups"]
    else:
        assert after["followups"] == before["followups"]
        assert "followup" not in (new[0]["data"] if new else {})
    assert len(new) == 1, new
    assert after["seq"] == before["seq"] + 1
    assert new[0]["kind"] == "command_refused"
    assert new[0]["data"]["code"] == code
    assert new[0]["actor"] == actor
    assert new[0]["seq"] == before["seq"] + 1
    assert after["refusals"][-1]["code"] == code and after["refusals"][-1]["actor"] == actor
    return error


def invalid(observer: TestClient, sid: str, attempt: Callable[[], httpx.Response]) -> dict[str, Any]:
    """Run `attempt`, check it was a 422 validation_error that left no trace at all."""
    before = state(observer, sid)
    error = assert_error(attempt(), 422, "validation_error")
    after = state(observer, sid)
    assert after == before
    assert events(observer, sid, after=before["seq"]) == []
    return error
