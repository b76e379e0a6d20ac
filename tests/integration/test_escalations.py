"""Escalations and follow-ups through the JSON API, with the hand-moved clock.

The app under test runs no clock task: a test moves `clock` and calls the services' `tick_due()`
itself, exactly what the clock task does on time, so nothing here sleeps. PRODUCT.md: distress 3
is a medium alarm that starts at step 2 (the lead) and climbs to step 3 if nobody acknowledges it
within 60 s; a high alarm starts at step 3 and sounds again every 30 s until acknowledged; an
acknowledgement is not a resolution; every escalation that reaches the lead, every stop, every
emergency handover and every attempt to break a dyad lock opens a follow-up item for the lead."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.conftest import Clock
from tests.integration.conftest import JSON
from tests.integration.helpers import (
    API,
    NORMAL_VITALS,
    SESSION_COOKIE,
    add_participant,
    assert_error,
    check_in,
    dosed_participant,
    events,
    ok,
    open_session,
    part,
    participant,
    refused,
    sess,
    state,
)

Clients = Callable[[str], TestClient]
ESCALATIONS = f"{API}/escalations"
FOLLOWUPS = f"{API}/followups"


# ------------------------------------------------------------------ helpers


def iso(moment: datetime) -> str:
    return moment.isoformat()


def observe(client: TestClient, sid: str, pid: str, **scales: Any) -> dict[str, Any]:
    return ok(client.post(part(sid, pid, "/observations"), json=scales))


def escalations(client: TestClient, status: str = "open") -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(client.get(ESCALATIONS, params={"status": status}))
    return found


def followups(client: TestClient, status: str = "open") -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(client.get(FOLLOWUPS, params={"status": status}))
    return found


def only_escalation(client: TestClient, status: str = "open") -> dict[str, Any]:
    found = escalations(client, status)
    assert len(found) == 1, found
    return found[0]


def tick(app: Any) -> list[str]:
    """What the clock task does when a deadline comes: Tick every session that has one due."""
    fired: list[str] = app.state.services.tick_due()
    return fired


def kinds_after(client: TestClient, sid: str, seq: int) -> list[str]:
    return [e["kind"] for e in events(client, sid, after=seq)]


# ------------------------------------------------------------------ a medium alarm's life


def test_acute_distress_reaches_the_lead_climbs_until_acknowledged_and_stays_open_until_resolved(
    app: Any, farah: TestClient, lena: TestClient, doc: TestClient, session_id: str, clock: Clock
) -> None:
    pid = dosed_participant(farah, doc, session_id, "Ada")
    t0 = clock.now
    observe(farah, session_id, pid, distress=3)

    alarm = only_escalation(lena)
    assert alarm["participant_id"] == pid and alarm["session_id"] == session_id
    assert (alarm["priority"], alarm["step"], alarm["condition"]) == ("medium", 2, "distress")
    assert alarm["raised_at"] == iso(t0) and alarm["deadline"] == iso(t0 + timedelta(seconds=60))
    assert alarm["acknowledged_at"] is None and alarm["acknowledged_by"] is None
    assert alarm["status"] == "open" and alarm["sounding"] is True and "Distress 3" in alarm["reason"]
    assert only_escalation(farah)["id"] == alarm["id"]  # the room's facilitators see it too
    eid = alarm["id"]

    # The same condition again updates nothing: still one escalation, no new alarm event.
    seq = state(farah, session_id)["seq"]
    observe(farah, session_id, pid, distress=3)
    assert kinds_after(farah, session_id, seq) == ["observation_recorded"]
    assert only_escalation(lena) == alarm

    # Not yet due: nothing happens a second early.
    clock.advance(seconds=59)
    assert tick(app) == []
    assert only_escalation(lena)["step"] == 2

    # Nobody acknowledged within 60 s: it climbs to step 3 and from then on re-sounds every 30 s.
    clock.advance(seconds=1)
    assert tick(app) == [session_id]
    climbed = only_escalation(lena)
    assert (climbed["id"], climbed["priority"], climbed["step"]) == (eid, "medium", 3)
    assert climbed["deadline"] == iso(clock.now + timedelta(seconds=30))
    last = events(lena, session_id)[-1]
    assert last["kind"] == "escalation_climbed" and last["actor"] == "system" and last["data"]["step"] == 3

    # Acknowledging stops the clock of that step, and is not a resolution.
    acked = ok(lena.post(f"{ESCALATIONS}/{eid}/ack"))
    assert acked["acknowledged_at"] == iso(clock.now) and acked["acknowledged_by"] == "lena"
    assert acked["status"] == "open" and acked["sounding"] is False
    seq = state(lena, session_id)["seq"]
    for _ in range(3):
        clock.advance(seconds=45)
        assert tick(app) == []
    assert kinds_after(lena, session_id, seq) == []
    still = only_escalation(lena)
    assert (still["step"], still["status"], still["acknowledged_by"]) == (3, "open", "lena")

    # A more urgent reading of the same condition raises the same escalation, and sounds again.
    observe(farah, session_id, pid, distress=4)
    raised = only_escalation(lena)
    assert (raised["id"], raised["priority"], raised["step"]) == (eid, "high", 3)
    assert raised["sounding"] is True and "Distress 4" in raised["reason"]
    ok(lena.post(f"{ESCALATIONS}/{eid}/ack"))

    # Resolving needs both what was done and how it ended.
    seq = state(lena, session_id)["seq"]
    for body in ({"action": "Sat with her"}, {"outcome": "Settled"}, {"action": "Sat with her", "outcome": ""}, {}):
        assert_error(lena.post(f"{ESCALATIONS}/{eid}/resolve", json=body), 422, "validation_error")
    assert_error(
        lena.post(f"{ESCALATIONS}/{eid}/resolve", json={"action": "  ", "outcome": "Settled"}), 422, "validation_error"
    )
    assert state(lena, session_id)["seq"] == seq
    assert only_escalation(lena)["status"] == "open"

    resolved = ok(
        lena.post(
            f"{ESCALATIONS}/{eid}/resolve",
            json={"action": "Moved to the quiet corner with theo", "outcome": "Distress 1 after 10 min"},
        )
    )
    assert resolved["status"] == "resolved" and resolved["resolved_by"] == "lena"
    assert resolved["action"] == "Moved to the quiet corner with theo"
    assert resolved["outcome"] == "Distress 1 after 10 min"
    assert escalations(lena) == [] and state(lena, session_id)["open_escalations"] == []
    assert [e["id"] for e in escalations(lena, "resolved")] == [eid]
    assert_error(
        lena.post(f"{ESCALATIONS}/{eid}/resolve", json={"action": "again", "outcome": "again"}), 409, "already_resolved"
    )

    # Once resolved, the same condition opens a new escalation.
    observe(farah, session_id, pid, distress=3)
    again = only_escalation(lena)
    assert again["id"] != eid and (again["priority"], again["step"]) == ("medium", 2)


def test_a_high_alarm_sounds_again_every_30_seconds_until_acknowledged(
    app: Any, farah: TestClient, lena: TestClient, doc: TestClient, session_id: str, clock: Clock
) -> None:
    pid = dosed_participant(farah, doc, session_id, "Ada")
    observe(farah, session_id, pid, distress=4)
    alarm = only_escalation(lena)
    assert (alarm["priority"], alarm["step"]) == ("high", 3)
    assert alarm["deadline"] == iso(clock.now + timedelta(seconds=30))
    seq = state(lena, session_id)["seq"]

    clock.advance(seconds=29)
    assert tick(app) == []
    for step in (1, 30, 30):  # due at 30 s, then again at 60 s and 90 s
        clock.advance(seconds=step)
        assert tick(app) == [session_id]
        assert only_escalation(lena)["deadline"] == iso(clock.now + timedelta(seconds=30))
    resounded = events(lena, session_id, after=seq)
    assert [e["kind"] for e in resounded] == ["escalation_resounded"] * 3
    assert {e["data"]["escalation_id"] for e in resounded} == {alarm["id"]}
    assert only_escalation(lena)["step"] == 3  # a high alarm has nowhere higher to climb

    ok(farah.post(f"{ESCALATIONS}/{alarm['id']}/ack"))
    seq = state(lena, session_id)["seq"]
    for _ in range(4):
        clock.advance(seconds=30)
        assert tick(app) == []
    assert kinds_after(lena, session_id, seq) == []
    acked = only_escalation(lena)
    assert acked["acknowledged_by"] == "farah" and acked["status"] == "open" and acked["deadline"] is None


def test_sedation_agitation_and_vitals_raise_their_own_escalations(
    farah: TestClient, lena: TestClient, doc: TestClient, session_id: str
) -> None:
    pid = dosed_participant(farah, doc, session_id, "Ada")
    observe(farah, session_id, pid, moaa_s=2)
    observe(farah, session_id, pid, rass=4)
    ok(farah.post(part(session_id, pid, "/vitals"), json={**NORMAL_VITALS, "sbp": 185}))
    found = {e["condition"]: (e["priority"], e["step"]) for e in escalations(lena)}
    assert found == {"sedation": ("medium", 2), "agitation": ("high", 3), "vitals": ("medium", 2)}
    # SpO2 below 92 % is high: the open vitals escalation is raised, not doubled.
    ok(farah.post(part(session_id, pid, "/vitals"), json={**NORMAL_VITALS, "spo2": 90}))
    vitals = [e for e in escalations(lena) if e["condition"] == "vitals"]
    assert len(vitals) == 1 and (vitals[0]["priority"], vitals[0]["step"]) == ("high", 3)
    assert "SpO2 90" in vitals[0]["reason"]
    # Settled scales raise nothing.
    before = len(escalations(lena))
    observe(farah, session_id, pid, distress=1, moaa_s=5, rass=0)
    assert len(escalations(lena)) == before


# ------------------------------------------------------------------ the countdown survives a restart


def test_a_restart_in_the_middle_of_a_countdown_climbs_on_time(
    app: Any, settings: Settings, farah: TestClient, doc: TestClient, session_id: str, clock: Clock
) -> None:
    pid = dosed_participant(farah, doc, session_id, "Ada")
    observe(farah, session_id, pid, distress=3)
    eid = only_escalation(farah)["id"]
    deadline = clock.now + timedelta(seconds=60)
    clock.advance(seconds=30)
    assert tick(app) == []

    restarted = create_app(settings, clock=clock, run_clock_task=False)
    try:
        # The new process knows the countdown from the record alone.
        assert restarted.state.services.next_deadline() == deadline
        clock.advance(seconds=31)
        assert tick(restarted) == [session_id]
        cookie = farah.cookies[SESSION_COOKIE]
        with TestClient(restarted, headers=JSON, cookies={SESSION_COOKIE: cookie}) as client:
            climbed = only_escalation(client)
            assert (climbed["id"], climbed["step"]) == (eid, 3)
            assert events(client, session_id)[-1]["kind"] == "escalation_climbed"
    finally:
        restarted.state.services.engine.dispose()
        restarted.state.services.write_engine.dispose()


# ------------------------------------------------------------------ follow-ups


def test_serious_events_open_follow_ups_for_the_lead_that_close_only_with_a_contact_note(
    client_for: Clients, lena: TestClient, farah: TestClient, doc: TestClient, session_id: str, clock: Clock
) -> None:
    theo = client_for("theo")
    ada = dosed_participant(farah, doc, session_id, "Ada")
    bo = dosed_participant(farah, doc, session_id, "Bo")
    cy = dosed_participant(farah, doc, session_id, "Cy")
    dee = dosed_participant(farah, doc, session_id, "Dee")
    check_in(farah, session_id, "theo")
    opened_at = clock.now
    due = iso(opened_at + timedelta(hours=48))

    observe(farah, session_id, ada, distress=2)  # low: stays with the room, no follow-up
    assert followups(lena) == []
    observe(farah, session_id, ada, distress=3)  # medium: reaches the lead
    ok(farah.post(part(session_id, bo, "/stop"), json={"requested_by": "participant", "reason": "enough"}))
    handover = {"replacement": {"kind": "staff", "id": "theo"}, "reason": "farah is needed with Ada"}
    ok(lena.post(part(session_id, cy, "/support/handover"), json=handover))
    refused(theo, session_id, lambda: theo.delete(part(session_id, dee, "/support/farah")), 409, "dyad_locked", "theo")

    items = followups(lena)
    by_participant = {f["participant_id"]: f for f in items}
    assert len(items) == 4 and set(by_participant) == {ada, bo, cy, dee}
    assert "Escalated to the lead" in by_participant[ada]["reason"]
    assert "stopped" in by_participant[bo]["reason"]
    assert "farah is needed with Ada" in by_participant[cy]["reason"]
    assert "dyad lock" in by_participant[dee]["reason"] and "theo" in by_participant[dee]["reason"]
    for item in items:
        assert item["owner"] == "lena" and item["session_id"] == session_id
        assert item["due_at"] == due and item["status"] == "open" and item["overdue"] is False
    assert sorted(f["id"] for f in state(farah, session_id)["followups"]) == sorted(f["id"] for f in items)
    assert sorted(f["id"] for f in followups(farah)) == sorted(f["id"] for f in items)

    # Closing needs a note of the contact; without one nothing changes.
    fid = by_participant[bo]["id"]
    seq = state(lena, session_id)["seq"]
    for body in ({}, {"contact_note": ""}):
        assert_error(lena.post(f"{FOLLOWUPS}/{fid}/close", json=body), 422, "validation_error")
    assert_error(lena.post(f"{FOLLOWUPS}/{fid}/close", json={"contact_note": "   "}), 422, "validation_error")
    assert state(lena, session_id)["seq"] == seq
    assert fid in {f["id"] for f in followups(lena)}

    clock.advance(hours=26)
    note = "Called Bo: sleeping well, glad she stopped"
    closed = ok(lena.post(f"{FOLLOWUPS}/{fid}/close", json={"contact_note": note}))
    assert closed["status"] == "closed" and closed["closed_by"] == "lena" and closed["closed_at"] == iso(clock.now)
    assert closed["contact_note"] == note and closed["overdue"] is False
    assert fid not in {f["id"] for f in followups(lena)}
    assert [f["id"] for f in followups(lena, "closed")] == [fid]
    assert_error(lena.post(f"{FOLLOWUPS}/{fid}/close", json={"contact_note": "again"}), 409, "already_closed")

    # Past the due time, the ones still open are overdue (the closed one is not).
    clock.advance(hours=23)  # 49 h after they opened
    still_open = followups(lena)
    assert len(still_open) == 3 and all(f["overdue"] is True for f in still_open)
    assert [f["overdue"] for f in followups(lena, "closed")] == [False]


def test_another_rooms_staff_see_none_of_it_and_cannot_touch_it(
    client_for: Clients, lena: TestClient, farah: TestClient, doc: TestClient, session_id: str
) -> None:
    mika, lou = client_for("mika"), client_for("lou")
    ada = dosed_participant(farah, doc, session_id, "Ada")
    observe(farah, session_id, ada, distress=3)
    ok(farah.post(part(session_id, ada, "/stop"), json={"requested_by": "participant"}))
    eid = only_escalation(lena)["id"]
    fids = {f["id"] for f in followups(lena)}
    assert len(fids) == 2

    # Willow has its own alarm, which its staff do see (so an empty answer is not a broken list).
    willow = open_session(mika, room="willow-room", facilitators=["mika"], lead="lou")
    wren = add_participant(mika, willow, "Wren")
    observe(mika, willow, wren, distress=3)
    for outsider in (mika, lou):
        assert [e["session_id"] for e in escalations(outsider, "all")] == [willow]
        assert {f["session_id"] for f in followups(outsider, "all")} == {willow}
    assert [e["session_id"] for e in escalations(lena, "all")] == [session_id]

    seq = state(lena, session_id)["seq"]
    assert_error(mika.post(f"{ESCALATIONS}/{eid}/ack"), 404, "not_found")
    assert_error(lou.post(f"{ESCALATIONS}/{eid}/resolve", json={"action": "a", "outcome": "b"}), 404, "not_found")
    assert_error(lou.post(f"{ESCALATIONS}/{eid}/mute"), 404, "not_found")
    for fid in fids:
        assert_error(lou.post(f"{FOLLOWUPS}/{fid}/close", json={"contact_note": "called"}), 404, "not_found")
    assert_error(mika.post(f"{ESCALATIONS}/no-such-thing/ack"), 404, "not_found")
    # Nothing happened, not even a record of the attempt in a room they cannot see.
    assert state(lena, session_id)["seq"] == seq
    assert only_escalation(lena)["acknowledged_at"] is None


# ------------------------------------------------------------------ the JSON stream


@pytest.fixture
def live(farah: TestClient) -> Iterator[TestClient]:
    """farah's tablet with the app's lifespan running (the broker bound to the sockets' loop)."""
    with farah:
        yield farah


def next_json(ws: Any, predicate: Callable[[dict[str, Any]], bool], limit: int = 8) -> dict[str, Any]:
    seen = []
    for _ in range(limit):
        message: dict[str, Any] = json.loads(ws.receive_text())
        if predicate(message):
            return message
        seen.append(message)
    raise AssertionError(f"no matching message among {seen}")


def test_the_stream_announces_the_alarm_and_its_changes(live: TestClient, client_for: Clients, session_id: str) -> None:
    theo, lena = client_for("theo"), client_for("lena")
    pid = add_participant(theo, session_id, "Ada")
    with live.websocket_connect(f"{API}/stream") as ws:
        assert json.loads(ws.receive_text())["type"] == "snapshot"
        observe(theo, session_id, pid, distress=3)
        raised = next_json(ws, lambda m: m["type"] == "event" and m["kind"] == "escalation_raised")
        assert raised["session_id"] == session_id and raised["data"]["priority"] == "medium"
        eid = raised["data"]["escalation_id"]
        alarm = next_json(ws, lambda m: m["type"] == "escalation")
        assert (alarm["id"], alarm["priority"], alarm["step"], alarm["status"]) == (eid, "medium", 2, "open")
        assert alarm["participant_id"] == pid and alarm["sounding"] is True

        ok(lena.post(f"{ESCALATIONS}/{eid}/ack"))
        acked = next_json(ws, lambda m: m["type"] == "escalation")
        assert acked["id"] == eid and acked["acknowledged_by"] == "lena" and acked["sounding"] is False


# ------------------------------------------------------------------ a vitals check that is due


def test_a_missed_vitals_check_raises_a_low_reminder_that_recording_vitals_resolves(
    app: Any, farah: TestClient, lena: TestClient, doc: TestClient, session_id: str, clock: Clock
) -> None:
    dosed_at = clock.now
    pid = dosed_participant(farah, doc, session_id, "Ada")
    assert participant(farah, session_id, pid)["vitals_due_at"] == iso(dosed_at + timedelta(minutes=15))

    clock.advance(minutes=14, seconds=59)
    assert tick(app) == [] and escalations(lena) == []
    clock.advance(seconds=1)
    assert tick(app) == [session_id]
    reminder = only_escalation(farah)
    assert (reminder["condition"], reminder["priority"], reminder["step"]) == ("vitals_due", "low", 1)
    assert reminder["deadline"] is None and reminder["sounding"] is False
    assert followups(lena) == []  # a low reminder stays with the room
    # Once raised, it is not raised again on the next ticks.
    clock.advance(minutes=2)
    assert tick(app) == []
    assert len(escalations(farah)) == 1

    seq = state(farah, session_id)["seq"]
    recorded = ok(farah.post(part(session_id, pid, "/vitals"), json=NORMAL_VITALS))
    assert recorded["vitals_due_at"] == iso(clock.now + timedelta(minutes=15))
    new = events(farah, session_id, after=seq)
    assert [e["kind"] for e in new] == ["vitals_recorded", "escalation_resolved"]
    assert new[0]["data"]["next_vitals_due_at"] == iso(clock.now + timedelta(minutes=15))
    assert new[1]["data"]["escalation_id"] == reminder["id"] and new[1]["data"]["automatic"] is True
    assert escalations(farah) == []
    done = only_escalation(farah, "resolved")
    assert done["id"] == reminder["id"] and done["resolved_by"] == "farah" and done["action"] == "Vitals recorded"


# ------------------------------------------------------------------ nobody leaves with an open alarm


def test_discharge_and_close_are_refused_while_an_escalation_is_open(
    farah: TestClient, lena: TestClient, session_id: str
) -> None:
    ada = add_participant(farah, session_id, "Ada")
    observe(farah, session_id, ada, distress=3)
    eid = only_escalation(lena)["id"]
    error = refused(
        farah, session_id, lambda: farah.post(part(session_id, ada, "/discharge")), 409, "escalations_open", "farah"
    )
    assert error["details"]["escalations"] == [eid]
    ok(lena.post(f"{ESCALATIONS}/{eid}/resolve", json={"action": "Talked it through", "outcome": "Settled"}))
    assert ok(farah.post(part(session_id, ada, "/discharge")))["phase"] == "discharged"

    # A transfer to emergency care is never held back, but the session cannot close over an open alarm.
    bo = add_participant(farah, session_id, "Bo")
    observe(farah, session_id, bo, distress=4)
    [alarm] = escalations(lena)
    transfer = {"reason": "Chest pain", "destination": "St Mary's ED"}
    assert ok(farah.post(part(session_id, bo, "/transfer"), json=transfer))["phase"] == "transferred"
    error = refused(farah, session_id, lambda: farah.post(sess(session_id, "/close")), 409, "escalations_open", "farah")
    assert error["details"]["escalations"] == [alarm["id"]]
    ok(lena.post(f"{ESCALATIONS}/{alarm['id']}/resolve", json={"action": "Ambulance called", "outcome": "Transferred"}))
    assert ok(farah.post(sess(session_id, "/close")))["closed_at"] is not None
    # The follow-ups outlive the session: still listed, still closable.
    open_items = followups(lena)
    assert {f["participant_id"] for f in open_items} == {ada, bo}
    closed = ok(lena.post(f"{FOLLOWUPS}/{open_items[0]['id']}/close", json={"contact_note": "Phoned the next day"}))
    assert closed["status"] == "closed"


# ------------------------------------------------------------------ a group disrupted


def test_a_dedicated_facilitator_for_the_participant_who_disrupts_the_group(
    farah: TestClient, lena: TestClient, doc: TestClient, session_id: str
) -> None:
    ada = dosed_participant(farah, doc, session_id, "Ada")
    dosed_participant(farah, doc, session_id, "Bo")
    assert state(lena, session_id)["disrupted_by"] == []
    observe(farah, session_id, ada, distress=3)
    view = state(lena, session_id)
    assert view["kind"] == "group"
    assert view["disrupted_by"] == [{"id": ada, "display_name": "Ada", "distress": 3}]
    assert [e["participant_id"] for e in view["open_escalations"]] == [ada]

    # Only someone checked in to the room can be dedicated to her.
    refused(
        lena,
        session_id,
        lambda: lena.post(part(session_id, ada, "/dedicated-facilitator"), json={"username": "theo"}),
        409,
        "not_checked_in",
        "lena",
    )
    check_in(farah, session_id, "theo")
    answer = ok(lena.post(part(session_id, ada, "/dedicated-facilitator"), json={"username": "theo"}))
    assert answer["dedicated_facilitator"] == "theo"
    assert {s["id"] for s in answer["support"]} == {"farah", "theo"}
    view = state(lena, session_id)
    [card] = [p for p in view["participants"] if p["id"] == ada]
    assert card["dedicated_facilitator"] == "theo"
    assert [p["dedicated_facilitator"] for p in view["participants"] if p["id"] != ada] == [None]
    # Still disrupting while in the room; not once theo has taken her out.
    assert [d["id"] for d in view["disrupted_by"]] == [ada]
    ok(farah.post(part(session_id, ada, "/step-out"), json={"accompanied_by": "theo"}))
    assert state(lena, session_id)["disrupted_by"] == []


def test_the_open_follow_ups_list_folds_only_sessions_that_have_one(
    app: Any, client_for: Clients, lena: TestClient, farah: TestClient, doc: TestClient, monkeypatch: Any
) -> None:
    """A year of sessions without an open follow-up costs the list nothing: it reads the open_item
    projection for the sessions that still have one and folds only those."""
    quiet = open_session(farah)
    ok(farah.post(sess(quiet, "/close")))  # a past session with nothing left open
    sid = open_session(farah)
    ada = dosed_participant(farah, doc, sid, "Ada")
    observe(farah, sid, ada, distress=3)  # reaches the lead: a follow-up opens
    services = app.state.services
    folded: list[str] = []
    real_state = services.state

    def state_of(session_id: str) -> Any:
        folded.append(session_id)
        return real_state(session_id)

    monkeypatch.setattr(services, "state", state_of)
    for who in (lena, client_for("admin")):
        folded.clear()
        followups(who)
        assert quiet not in folded and set(folded) <= {sid}, folded
    open_items = followups(lena)
    assert [f["session_id"] for f in open_items] == [sid]
    everything = ok(lena.get(FOLLOWUPS, params={"status": "all"}))
    assert quiet in folded  # the whole history is read only when it is asked for
    assert [f["id"] for f in everything if f["status"] == "open"] == [f["id"] for f in open_items]
