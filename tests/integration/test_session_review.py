"""The afterwards, honest by construction: sessions built through the API with a hand-moved clock,
and every figure of the session review, the replay and the response report checked exactly.

The two stories of PRODUCT.md: the room nobody held (a participant in acute distress through a
group session; the lead saw it and did nothing for ten minutes), and the broken dyad (staff try to
take a journeyer's partner away while she is altered, and ask her to consent to it)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Clock
from tests.integration.helpers import (
    API,
    CONSENT,
    NORMAL_VITALS,
    add_participant,
    assert_error,
    dose,
    dosed_participant,
    events,
    ok,
    open_session,
    part,
    ready_participant,
    refused,
    sess,
    state,
)

Clients = Callable[[str], TestClient]


def iso(moment: datetime) -> str:
    return moment.isoformat()


def tick(app: Any) -> list[str]:
    fired: list[str] = app.state.services.tick_due()
    return fired


def seen(client: TestClient, sid: str, ids: list[str], device: str, key: str | None = None) -> dict[str, Any]:
    headers = {"X-Holdspace-Device": device}
    if key:
        headers["Idempotency-Key"] = key
    answer: dict[str, Any] = ok(client.post(sess(sid, "/seen"), json={"escalation_ids": ids}, headers=headers))
    return answer


def review(client: TestClient, sid: str) -> dict[str, Any]:
    found: dict[str, Any] = ok(client.get(sess(sid, "/review")))
    return found


# ------------------------------------------------------------------ the room nobody held


@pytest.fixture
def disrupted(app: Any, client_for: Clients, clock: Clock) -> dict[str, Any]:
    """A group session: Ada journeys with farah as her support; four others have arrived. Only
    farah is checked in (the ratio asks for two facilitators for five participants) until theo
    comes at 30 min. At 1 min Ada is at distress 3; the lead saw it and left it ten minutes."""
    farah, lena, theo, doc = (client_for(u) for u in ("farah", "lena", "theo", "dr.ade"))
    t0 = clock.now
    sid = open_session(farah)
    ada = ready_participant(farah, sid, "Ada")
    others = [add_participant(farah, sid, name) for name in ("Ben", "Cleo", "Dov", "Eli")]
    dose(doc, sid, ada)

    clock.advance(minutes=1)  # t0 + 1:00
    ok(farah.post(part(sid, ada, "/observations"), json={"distress": 3}))
    [alarm] = state(lena, sid)["open_escalations"]
    eid = alarm["id"]

    clock.advance(seconds=5)  # t0 + 1:05: the room's tablet is visible
    assert seen(farah, sid, [eid], "cedar-tablet")["recorded"] == [eid]
    clock.advance(seconds=15)  # t0 + 1:20: the lead's laptop shows it
    first = seen(lena, sid, [eid], "lead-laptop", key="k-1")
    assert first["recorded"] == [eid]
    clock.advance(seconds=40)  # t0 + 2:00: nobody acknowledged: it climbs to step 3
    assert tick(app) == [sid]
    # The lead's screen keeps reporting it; only the first sighting is a fact.
    seq = state(lena, sid)["seq"]
    assert seen(lena, sid, [eid], "lead-laptop", key="k-1") == first  # the same request again
    assert seen(lena, sid, [eid], "lead-tablet", key="k-2")["recorded"] == []
    assert state(lena, sid)["seq"] == seq

    clock.advance(minutes=9)  # t0 + 11:00
    ok(lena.post(f"{API}/escalations/{eid}/ack"))
    clock.advance(minutes=3)  # t0 + 14:00: vitals on time (due at 15 min)
    ok(farah.post(part(sid, ada, "/vitals"), json=NORMAL_VITALS))
    clock.advance(minutes=2)  # t0 + 16:00
    ok(
        lena.post(
            f"{API}/escalations/{eid}/resolve",
            json={"action": "theo sat with her in the side room", "outcome": "Distress 1 after 4 min"},
        )
    )
    clock.advance(minutes=4)  # t0 + 20:00
    ok(farah.post(part(sid, ada, "/observations"), json={"distress": 1}))
    clock.advance(minutes=6)  # t0 + 26:00: the check-in due at 20 min went unanswered
    assert tick(app) == [sid]
    clock.advance(minutes=4)  # t0 + 30:00
    ok(theo.post(sess(sid, "/facilitators/theo/check-in")))
    clock.advance(minutes=10)  # t0 + 40:00
    return {"sid": sid, "ada": ada, "others": others, "eid": eid, "t0": t0, "lena": lena, "farah": farah}


def test_the_room_nobody_held_every_figure_of_the_review(disrupted: dict[str, Any], client_for: Clients) -> None:
    sid, ada, eid, t0, lena = (disrupted[k] for k in ("sid", "ada", "eid", "t0", "lena"))
    found = review(lena, sid)

    assert found["session"]["lead"] == "lena" and found["session"]["closed_at"] is None
    assert found["session"]["until"] == iso(t0 + timedelta(minutes=40))
    [alarm] = found["alarms"]
    assert alarm["id"] == eid and alarm["participant_id"] == ada and alarm["participant_name"] == "Ada"
    assert (alarm["condition"], alarm["raised_priority"], alarm["priority"]) == ("distress", "medium", "medium")
    assert alarm["raised_at"] == iso(t0 + timedelta(minutes=1)) and alarm["raised_by"] == "farah"
    assert [(s["kind"], s["at"], s["by"], s["step"]) for s in alarm["steps"]] == [
        ("raised", iso(t0 + timedelta(minutes=1)), "farah", 2),
        ("climbed", iso(t0 + timedelta(minutes=2)), "system", 3),
        ("acknowledged", iso(t0 + timedelta(minutes=11)), "lena", 3),
        ("resolved", iso(t0 + timedelta(minutes=16)), "lena", 3),
    ]
    assert alarm["highest_step"] == 3
    assert alarm["seen"] == [
        {"username": "farah", "at": iso(t0 + timedelta(minutes=1, seconds=5)), "device": "cedar-tablet"},
        {"username": "lena", "at": iso(t0 + timedelta(minutes=1, seconds=20)), "device": "lead-laptop"},
    ]
    assert alarm["first_seen_at"] == iso(t0 + timedelta(minutes=1, seconds=5))
    assert (alarm["acknowledged_by"], alarm["resolved_by"]) == ("lena", "lena")
    assert alarm["action"] == "theo sat with her in the side room" and alarm["outcome"] == "Distress 1 after 4 min"
    assert (alarm["seconds_to_first_seen"], alarm["seconds_to_acknowledge"], alarm["seconds_to_resolve"]) == (
        5.0,
        600.0,
        900.0,
    )

    by_name = {p["display_name"]: p for p in found["participants"]}
    # Distress 3 from 1:00; acknowledged at 11:00: ten minutes with nobody answering.
    assert by_name["Ada"]["unattended_distress_seconds"] == 600.0
    assert by_name["Ada"]["unattended_distress_minutes"] == 10.0
    assert by_name["Ada"]["without_support_seconds"] == 0.0
    assert all(by_name[n]["unattended_distress_seconds"] == 0.0 for n in ("Ben", "Cleo", "Dov", "Eli"))
    # One facilitator for five participants from the dose (0:00) until theo came at 30:00.
    assert found["room"] == {
        "room_id": "cedar-room",
        "uncovered_seconds": 0.0,
        "uncovered_minutes": 0.0,
        "under_ratio_seconds": 1800.0,
        "under_ratio_minutes": 30.0,
    }
    assert found["refusals"] == []
    assert found["missed_checkins"] == [
        {
            "participant_id": ada,
            "participant_name": "Ada",
            "due_at": iso(t0 + timedelta(minutes=20)),
            "recorded_at": iso(t0 + timedelta(minutes=26)),
        }
    ]
    [followup] = found["followups"]
    assert followup["reason"].startswith("Escalated to the lead: Ada: Distress 3")
    assert (followup["owner"], followup["state"], followup["opened_by"]) == ("lena", "open", "farah")
    assert followup["due_at"] == iso(t0 + timedelta(minutes=1, hours=48))
    assert followup["climbs_at"] == iso(t0 + timedelta(minutes=1, hours=72))
    assert found["totals"] == {
        "alarms": 1,
        "unattended_distress_minutes": 10.0,
        "dyad_lock_refusals": 0,
        "refusals": 0,
        "missed_checkins": 1,
        "followups_open": 1,
    }

    # The same figures on the page and in the PDF.
    page = lena.get(f"/sessions/{sid}/review")
    assert page.status_code == 200
    assert "10.0 min at distress 2+ without an acknowledged response" in page.text
    assert "<svg" in page.text and "lead-laptop" in page.text
    pdf = lena.get(sess(sid, "/review.pdf"))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and len(pdf.content) > 2000


def test_replay_folds_the_log_to_any_event(disrupted: dict[str, Any]) -> None:
    sid, ada, eid, t0, lena = (disrupted[k] for k in ("sid", "ada", "eid", "t0", "lena"))
    log = events(lena, sid)
    raised = next(e["seq"] for e in log if e["kind"] == "escalation_raised")
    acked = next(e["seq"] for e in log if e["kind"] == "escalation_acknowledged")

    before = ok(lena.get(sess(sid, "/state"), params={"at_seq": raised - 1}))
    assert before["open_escalations"] == [] and before["seq"] == raised - 1
    at_raise = ok(lena.get(sess(sid, "/state"), params={"at_seq": raised}))
    [open_alarm] = at_raise["open_escalations"]
    assert (open_alarm["id"], open_alarm["step"], open_alarm["acknowledged_by"]) == (eid, 2, None)
    assert at_raise["at"] == iso(t0 + timedelta(minutes=1)) and at_raise["facilitators_present"] == ["farah"]
    assert next(p for p in at_raise["participants"] if p["id"] == ada)["distress"] == 3
    at_ack = ok(lena.get(sess(sid, "/state"), params={"at_seq": acked}))
    assert at_ack["open_escalations"][0]["acknowledged_by"] == "lena"
    # The whole log is the state screens show now.
    now = ok(lena.get(sess(sid, "/state")))
    assert now["seq"] == state(lena, sid)["seq"] and now["facilitators_present"] == ["farah", "theo"]
    assert_error(lena.get(sess(sid, "/state"), params={"at_seq": now["seq"] + 1}), 422, "validation_error")
    assert_error(lena.get(sess(sid, "/state"), params={"at_seq": -1}), 422, "validation_error")

    page = lena.get(f"/sessions/{sid}/replay", params={"seq": raised})
    assert page.status_code == 200
    assert f"Event {raised} of {now['seq']}" in page.text and "on screen for: nobody yet" in page.text
    later = lena.get(f"/sessions/{sid}/replay", params={"seq": acked})
    assert "on screen for: farah, lena" in later.text and "acknowledged by lena" in later.text
    by_time = lena.get(f"/sessions/{sid}/replay", params={"at": iso(t0 + timedelta(minutes=1, seconds=30))})
    assert f"Event {raised + 3} of" in by_time.text  # raised, its follow-up, and two sightings


def test_the_response_report_sums_the_reviews(disrupted: dict[str, Any], client_for: Clients, clock: Clock) -> None:
    sid, t0 = disrupted["sid"], disrupted["t0"]
    admin = client_for("admin")
    params = {"from": iso(t0 - timedelta(days=1)), "to": iso(t0 + timedelta(days=1))}
    report = ok(admin.get(f"{API}/reports/response", params=params))
    assert report["sessions"] == 1
    [lead] = report["by_lead"]
    [room] = report["by_room"]
    assert (lead["key"], room["key"], room["name"]) == ("lena", "cedar-room", "Cedar Room")
    for row in (lead, room):
        assert row["alarms"] == {"high": 0, "medium": 1, "low": 0}
        assert row["seconds_to_first_seen"] == {"median": 5.0, "p90": 5.0}
        assert row["seconds_to_acknowledge"] == {"median": 600.0, "p90": 600.0}
        assert row["seconds_to_resolve"] == {"median": 900.0, "p90": 900.0}
        assert row["unattended_distress_minutes"] == 10.0
        assert (row["dyad_lock_refusals"], row["followups_opened"], row["followups_closed"]) == (0, 1, 0)
        assert row["followups_overdue"] == 0

    as_csv = admin.get(f"{API}/reports/response", params=params, headers={"Accept": "text/csv"})
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    lines = [line for line in as_csv.text.splitlines() if not line.startswith("#")]
    rows = list(csv.DictReader(io.StringIO("\n".join(lines))))
    assert [(r["group"], r["key"]) for r in rows] == [("lead", "lena"), ("room", "cedar-room")]
    assert rows[0]["alarms_medium"] == "1" and rows[0]["seconds_to_acknowledge_median"] == "600.0"
    assert admin.get(f"{API}/reports/response", params={**params, "format": "csv"}).text == as_csv.text

    # A range outside the session holds nothing; a reversed or unbounded range is refused.
    empty = ok(
        admin.get(
            f"{API}/reports/response", params={"from": iso(t0 + timedelta(days=2)), "to": iso(t0 + timedelta(days=3))}
        )
    )
    assert empty["sessions"] == 0 and empty["by_lead"] == []
    assert_error(
        admin.get(f"{API}/reports/response", params={"from": params["to"], "to": params["from"]}),
        422,
        "validation_error",
    )
    assert_error(
        admin.get(f"{API}/reports/response", params={"from": iso(t0 - timedelta(days=400)), "to": params["to"]}),
        422,
        "validation_error",
    )
    assert_error(admin.get(f"{API}/reports/response", params={"from": "yesterday"}), 422, "validation_error")

    # The lead reads her own; a facilitator does not read the clinic's report; the page renders.
    assert ok(disrupted["lena"].get(f"{API}/reports/response", params=params))["sessions"] == 1
    assert ok(client_for("lou").get(f"{API}/reports/response", params=params))["sessions"] == 0
    assert_error(disrupted["farah"].get(f"{API}/reports/response", params=params), 404, "not_found")
    page = admin.get("/reports", params={"from": t0.date().isoformat()})
    assert page.status_code == 200 and "Cedar Room" in page.text and "<svg" in page.text
    # A bare date as `to` means through that whole day.
    day = ok(admin.get(f"{API}/reports/response", params={"from": t0.date().isoformat(), "to": t0.date().isoformat()}))
    assert day["sessions"] == 1 and day["to"] == iso(datetime.combine(t0.date() + timedelta(days=1), time(), UTC))

    # Three days on, the follow-up is overdue and has climbed to the clinic's admins.
    clock.advance(hours=72)
    later = ok(admin.get(f"{API}/reports/response", params=params))
    assert later["by_lead"][0]["followups_overdue"] == 1
    [climbed] = ok(admin.get(f"{API}/followups"))
    assert climbed["session_id"] == sid and climbed["state"] == "escalated"
    assert climbed["owners"] == ["lena", "@admins"]
    page = admin.get("/reports")
    assert "s admins (1)</h2>" in page.text and climbed["id"] in page.text
    assert_error(disrupted["farah"].get("/reports", headers={"Accept": "application/json"}), 404, "not_found")
    assert_error(admin.post(f"{API}/followups/{climbed['id']}/close", json={}), 422, "validation_error")
    closed = ok(admin.post(f"{API}/followups/{climbed['id']}/close", json={"contact_note": "Called Ada; she is well"}))
    assert closed["status"] == "closed" and closed["closed_by"] == "admin"
    assert ok(admin.get(f"{API}/followups")) == []
    assert [f["id"] for f in ok(admin.get(f"{API}/followups", params={"status": "all"}))] == [climbed["id"]]
    done = ok(admin.get(f"{API}/reports/response", params=params))["by_lead"][0]
    assert (done["followups_closed"], done["followups_overdue"]) == (1, 0)


def test_who_may_read_the_review_replay_and_report(disrupted: dict[str, Any], client_for: Clients) -> None:
    sid = disrupted["sid"]
    # The session's lead and the clinic's admins read everything; a facilitator of the session its review.
    for user in ("lena", "admin"):
        client = client_for(user)
        assert client.get(sess(sid, "/review")).status_code == 200
        assert client.get(sess(sid, "/state")).status_code == 200
        assert client.get(f"/sessions/{sid}/replay").status_code == 200
    farah = disrupted["farah"]
    assert farah.get(sess(sid, "/review")).status_code == 200
    assert_error(farah.get(sess(sid, "/state")), 404, "not_found")
    assert farah.get(f"/sessions/{sid}/replay", headers={"Accept": "application/json"}).status_code == 404
    # Nobody sees another room's: a lead and a facilitator of Willow, and the prescriber, get 404.
    for user in ("lou", "mika", "dr.ade"):
        client = client_for(user)
        assert_error(client.get(sess(sid, "/review")), 404, "not_found")
        assert client.get(sess(sid, "/review.pdf")).status_code == 404
        assert_error(client.get(sess(sid, "/state")), 404, "not_found")
    assert_error(
        client_for("mika").post(sess(sid, "/seen"), json={"escalation_ids": [disrupted["eid"]]}), 404, "not_found"
    )


# ------------------------------------------------------------------ the broken dyad


def test_the_broken_dyad_refusals_with_who_tried_and_repair_owned_by_someone_else(
    client_for: Clients, clock: Clock
) -> None:
    farah, lena, doc = (client_for(u) for u in ("farah", "lena", "dr.ade"))
    t0 = clock.now
    sid = open_session(farah, kind="dyad_training", facilitators=["farah"])
    partner = ready_participant(farah, sid, "Cam")
    bea = ready_participant(farah, sid, "Bea", support=partner, support_kind="participant")
    dose(doc, sid, bea)
    clock.advance(minutes=50)
    ok(farah.post(part(sid, bea, "/phase"), json={"to": "journeying"}))
    clock.advance(minutes=40)
    ok(farah.post(part(sid, bea, "/phase"), json={"to": "re_entry"}))

    clock.advance(minutes=2)  # coming out, still disoriented: take her partner away, and ask her to agree
    refused(farah, sid, lambda: farah.delete(part(sid, bea, f"/support/{partner}")), 409, "dyad_locked", "farah")
    clock.advance(minutes=1)
    refused(
        farah,
        sid,
        lambda: farah.put(part(sid, bea, "/consent"), json={**CONSENT, "touch": ["hand", "shoulder", "hug"]}),
        409,
        "consent_not_valid_in_altered_state",
        "farah",
    )
    clock.advance(minutes=1)  # the lead tries it herself: the repair is not hers to own
    refused(lena, sid, lambda: lena.delete(part(sid, bea, f"/support/{partner}")), 409, "dyad_locked", "lena")

    found = review(lena, sid)
    assert [(r["actor"], r["command"], r["code"], r["participant_name"], r["at"]) for r in found["refusals"]] == [
        ("farah", "remove_support", "dyad_locked", "Bea", iso(t0 + timedelta(minutes=92))),
        ("farah", "record_consent", "consent_not_valid_in_altered_state", "Bea", iso(t0 + timedelta(minutes=93))),
        ("lena", "remove_support", "dyad_locked", "Bea", iso(t0 + timedelta(minutes=94))),
    ]
    assert found["totals"]["dyad_lock_refusals"] == 2
    assert [(f["owner"], f["participant_id"], f["state"]) for f in found["followups"]] == [
        ("lena", bea, "open"),
        ("@admins", bea, "open"),
    ]
    # Her partner stayed with her the whole time: no minute without an available support person.
    assert {p["display_name"]: p["without_support_seconds"] for p in found["participants"]} == {"Cam": 0.0, "Bea": 0.0}
    assert found["alarms"] == []
    # The follow-up about the lead's own conduct is the admins' from the start.
    admin = client_for("admin")
    assert [f["owner"] for f in ok(admin.get(f"{API}/followups"))] == ["@admins"]


def test_a_follow_up_opened_after_the_session_in_the_participants_words(client_for: Clients, clock: Clock) -> None:
    farah, lena, doc, theo = (client_for(u) for u in ("farah", "lena", "dr.ade", "theo"))
    sid = open_session(farah)
    ada = dosed_participant(farah, doc, sid, "Ada")
    body = {
        "session_id": sid,
        "participant_id": ada,
        "reason": "Ada says the lead ignored her distress",
        "account": "I was shaking and nobody came for a long time.",
        "concerns_lead": True,
    }
    # About the lead's own conduct: the lead cannot be its owner.
    before = state(lena, sid)["seq"]
    assert_error(theo.post(f"{API}/followups", json={**body, "owner": "lena"}), 409, "owner_is_subject")
    refusal = events(lena, sid, after=before)
    assert [(e["kind"], e["actor"], e["data"]["code"]) for e in refusal] == [
        ("command_refused", "theo", "owner_is_subject")
    ]
    opened = ok(theo.post(f"{API}/followups", json=body, headers={"Idempotency-Key": "concern-1"}), 201)
    assert (opened["owner"], opened["opened_by"], opened["concerns_lead"]) == ("@admins", "theo", True)
    assert opened["account"] == body["account"] and opened["state"] == "open"
    again = ok(theo.post(f"{API}/followups", json=body, headers={"Idempotency-Key": "concern-1"}), 201)
    assert again == opened
    named = ok(theo.post(f"{API}/followups", json={**body, "owner": "farah"}), 201)
    assert named["owner"] == "farah"
    plain = ok(
        farah.post(f"{API}/followups", json={k: body[k] for k in ("session_id", "participant_id", "reason")}), 201
    )
    assert plain["owner"] == "lena" and plain["concerns_lead"] is False
    assert_error(theo.post(f"{API}/followups", json={**body, "owner": "nobody"}), 422, "validation_error")
    assert_error(theo.post(f"{API}/followups", json={**body, "reason": ""}), 422, "validation_error")
    assert_error(client_for("mika").post(f"{API}/followups", json=body), 404, "not_found")

    # Closing still needs a note of the contact; the chart record lists each and how it closed.
    assert_error(
        farah.post(f"{API}/followups/{named['id']}/close", json={"contact_note": " "}), 422, "validation_error"
    )
    ok(farah.post(f"{API}/followups/{named['id']}/close", json={"contact_note": "Met Ada; apology and a plan"}))
    record = ok(farah.get(part(sid, ada, "/export.json")))
    listed = {f["id"]: f for f in record["followups"]}
    assert listed[named["id"]]["contact_note"] == "Met Ada; apology and a plan"
    assert listed[named["id"]]["status"] == "closed" and listed[named["id"]]["closed_by"] == "farah"
    assert listed[opened["id"]]["account"] == body["account"] and listed[opened["id"]]["status"] == "open"


def test_the_rooms_page_links_the_reviews_each_person_may_read(client_for: Clients) -> None:
    farah = client_for("farah")
    sid = open_session(farah, kind="individual", facilitators=["farah"])
    pid = add_participant(farah, sid, "Ada")
    ok(farah.post(part(sid, pid, "/transfer"), json={"reason": "chose not to go ahead", "destination": "home"}))
    ok(client_for("lena").post(sess(sid, "/close")))
    link = f'href="/sessions/{sid}/review"'
    for user in ("farah", "lena", "admin"):
        assert link in client_for(user).get("/rooms").text, user
    for user in ("theo", "mika", "lou", "dr.ade"):  # not of this session, or not of this room
        assert link not in client_for(user).get("/rooms").text, user
    assert 'href="/reports"' in client_for("lena").get("/rooms").text
    assert 'href="/reports"' not in farah.get("/rooms").text


def test_an_alarm_that_reached_every_lead_is_seen_from_another_rooms_overview(client_for: Clients) -> None:
    farah, doc, lou, mika = (client_for(u) for u in ("farah", "dr.ade", "lou", "mika"))
    sid = open_session(farah)
    ada = dosed_participant(farah, doc, sid, "Ada")
    ben = dosed_participant(farah, doc, sid, "Ben")
    ok(farah.post(part(sid, ada, "/observations"), json={"distress": 4}))  # high: step 3 at once
    ok(farah.post(part(sid, ben, "/observations"), json={"distress": 2}))  # low: the room only
    alarms = {e["participant_id"]: e["id"] for e in state(farah, sid)["open_escalations"]}
    assert seen(lou, sid, [alarms[ada]], "willow-laptop")["recorded"] == [alarms[ada]]
    # What never reached him is not his to have seen, and a facilitator of another room sees none.
    assert_error(lou.post(sess(sid, "/seen"), json={"escalation_ids": [alarms[ben]]}), 404, "not_found")
    assert_error(mika.post(sess(sid, "/seen"), json={"escalation_ids": [alarms[ada]]}), 404, "not_found")
    assert_error(client_for("admin").post(sess(sid, "/seen"), json={"escalation_ids": [alarms[ada]]}), 404, "not_found")
    sightings = [(e["actor"], e["device"]) for e in events(farah, sid) if e["kind"] == "escalation_seen"]
    assert sightings == [("lou", "willow-laptop")]
    assert_error(farah.post(sess(sid, "/seen"), json={"escalation_ids": []}), 422, "validation_error")
    assert_error(farah.post(sess(sid, "/seen"), json={"escalation_ids": ["x"] * 51}), 422, "validation_error")


def test_closed_reviews_are_cached_within_a_bound_and_folded_again_when_the_log_grows(
    app: Any, client_for: Clients
) -> None:
    from app.reviews import Reviews

    farah, lena, doc = (client_for(u) for u in ("farah", "lena", "dr.ade"))
    closed = []
    for _ in range(2):
        sid = open_session(farah, kind="individual", facilitators=["farah"])
        pid = dosed_participant(farah, doc, sid, "Ada")
        ok(farah.post(part(sid, pid, "/stop"), json={"requested_by": "participant"}))  # opens a follow-up
        ok(farah.post(part(sid, pid, "/transfer"), json={"reason": "wished to go", "destination": "hospital"}))
        ok(lena.post(sess(sid, "/close")))
        closed.append(sid)
    reviews = Reviews(app.state.services, cache_size=1)
    first = reviews.review(closed[0])
    assert reviews.review(closed[0]) is first  # a closed session's log did not change: not folded again
    second = reviews.review(closed[1])
    assert list(reviews._cache) == [closed[1]]  # the bound: the least recently used went out
    assert reviews.review(closed[0]) is not first and reviews.review(closed[0]) == first
    # A follow-up closed after the session adds to its log: the review is folded again.
    [followup] = second.followups
    ok(farah.post(f"{API}/followups/{followup.followup.id}/close", json={"contact_note": "Called; she is well"}))
    again = reviews.review(closed[1])
    assert again is not second and again.followups[0].state == "closed" and again.seq == second.seq + 1
