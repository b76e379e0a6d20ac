"""Sessions through the JSON API: a participant's whole journey, reads, the room's one live session."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Clock
from tests.integration.helpers import (
    API,
    CONSENT,
    NORMAL_VITALS,
    add_participant,
    assert_error,
    assign_support,
    check_in,
    consent,
    dose,
    dosed_participant,
    events,
    ok,
    open_session,
    part,
    participant,
    phase,
    screen,
    sess,
    state,
)

Clients = Callable[[str], TestClient]
MANUAL_ITEMS = (
    "oriented",
    "steady_gait",
    "nausea_settled",
    "transport_confirmed",
    "followup_scheduled",
    "belongings_returned",
)


def at(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() is not None, f"{value} has no offset"
    return parsed


def rooms(client: TestClient) -> dict[str, Any]:
    return {r["id"]: r for r in ok(client.get(f"{API}/rooms"))}


def ready_for_discharge(farah: TestClient, sid: str, pid: str, clock: Clock) -> None:
    """From grounding: the observation time passes, fresh vitals and scales, every item ticked."""
    clock.advance(minutes=121)
    ok(farah.post(part(sid, pid, "/vitals"), json=NORMAL_VITALS))
    ok(farah.post(part(sid, pid, "/observations"), json={"distress": 0, "moaa_s": 5, "rass": 0}))
    for item in MANUAL_ITEMS:
        ok(farah.post(part(sid, pid, f"/checklist/{item}"), json={"done": True}))


# ------------------------------------------------------------------ the happy path


def test_a_participant_goes_the_whole_way_through_the_json_api(
    client_for: Clients, session_id: str, clock: Clock
) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    sid = session_id
    opened = state(farah, sid)
    assert opened["room_id"] == "cedar-room" and opened["kind"] == "group" and opened["lead"] == "lena"
    assert opened["facilitators"] == ["farah", "theo"] and opened["participants"] == []

    added = ok(farah.post(sess(sid, "/participants"), json={"display_name": " Ada ", "chart_id": "CH-1"}), 201)
    pid = added["id"]
    assert added["display_name"] == "Ada" and added["chart_id"] == "CH-1" and added["phase"] == "arrived"
    assert ok(farah.get(part(sid, pid))) == added

    screened = ok(
        farah.put(
            part(sid, pid, "/screening"),
            json={
                "contraindications": {"psychosis_history": False, "uncontrolled_hypertension": False},
                "bp": {"sbp": 124, "dbp": 82},
                "concomitant_sedatives": ["lorazepam 0.5 mg"],
                "notes": "slept well",
            },
        )
    )
    assert screened["phase"] == "screened" and screened["screening_cleared"] is True
    assert screened["screening"]["bp"] == {"sbp": 124, "dbp": 82}
    assert screened["screening"]["concomitant_sedatives"] == ["lorazepam 0.5 mg"]

    consented = ok(farah.put(part(sid, pid, "/consent"), json=CONSENT))
    assert consented["consent_missing"] == []
    assert consented["consent"]["touch"] == ["hand", "shoulder"] and consented["consent"]["music"] is True

    supported = assign_support(farah, sid, pid, "farah")
    assert supported["support"] == [{"kind": "staff", "id": "farah", "name": "farah"}]
    assert check_in(farah, sid, "farah")["facilitators_present"] == ["farah"]

    dosed = dose(doc, sid, pid, route="intramuscular", dose_mg=35.5)
    assert dosed["phase"] == "dosed" and dosed["altered"] is True
    assert dosed["dose"]["route"] == "intramuscular" and dosed["dose"]["dose_mg"] == 35.5
    assert dosed["dose"]["prescriber"] == "dr.ade"
    assert at(dosed["dosed_at"]) == clock.now
    assert at(dosed["checkin_due_at"]) == clock.now + timedelta(minutes=20)
    assert at(dosed["earliest_discharge_at"]) == clock.now + timedelta(minutes=120)
    seq_after_dose = state(farah, sid)["seq"]

    clock.advance(minutes=5)
    assert phase(farah, sid, pid, "journeying")["phase"] == "journeying"
    clock.advance(minutes=10)
    paused = ok(farah.post(part(sid, pid, "/pause"), json={"requested_by": "participant", "reason": "needs a moment"}))
    assert paused["phase"] == "paused" and paused["paused_from"] == "journeying"
    resumed = ok(
        farah.post(
            part(sid, pid, "/resume"), json={"requested_by": "participant", "participant_wishes_to_continue": True}
        )
    )
    assert resumed["phase"] == "journeying" and resumed["paused_from"] is None
    checked = ok(farah.post(part(sid, pid, "/consent/checkin"), json={"ok": True, "note": "nodded"}))
    assert checked["last_checkin"]["ok"] is True
    clock.advance(minutes=30)
    assert phase(farah, sid, pid, "re_entry")["phase"] == "re_entry"
    assert phase(farah, sid, pid, "grounding")["phase"] == "grounding"

    observed_at = (clock.now - timedelta(minutes=4)).astimezone(timezone(timedelta(hours=2)))
    vit = ok(farah.post(part(sid, pid, "/vitals"), json={**NORMAL_VITALS, "observed_at": observed_at.isoformat()}))
    assert vit["last_vitals"]["sbp"]["value"] == 122 and vit["last_vitals"]["spo2"]["value"] == 98
    assert at(vit["last_vitals"]["hr"]["observed_at"]) == observed_at
    obs = ok(
        farah.post(
            part(sid, pid, "/observations"),
            json={
                "distress": 1,
                "moaa_s": 5,
                "rass": 0,
                "signs": ["tearful"],
                "parts": ["critic"],
                "note": "talking about her father",
            },
        )
    )
    assert obs["distress"] == 1 and obs["scales"]["moaa_s"]["value"] == 5

    view = state(farah, sid)
    [p] = view["participants"]
    assert p["id"] == pid and p["phase"] == "grounding"
    assert p["support"] == [{"kind": "staff", "id": "farah", "name": "farah"}]
    assert p["distress"] == 1
    assert set(p["last_vitals"]) == {"sbp", "dbp", "hr", "spo2", "rr"}
    assert at(p["last_vitals"]["sbp"]["observed_at"]) == observed_at
    assert view["facilitators_present"] == ["farah"]
    assert view["open_escalations"] == [] and view["refusals"] == []
    assert {item["key"] for item in p["checklist"]} >= set(MANUAL_ITEMS)

    after = events(farah, sid, after=seq_after_dose)
    assert [e["kind"] for e in after] == [
        "phase_changed",
        "paused",
        "resumed",
        "consent_checkin_answered",
        "phase_changed",
        "phase_changed",
        "vitals_recorded",
        "observation_recorded",
    ]
    assert [e["seq"] for e in after] == list(range(seq_after_dose + 1, seq_after_dose + 1 + len(after)))
    assert after[-1]["seq"] == view["seq"]
    assert all(e["actor"] == "farah" and e["participant_id"] == pid for e in after)
    assert after[0]["data"] == {"from": "dosed", "to": "journeying"}
    assert after[1]["data"]["requested_by"] == "participant" and after[1]["data"]["from"] == "journeying"
    assert after[2]["data"]["participant_wishes_to_continue"] is True
    assert after[4]["data"] == {"from": "journeying", "to": "re_entry"}
    # A late entry carries both times: when it was observed, and (as `at`) when it was recorded.
    assert at(after[6]["at"]) == clock.now and at(after[6]["data"]["observed_at"]) == observed_at
    assert after[6]["data"]["late"] is True and after[6]["data"]["vitals"] == NORMAL_VITALS
    assert after[7]["data"]["parts"] == ["critic"] and after[7]["data"]["late"] is False
    assert [at(e["at"]) for e in after] == sorted(at(e["at"]) for e in after)

    everything = events(farah, sid)
    assert everything[0]["seq"] == 1 and everything[0]["kind"] == "session_opened"
    assert everything[0]["data"] == {
        "room_id": "cedar-room",
        "kind": "group",
        "facilitators": ["farah", "theo"],
        "lead": "lena",
    }
    assert [e["kind"] for e in everything[1:7]] == [
        "participant_added",
        "screening_recorded",
        "consent_recorded",
        "support_assigned",
        "facilitator_checked_in",
        "dose_administered",
    ]
    assert everything[6]["actor"] == "dr.ade"
    assert events(farah, sid, after=view["seq"]) == []

    # ... and out: discharge once the checklist is complete, then the session can close.
    ready_for_discharge(farah, sid, pid, clock)
    discharged = ok(farah.post(part(sid, pid, "/discharge")))
    assert discharged["phase"] == "discharged" and discharged["altered"] is False
    assert at(discharged["ended_at"]) == clock.now
    closed = ok(farah.post(sess(sid, "/close")))
    assert at(closed["closed_at"]) == clock.now
    assert rooms(farah)["cedar-room"]["live_session_id"] is None


def test_events_pages_with_after_and_limit(client_for: Clients, session_id: str) -> None:
    farah = client_for("farah")
    for name in ("Ada", "Bo", "Cy", "Di"):
        add_participant(farah, session_id, name)
    everything = events(farah, session_id)
    assert [e["seq"] for e in everything] == [1, 2, 3, 4, 5]
    assert [e["data"].get("display_name") for e in everything[1:]] == ["Ada", "Bo", "Cy", "Di"]
    for e in everything:
        assert {"seq", "kind", "at", "actor", "data"} <= set(e)
        at(e["at"])
    assert ok(farah.get(sess(session_id, "/events"), params={"after": 2, "limit": 2})) == everything[2:4]
    assert events(farah, session_id, after=4) == everything[4:]
    assert events(farah, session_id, after=99) == []
    assert_error(farah.get(sess(session_id, "/events"), params={"after": -1}), 422, "validation_error")
    assert_error(farah.get(sess(session_id, "/events"), params={"after": "two"}), 422, "validation_error")


def test_the_device_that_recorded_an_event_is_on_the_record(client_for: Clients, session_id: str) -> None:
    farah = client_for("farah")
    response = farah.post(
        sess(session_id, "/participants"),
        json={"display_name": "Ada", "chart_id": "C1"},
        headers={"X-Holdspace-Device": "cedar-tablet-2"},
    )
    assert response.status_code == 201
    last = events(farah, session_id)[-1]
    assert last["kind"] == "participant_added" and last["device"] == "cedar-tablet-2"


def test_a_stop_at_the_participants_request_goes_on_to_grounding_not_out(client_for: Clients, session_id: str) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    pid = dosed_participant(farah, doc, session_id)
    phase(farah, session_id, pid, "journeying")
    stopped = ok(farah.post(part(session_id, pid, "/stop"), json={"requested_by": "participant", "reason": "enough"}))
    assert stopped["phase"] == "stopped" and stopped["stopped_by"] == "participant" and stopped["altered"] is True
    assert phase(farah, session_id, pid, "grounding")["phase"] == "grounding"
    assert participant(farah, session_id, pid)["support"][0]["id"] == "farah"


def test_a_transfer_ends_the_participants_part_with_its_reason(client_for: Clients, session_id: str) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    pid = dosed_participant(farah, doc, session_id)
    moved = ok(
        farah.post(part(session_id, pid, "/transfer"), json={"reason": "chest pain", "destination": "St Mary's ED"})
    )
    assert moved["phase"] == "transferred" and moved["altered"] is False
    assert moved["outcome"]["destination"] == "St Mary's ED"
    assert ok(farah.post(sess(session_id, "/close")))["closed_at"] is not None


def test_a_dyad_partner_supports_the_journeyer(client_for: Clients) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    sid = open_session(farah, kind="dyad_training")
    partner = add_participant(farah, sid, "Bo")
    journeyer = add_participant(farah, sid, "Ada")
    screen(farah, sid, journeyer)
    consent(farah, sid, journeyer)
    supported = assign_support(farah, sid, journeyer, partner, kind="participant")
    assert supported["support"] == [{"kind": "participant", "id": partner, "name": "Bo"}]
    check_in(farah, sid, "farah")
    assert dose(doc, sid, journeyer)["phase"] == "dosed"
    assert participant(farah, sid, partner)["supporting"] == [journeyer]


# ------------------------------------------------------------------ the room's one live session


def test_rooms_show_their_live_session(client_for: Clients) -> None:
    farah = client_for("farah")
    before = rooms(farah)
    assert before["cedar-room"]["live_session_id"] is None
    assert before["cedar-room"]["name"] == "Cedar Room" and before["cedar-room"]["lead"] == "lena"
    sid = open_session(farah)
    assert rooms(farah)["cedar-room"]["live_session_id"] == sid
    assert rooms(client_for("lena"))["cedar-room"]["live_session_id"] == sid


def test_a_second_session_in_a_busy_room_is_refused(client_for: Clients, session_id: str) -> None:
    theo = client_for("theo")
    before = events(theo, session_id)
    for kind in ("group", "individual"):
        response = theo.post(
            f"{API}/sessions", json={"room_id": "cedar-room", "kind": kind, "facilitators": ["theo"], "lead": "lena"}
        )
        error = assert_error(response, 409, "room_busy")
        assert error["details"] == {"room_id": "cedar-room"}
    assert rooms(theo)["cedar-room"]["live_session_id"] == session_id
    assert events(theo, session_id) == before


def test_a_session_closes_only_when_nobody_is_active_and_frees_the_room(client_for: Clients, session_id: str) -> None:
    farah = client_for("farah")
    pid = add_participant(farah, session_id)
    error = assert_error(farah.post(sess(session_id, "/close")), 409, "participants_active")
    assert state(farah, session_id)["closed_at"] is None
    assert events(farah, session_id)[-1]["data"]["code"] == "participants_active"
    assert rooms(farah)["cedar-room"]["live_session_id"] == session_id
    assert error["details"] == {"participants": [pid]}
    # A participant who never took the medicine may simply leave.
    assert ok(farah.post(part(session_id, pid, "/discharge")))["phase"] == "discharged"
    assert state(farah, session_id)["closed_at"] is None
    ok(farah.post(sess(session_id, "/close")))
    assert rooms(farah)["cedar-room"]["live_session_id"] is None
    # A closed session's record no longer changes; the room takes a new session.
    assert_error(
        farah.post(sess(session_id, "/participants"), json={"display_name": "Late", "chart_id": "L"}),
        409,
        "session_closed",
    )
    new = open_session(farah, kind="individual")
    assert new != session_id and rooms(farah)["cedar-room"]["live_session_id"] == new
    assert ok(farah.get(sess(session_id)))["closed_at"] is not None


def test_opening_a_session_checks_the_lead_and_the_facilitators(client_for: Clients) -> None:
    farah = client_for("farah")

    def attempt(**body: Any) -> Any:
        full = {"room_id": "cedar-room", "kind": "group", "facilitators": ["farah"], "lead": "lena", **body}
        return farah.post(f"{API}/sessions", json=full)

    assert assert_error(attempt(lead="farah"), 422, "validation_error")["details"] == {"field": "lead"}
    assert assert_error(attempt(lead="nobody"), 422, "validation_error")["details"] == {"field": "lead"}
    details = assert_error(attempt(facilitators=["farah", "mika"]), 422, "validation_error")["details"]
    assert details == {"field": "facilitators", "unknown": ["mika"]}
    assert_error(attempt(kind="retreat"), 422, "validation_error")
    assert_error(attempt(room_id="no-such-room"), 404, "not_found")
    assert rooms(farah)["cedar-room"]["live_session_id"] is None


def test_check_in_and_out_of_the_room(client_for: Clients, session_id: str) -> None:
    farah, theo = client_for("farah"), client_for("theo")
    check_in(theo, session_id, "theo")
    # dr.ade types her own password on the tablet farah is signed in to.
    assert check_in(farah, session_id, "dr.ade")["facilitators_present"] == ["dr.ade", "theo"]
    assert_error(theo.post(sess(session_id, "/facilitators/theo/check-in")), 409, "already_checked_in")
    assert_error(farah.post(sess(session_id, "/facilitators/mika/check-in")), 404, "not_found")
    out = ok(theo.post(sess(session_id, "/facilitators/theo/check-out")))
    assert out["facilitators_present"] == ["dr.ade"]
    assert_error(theo.post(sess(session_id, "/facilitators/theo/check-out")), 409, "not_checked_in")


# ------------------------------------------------------------------ regressions: bugs these tests found


def test_a_sessions_lead_can_see_the_session(client_for: Clients) -> None:
    farah = client_for("farah")
    response = farah.post(
        f"{API}/sessions", json={"room_id": "cedar-room", "kind": "group", "facilitators": ["farah"], "lead": "lou"}
    )
    if response.status_code == 201:
        sid = response.json()["id"]
        assert ok(client_for("lou").get(sess(sid)))["lead"] == "lou"
    else:
        assert_error(response, 422, "validation_error")
