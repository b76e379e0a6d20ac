"""Through the API: times a client sends are sane, late entries keep both times everywhere,
a refused dose lists everything it still needs, and an upgraded alarm shows when it became what it is.

Each bad time or wrongly typed value is a 422 `validation_error` naming the field in
`details.field`, and leaves no trace at all."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Clock
from tests.integration.helpers import (
    API,
    CONSENT,
    add_participant,
    assign_support,
    check_in,
    consent,
    dosed_participant,
    events,
    invalid,
    ok,
    part,
    ready_participant,
    refused,
    screen,
    state,
)

Clients = Callable[[str], TestClient]
SCREENING = {"contraindications": {"psychosis_history": False}, "bp": {"sbp": 118, "dbp": 76}}

# (method, path, body without the time, the time's field, who sends it)
TIMED = [
    ("post", "/vitals", {"sbp": 120}, "observed_at", "farah"),
    ("post", "/observations", {"distress": 1}, "observed_at", "farah"),
    ("post", "/notes", {"kind": "intention", "text": "to stay with what comes"}, "observed_at", "farah"),
    ("put", "/screening", SCREENING, "observed_at", "farah"),
    ("put", "/consent", CONSENT, "observed_at", "farah"),
    ("post", "/dose", {"route": "sublingual", "dose_mg": 50}, "administered_at", "dr.ade"),
]


def insane_times(opened: datetime) -> list[Any]:
    return [
        "0001-01-01T00:00:00+00:00",
        "0001-01-01T00:00:00+01:00",  # converting to UTC overflows
        "9999-12-31T23:59:59-01:00",  # so does this
        "1970-01-01T00:00:00Z",
        (opened - timedelta(hours=24, seconds=1)).isoformat(),
        (opened + timedelta(days=30)).isoformat(),
        0,  # a JSON 0 is not 1970
        1700000000,
        "0",
        "1700000000",
        "2026-11-30",  # a day is not a time
        "10:00:00+01:00",
        "2026-11-30T10:00:00",  # no offset
        True,
        {},
    ]


def test_an_insane_time_is_a_422_naming_the_field_and_nothing_is_recorded(
    client_for: Clients, session_id: str, clock: Clock
) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    opened = clock.now
    clock.advance(hours=1)
    pid = ready_participant(farah, session_id)
    clients = {"farah": farah, "dr.ade": doc}
    for method, path, body, field, who in TIMED:
        client = clients[who]
        for when in insane_times(opened):
            error = invalid(
                farah,
                session_id,
                lambda client=client, method=method, path=path, body=body, field=field, when=when: getattr(
                    client, method
                )(part(session_id, pid, path), json={**body, field: when}),
            )
            assert error["details"]["field"] == field, (path, when, error)
    # The record is whole and every page and chart of it still opens.
    assert ok(farah.get(part(session_id, pid)))["phase"] == "screened"
    page = farah.get(f"/sessions/{session_id}/participants/{pid}", headers={"Accept": "text/html"})
    assert page.status_code == 200
    started = time.monotonic()
    pdf = farah.get(part(session_id, pid, "/export.pdf"))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert time.monotonic() - started < 30


def test_times_within_the_window_are_accepted_and_stored_in_utc(
    client_for: Clients, session_id: str, clock: Clock
) -> None:
    farah = client_for("farah")
    opened = clock.now
    clock.advance(hours=1)
    pid = add_participant(farah, session_id)
    earliest = opened - timedelta(hours=24)
    ok(farah.post(part(session_id, pid, "/vitals"), json={"sbp": 120, "observed_at": earliest.isoformat()}))
    in_berlin = "{}+01:00".format((clock.now - timedelta(minutes=5) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"))
    ok(farah.post(part(session_id, pid, "/observations"), json={"distress": 1, "observed_at": in_berlin}))
    stored = [
        e["data"]["observed_at"]
        for e in events(farah, session_id)
        if e["kind"] in ("vitals_recorded", "observation_recorded")
    ]
    assert stored == [earliest.astimezone(UTC).isoformat(), (clock.now - timedelta(minutes=5)).isoformat()]


STRICT = [
    ("put", "/consent", {**CONSENT, "music": 0}, "music"),
    ("put", "/consent", {**CONSENT, "signed_by_participant": 1}, "signed_by_participant"),
    ("put", "/consent", {**CONSENT, "eyeshades": "false"}, "eyeshades"),
    ("put", "/screening", {**SCREENING, "contraindications": {"pregnancy": 0}}, "contraindications.pregnancy"),
    ("put", "/screening", {"bp": {"sbp": True, "dbp": 76}}, "bp.sbp"),
    ("post", "/observations", {"distress": True}, "distress"),
    ("post", "/observations", {"moaa_s": False}, "moaa_s"),
    ("post", "/vitals", {"hr": True}, "hr"),
    ("post", "/dose", {"route": "sublingual", "dose_mg": True}, "dose_mg"),
    ("post", "/dose", {"route": "intravenous", "dose_mg": 35, "infusion_minutes": True}, "infusion_minutes"),
    ("post", "/consent/checkin", {"ok": 0}, "ok"),
    ("post", "/consent/checkin", {"ok": "yes"}, "ok"),
    (
        "post",
        "/resume",
        {"requested_by": "participant", "participant_wishes_to_continue": 1},
        "participant_wishes_to_continue",
    ),
    ("post", "/checklist/oriented", {"done": 1}, "done"),
    ("post", "/amend", {"event_seq": True, "correction": "x", "reason": "y"}, "event_seq"),
]


@pytest.mark.parametrize("method, path, body, field", STRICT, ids=[f"{p}:{f}" for _, p, _, f in STRICT])
def test_numbers_are_not_yes_or_no_and_yes_or_no_is_not_a_number(
    client_for: Clients, session_id: str, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    pid = (
        dosed_participant(farah, doc, session_id)
        if path in ("/consent/checkin", "/resume", "/checklist/oriented")
        else ready_participant(farah, session_id)
    )
    client = doc if path == "/dose" else farah
    error = invalid(farah, session_id, lambda: getattr(client, method)(part(session_id, pid, path), json=body))
    assert error["details"]["field"] == field


# ------------------------------------------------------------------ late entries: screening and the agreement


def test_paper_first_screening_and_agreement_typed_later_keep_both_times_and_do_not_block_the_dose(
    client_for: Clients, session_id: str, clock: Clock
) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    start = clock.now
    pid = add_participant(farah, session_id)
    assign_support(farah, session_id, pid, "farah")
    check_in(farah, session_id, "farah")
    screened, signed, given = start + timedelta(minutes=1), start + timedelta(minutes=5), start + timedelta(minutes=20)

    clock.advance(minutes=40)
    view = screen(farah, session_id, pid, observed_at=screened.isoformat())
    assert (view["screening_observed_at"], view["screening_recorded_at"], view["screening_late"]) == (
        screened.isoformat(),
        clock.now.isoformat(),
        True,
    )
    clock.advance(minutes=2)
    view = consent(farah, session_id, pid, observed_at=signed.isoformat())
    assert (view["consent_observed_at"], view["consent_recorded_at"], view["consent_late"]) == (
        signed.isoformat(),
        clock.now.isoformat(),
        True,
    )
    clock.advance(minutes=3)
    dosed = ok(
        doc.post(
            part(session_id, pid, "/dose"),
            json={"route": "sublingual", "dose_mg": 50, "administered_at": given.isoformat()},
        )
    )
    assert dosed["phase"] == "dosed" and dosed["dosed_at"] == given.isoformat()

    recorded = {e["kind"]: e for e in events(farah, session_id) if e.get("participant_id") == pid}
    for kind, observed in (("screening_recorded", screened), ("consent_recorded", signed)):
        assert recorded[kind]["data"]["observed_at"] == observed.isoformat() and recorded[kind]["data"]["late"] is True
        assert recorded[kind]["at"] > observed.isoformat()

    page = farah.get(f"/sessions/{session_id}/participants/{pid}", headers={"Accept": "text/html"})
    assert page.status_code == 200
    screening_panel = page.text.split('data-testid="screening"')[1].split("</section>")[0]
    agreement_panel = page.text.split('data-testid="agreement"')[1].split("</section>")[0]
    assert re.search(r"Done \d\d:\d\d · entered late, at \d\d:\d\d", screening_panel), screening_panel
    assert re.search(r"Signed \d\d:\d\d · entered late, at \d\d:\d\d", agreement_panel), agreement_panel


def test_screening_and_agreement_entered_at_the_time_are_not_marked_late(client_for: Clients, session_id: str) -> None:
    farah = client_for("farah")
    pid = add_participant(farah, session_id)
    screen(farah, session_id, pid)
    view = consent(farah, session_id, pid)
    assert view["screening_late"] is False and view["consent_late"] is False
    assert view["screening_observed_at"] == view["screening_recorded_at"]
    page = farah.get(f"/sessions/{session_id}/participants/{pid}", headers={"Accept": "text/html"})
    assert "entered late" not in page.text


# ------------------------------------------------------------------ refusals that explain


def test_a_dose_for_an_unscreened_participant_says_screening_not_cleared_and_lists_everything(
    client_for: Clients, session_id: str
) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    pid = add_participant(farah, session_id, "Rowan")
    assert state(farah, session_id)["facilitators_present"] == []
    before = ok(farah.get(part(session_id, pid)))
    assert [m["key"] for m in before["dose_missing"]] == ["screening", "agreement", "support", "facilitator_present"]
    error = refused(
        farah,
        session_id,
        lambda: doc.post(part(session_id, pid, "/dose"), json={"route": "sublingual", "dose_mg": 50}),
        409,
        "screening_not_cleared",
        "dr.ade",
    )
    assert error["details"]["missing"] == ["screening", "agreement", "support", "facilitator_present"]
    assert error["message"] == (
        "Rowan cannot be dosed yet. Still missing: a screening (blood pressure and contraindications); "
        "the complete pre-session agreement, signed by the participant; a support person assigned; "
        "a facilitator checked in to the room."
    )
    assert events(farah, session_id)[-1]["data"]["message"] == error["message"]

    screen(farah, session_id, pid, sbp=152, dbp=96)
    assign_support(farah, session_id, pid, "farah")
    error = refused(
        farah,
        session_id,
        lambda: doc.post(part(session_id, pid, "/dose"), json={"route": "sublingual", "dose_mg": 50}),
        409,
        "screening_not_cleared",
        "dr.ade",
    )
    assert error["details"] == {
        "missing": ["prescriber_clearance", "agreement", "facilitator_present"],
        "flags": ["bp_above_140/90"],
    }

    ok(doc.post(part(session_id, pid, "/screening/clear"), json={"note": "rechecked 138/88"}))
    error = refused(
        farah,
        session_id,
        lambda: doc.post(part(session_id, pid, "/dose"), json={"route": "sublingual", "dose_mg": 50}),
        409,
        "consent_incomplete",
        "dr.ade",
    )
    assert error["details"] == {"missing": ["agreement", "facilitator_present"]}
    consent(farah, session_id, pid)
    error = refused(
        farah,
        session_id,
        lambda: doc.post(part(session_id, pid, "/dose"), json={"route": "sublingual", "dose_mg": 50}),
        409,
        "room_uncovered",
        "dr.ade",
    )
    assert error["details"] == {"missing": ["facilitator_present"]}
    check_in(farah, session_id, "farah")
    assert ok(farah.get(part(session_id, pid)))["dose_missing"] == []
    assert ok(doc.post(part(session_id, pid, "/dose"), json={"route": "sublingual", "dose_mg": 50}))["phase"] == "dosed"


# ------------------------------------------------------------------ an upgraded alarm shows its history


def test_an_alarm_raised_from_low_to_medium_shows_both_times_in_the_json_and_on_the_screens(
    client_for: Clients, session_id: str, clock: Clock
) -> None:
    farah, doc, lena = client_for("farah"), client_for("dr.ade"), client_for("lena")
    pid = dosed_participant(farah, doc, session_id)
    raised_at = clock.now
    ok(farah.post(part(session_id, pid, "/observations"), json={"distress": 2}))
    [low] = ok(farah.get(f"{API}/escalations"))
    assert (low["priority"], low["raised_priority"], low["priority_since"]) == ("low", "low", raised_at.isoformat())

    clock.advance(minutes=11)
    upgraded_at = clock.now
    ok(farah.post(part(session_id, pid, "/observations"), json={"distress": 3}))
    [medium] = ok(lena.get(f"{API}/escalations"))
    assert (medium["priority"], medium["raised_priority"]) == ("medium", "low")
    assert (medium["raised_at"], medium["priority_since"]) == (raised_at.isoformat(), upgraded_at.isoformat())

    clock.advance(seconds=50)
    # The relative times are <time datetime> elements the page keeps current: read the text.
    since = re.compile(r"Medium since \d\d:\d\d, just now\s*\(raised as low \d\d:\d\d, 11 min ago\)")
    room = state(farah, session_id)["room_id"]
    room_page = farah.get(f"/rooms/{room}", headers={"Accept": "text/html"})
    overview = lena.get("/overview", headers={"Accept": "text/html"})
    for page in (room_page, overview):
        assert page.status_code == 200
        text = re.sub(r"<[^>]+>", "", page.text)
        assert since.search(text), page.text[page.text.find('class="alarm-meta"') :][:600]
        assert "Raised" not in page.text.split('class="alarm-meta"')[1].split("</p>")[0]
