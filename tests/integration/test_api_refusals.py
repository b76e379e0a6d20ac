"""Refusals through the API. A rule's refusal answers its code, changes nothing, and leaves exactly one
`command_refused` event naming the code and who tried; malformed input answers 422 and leaves no
trace at all; no input whatsoever produces a 500."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, Clock
from tests.integration.conftest import JSON
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
    invalid,
    ok,
    open_session,
    part,
    participant,
    phase,
    ready_participant,
    refused,
    screen,
    sess,
    state,
)

Clients = Callable[[str], TestClient]


def grounding_participant(farah: TestClient, doc: TestClient, sid: str, name: str = "Ada") -> str:
    pid = dosed_participant(farah, doc, sid, name)
    for to in ("journeying", "re_entry", "grounding"):
        phase(farah, sid, pid, to)
    return pid


# ------------------------------------------------------------------ the invariants' codes


def test_dyad_locked_removing_an_altered_participants_support(client_for: Clients, session_id: str) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    pid = dosed_participant(farah, doc, session_id)
    error = refused(
        farah, session_id, lambda: farah.delete(part(session_id, pid, "/support/farah")), 409, "dyad_locked", "farah"
    )
    assert error["details"]["support_id"] == "farah" and error["details"]["phase"] == "dosed"
    assert participant(farah, session_id, pid)["support"][0]["id"] == "farah"
    # The lead hears of it: the attempt is on the session's record of refusals.
    refusal = state(client_for("lena"), session_id)["refusals"][-1]
    assert refusal["code"] == "dyad_locked" and refusal["participant_id"] == pid and refusal["command"]


def test_dyad_locked_the_only_support_person_stepping_out(client_for: Clients, session_id: str) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    pid = dosed_participant(farah, doc, session_id)
    check_in(farah, session_id, "theo")  # so the room stays covered: the lock is what refuses
    error = refused(
        farah,
        session_id,
        lambda: farah.post(sess(session_id, "/facilitators/farah/check-out")),
        409,
        "dyad_locked",
        "farah",
    )
    assert error["details"]["participants"] == [pid]


def test_dyad_locked_a_partner_cannot_leave_while_their_journeyer_is_altered(client_for: Clients) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    sid = open_session(farah, kind="dyad_training")
    partner = add_participant(farah, sid, "Bo")
    journeyer = ready_participant(farah, sid, "Ada", support=partner, support_kind="participant")
    dose(doc, sid, journeyer)
    refused(farah, sid, lambda: farah.post(part(sid, partner, "/discharge")), 409, "dyad_locked", "farah")
    refused(farah, sid, lambda: farah.delete(part(sid, journeyer, f"/support/{partner}")), 409, "dyad_locked", "farah")
    # ... and a journeyer in an altered phase cannot be anyone's support person.
    refused(
        farah,
        sid,
        lambda: farah.post(part(sid, partner, "/support"), json={"kind": "participant", "id": journeyer}),
        409,
        "support_unavailable",
        "farah",
    )


def test_the_only_way_out_of_the_lock_is_a_leads_handover_naming_the_replacement(
    client_for: Clients, session_id: str
) -> None:
    farah, doc, lena = client_for("farah"), client_for("dr.ade"), client_for("lena")
    pid = dosed_participant(farah, doc, session_id)
    check_in(farah, session_id, "theo")  # the replacement takes over at once, so is in the room
    body = {"replacement": {"kind": "staff", "id": "theo"}, "reason": "farah is unwell"}
    refused(
        farah,
        session_id,
        lambda: farah.post(part(session_id, pid, "/support/handover"), json=body),
        403,
        "forbidden",
        "farah",
    )
    handed = ok(lena.post(part(session_id, pid, "/support/handover"), json=body))
    assert handed["support"] == [{"kind": "staff", "id": "theo", "name": "theo"}]
    handover, opened = events(lena, session_id)[-2:]
    assert handover["kind"] == "support_handed_over" and handover["actor"] == "lena"
    assert handover["data"]["released"] == ["farah"] and handover["data"]["reason"] == "farah is unwell"
    # The handover opens a follow-up (repair) item for the session's lead, in the same step.
    assert opened["kind"] == "followup_opened" and opened["participant_id"] == pid
    assert opened["data"]["source_seq"] == handover["seq"] and opened["data"]["owner"] == "lena"
    assert "farah is unwell" in opened["data"]["reason"]


def test_consent_not_valid_in_altered_state_widening_the_agreement(client_for: Clients, session_id: str) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    pid = dosed_participant(farah, doc, session_id)
    widened = {**CONSENT, "touch": ["hand", "shoulder", "hug"], "eyeshades": True}
    error = refused(
        farah,
        session_id,
        lambda: farah.put(part(session_id, pid, "/consent"), json=widened),
        409,
        "consent_not_valid_in_altered_state",
        "farah",
    )
    assert set(error["details"]["widened"]) == {"touch:hug", "eyeshades"}
    changed = {**CONSENT, "transport_plan": "She will drive herself"}
    refused(
        farah,
        session_id,
        lambda: farah.put(part(session_id, pid, "/consent"), json=changed),
        409,
        "consent_not_valid_in_altered_state",
        "farah",
    )
    assert participant(farah, session_id, pid)["consent"]["touch"] == ["hand", "shoulder"]


def test_narrowing_consent_is_always_accepted(client_for: Clients, session_id: str) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    pid = dosed_participant(farah, doc, session_id)
    narrowed = ok(farah.put(part(session_id, pid, "/consent"), json={**CONSENT, "touch": ["hand"]}))
    assert narrowed["consent"]["touch"] == ["hand"] and narrowed["consent_withdrawn"] == ["touch:shoulder"]
    withdrawn = ok(farah.post(part(session_id, pid, "/consent/withdraw"), json={"items": ["music"]}))
    assert withdrawn["consent"]["music"] is False
    assert [e["kind"] for e in events(farah, session_id)[-2:]] == ["consent_withdrawn", "consent_withdrawn"]


def test_room_uncovered_the_last_facilitator_stepping_out(client_for: Clients) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    sid = open_session(farah, kind="dyad_training")
    partner = add_participant(farah, sid, "Bo")
    pid = ready_participant(farah, sid, "Ada", support=partner, support_kind="participant")  # farah checks in
    dose(doc, sid, pid)
    # farah supports nobody (the partner does), but she is the only facilitator in the room.
    error = refused(
        farah, sid, lambda: farah.post(sess(sid, "/facilitators/farah/check-out")), 409, "room_uncovered", "farah"
    )
    assert error["details"] == {"username": "farah"}
    assert state(farah, sid)["facilitators_present"] == ["farah"]
    # With a second facilitator in, she may go.
    check_in(farah, sid, "theo")
    assert ok(farah.post(sess(sid, "/facilitators/farah/check-out")))["facilitators_present"] == ["theo"]
    assert participant(farah, sid, pid)["phase"] == "dosed"


def test_room_uncovered_dosing_with_no_facilitator_in_the_room(client_for: Clients, session_id: str) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    check_in(farah, session_id, "dr.ade")  # in the room, but a prescriber does not cover it
    pid = ready_participant(farah, session_id, support="dr.ade", present=None)
    assert state(farah, session_id)["facilitators_present"] == ["dr.ade"]
    refused(
        farah,
        session_id,
        lambda: doc.post(part(session_id, pid, "/dose"), json={"route": "sublingual", "dose_mg": 200}),
        409,
        "room_uncovered",
        "dr.ade",
    )
    check_in(farah, session_id, "farah")
    assert dose(doc, session_id, pid)["phase"] == "dosed"


def test_checklist_incomplete_lists_what_is_missing(client_for: Clients, session_id: str, clock: Clock) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    pid = grounding_participant(farah, doc, session_id)
    error = refused(
        farah, session_id, lambda: farah.post(part(session_id, pid, "/discharge")), 409, "checklist_incomplete", "farah"
    )
    assert set(error["details"]["missing"]) == {
        "observation_time",
        "vitals_in_range",
        "sedation_clear",
        "oriented",
        "steady_gait",
        "nausea_settled",
        "distress_settled",
        "transport_confirmed",
        "followup_scheduled",
        "belongings_returned",
    }
    clock.advance(minutes=125)
    ok(farah.post(part(session_id, pid, "/vitals"), json=NORMAL_VITALS))
    ok(farah.post(part(session_id, pid, "/observations"), json={"distress": 0, "moaa_s": 5, "rass": 0}))
    for item in ("oriented", "steady_gait", "nausea_settled", "transport_confirmed", "followup_scheduled"):
        ok(farah.post(part(session_id, pid, f"/checklist/{item}"), json={"done": True}))
    error = refused(
        farah, session_id, lambda: farah.post(part(session_id, pid, "/discharge")), 409, "checklist_incomplete", "farah"
    )
    assert error["details"]["missing"] == ["belongings_returned"]
    ok(farah.post(part(session_id, pid, "/checklist/belongings_returned"), json={"done": True, "note": "bag, phone"}))
    assert ok(farah.post(part(session_id, pid, "/discharge")))["phase"] == "discharged"


def test_screening_not_cleared_until_a_prescriber_clears_it(client_for: Clients, session_id: str) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    pid = add_participant(farah, session_id)
    flagged = screen(farah, session_id, pid, sbp=152, dbp=96)
    assert flagged["screening_cleared"] is False and flagged["screening"]["flags"] == ["bp_above_140/90"]
    consent(farah, session_id, pid)
    assign_support(farah, session_id, pid, "farah")
    check_in(farah, session_id, "farah")
    error = refused(
        farah,
        session_id,
        lambda: doc.post(part(session_id, pid, "/dose"), json={"route": "sublingual", "dose_mg": 200}),
        409,
        "screening_not_cleared",
        "dr.ade",
    )
    assert error["details"]["flags"] == ["bp_above_140/90"]
    refused(
        farah,
        session_id,
        lambda: farah.post(part(session_id, pid, "/screening/clear"), json={"note": "fine"}),
        403,
        "forbidden",
        "farah",
    )
    cleared = ok(doc.post(part(session_id, pid, "/screening/clear"), json={"note": "white coat; rechecked 138/88"}))
    assert cleared["screening_cleared"] is True
    assert dose(doc, session_id, pid)["phase"] == "dosed"


def test_consent_incomplete_without_an_agreement(client_for: Clients, session_id: str) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    pid = add_participant(farah, session_id)
    screen(farah, session_id, pid)
    assign_support(farah, session_id, pid, "farah")
    check_in(farah, session_id, "farah")
    error = refused(
        farah,
        session_id,
        lambda: doc.post(part(session_id, pid, "/dose"), json={"route": "sublingual", "dose_mg": 200}),
        409,
        "consent_incomplete",
        "dr.ade",
    )
    assert error["details"]["missing"] == ["agreement"]


def test_no_support_assigned_before_dosing(client_for: Clients, session_id: str) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    pid = add_participant(farah, session_id)
    screen(farah, session_id, pid)
    consent(farah, session_id, pid)
    check_in(farah, session_id, "farah")
    refused(
        farah,
        session_id,
        lambda: doc.post(part(session_id, pid, "/dose"), json={"route": "sublingual", "dose_mg": 200}),
        409,
        "no_support_assigned",
        "dr.ade",
    )
    assert participant(farah, session_id, pid)["phase"] == "screened"


INVALID_MOVES = [
    ("/phase", {"to": "grounding"}),
    ("/phase", {"to": "re_entry"}),
    ("/phase", {"to": "journeying"}),
    ("/resume", {"requested_by": "participant", "participant_wishes_to_continue": True}),
    ("/stop", {"requested_by": "participant"}),
    ("/consent/checkin", {"ok": True}),
]


def test_invalid_transition_for_a_move_the_phase_does_not_allow(client_for: Clients, session_id: str) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    pid = ready_participant(farah, session_id)
    for path, body in INVALID_MOVES:
        error = refused(
            farah,
            session_id,
            lambda path=path, body=body: farah.post(part(session_id, pid, path), json=body),
            409,
            "invalid_transition",
            "farah",
        )
        assert error["message"], path
    dosed = dosed_participant(farah, doc, session_id, "Bo")
    error = refused(
        farah, session_id, lambda: farah.post(part(session_id, dosed, "/discharge")), 409, "invalid_transition", "farah"
    )
    assert error["details"]["current"] == "dosed" and "discharged" not in error["details"]["allowed"]
    assert participant(farah, session_id, pid)["phase"] == "screened"


def test_invalid_transition_rescreening_after_the_dose(client_for: Clients, session_id: str) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    pid = dosed_participant(farah, doc, session_id)
    error = refused(
        farah,
        session_id,
        lambda: farah.put(part(session_id, pid, "/screening"), json={"bp": {"sbp": 120, "dbp": 80}}),
        409,
        "invalid_transition",
        "farah",
    )
    assert error["details"]["current"] == "dosed" and error["details"]["to"] == "screened"


def test_resume_needs_the_participants_wish_to_continue(client_for: Clients, session_id: str) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    pid = dosed_participant(farah, doc, session_id)
    ok(farah.post(part(session_id, pid, "/pause"), json={"requested_by": "participant"}))
    for body in ({"requested_by": "staff"}, {"requested_by": "staff", "participant_wishes_to_continue": False}):
        refused(
            farah,
            session_id,
            lambda body=body: farah.post(part(session_id, pid, "/resume"), json=body),
            409,
            "wish_to_continue_required",
            "farah",
        )
    assert participant(farah, session_id, pid)["phase"] == "paused"


def test_not_found_for_a_participant_not_in_the_session(client_for: Clients, session_id: str) -> None:
    farah = client_for("farah")
    add_participant(farah, session_id)
    ghost = "0123456789ab"
    attempts = [
        lambda: farah.post(part(session_id, ghost, "/vitals"), json=NORMAL_VITALS),
        lambda: farah.post(part(session_id, ghost, "/observations"), json={"distress": 2}),
        lambda: farah.put(part(session_id, ghost, "/consent"), json=CONSENT),
        lambda: farah.post(part(session_id, ghost, "/phase"), json={"to": "journeying"}),
        lambda: farah.post(part(session_id, ghost, "/discharge")),
        lambda: farah.delete(part(session_id, ghost, "/support/farah")),
    ]
    for attempt in attempts:
        refused(farah, session_id, attempt, 404, "not_found", "farah")
    assert_error(farah.get(part(session_id, ghost)), 404, "not_found")


def test_not_found_for_an_unknown_checklist_item_or_support_person(client_for: Clients, session_id: str) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    pid = dosed_participant(farah, doc, session_id)
    refused(
        farah,
        session_id,
        lambda: farah.post(part(session_id, pid, "/checklist/juggling"), json={"done": True}),
        404,
        "not_found",
        "farah",
    )
    refused(farah, session_id, lambda: farah.delete(part(session_id, pid, "/support/theo")), 404, "not_found", "farah")
    refused(
        farah,
        session_id,
        lambda: farah.post(part(session_id, pid, "/support"), json={"kind": "staff", "id": "mika"}),
        404,
        "not_found",
        "farah",
    )


def test_forbidden_a_facilitator_cannot_dose(client_for: Clients, session_id: str) -> None:
    farah = client_for("farah")
    pid = ready_participant(farah, session_id)
    error = refused(
        farah,
        session_id,
        lambda: farah.post(part(session_id, pid, "/dose"), json={"route": "sublingual", "dose_mg": 200}),
        403,
        "forbidden",
        "farah",
    )
    assert "prescriber" in error["message"]
    lena = client_for("lena")
    refused(
        farah,
        session_id,
        lambda: lena.post(part(session_id, pid, "/dose"), json={"route": "sublingual", "dose_mg": 200}),
        403,
        "forbidden",
        "lena",
    )
    assert participant(farah, session_id, pid)["phase"] == "screened"


def test_the_other_rule_codes_are_refusals_too(client_for: Clients, session_id: str) -> None:
    farah = client_for("farah")
    pid = ready_participant(farah, session_id, "Ada")
    bo = add_participant(farah, session_id, "Bo")
    attempts = [
        (
            lambda: farah.post(sess(session_id, "/participants"), json={"display_name": "Ada 2", "chart_id": "C-Ada"}),
            "already_exists",
        ),
        (
            lambda: farah.post(part(session_id, pid, "/support"), json={"kind": "staff", "id": "farah"}),
            "already_assigned",
        ),
        (
            lambda: farah.post(part(session_id, pid, "/support"), json={"kind": "participant", "id": pid}),
            "support_unavailable",
        ),
        (lambda: farah.post(sess(session_id, "/facilitators/farah/check-in")), "already_checked_in"),
        (lambda: farah.post(sess(session_id, "/facilitators/theo/check-out")), "not_checked_in"),
        (lambda: farah.post(sess(session_id, "/close")), "participants_active"),
    ]
    for attempt, code in attempts:
        refused(farah, session_id, attempt, 409, code, "farah")
    ok(farah.post(part(session_id, bo, "/discharge")))
    refused(
        farah,
        session_id,
        lambda: farah.post(part(session_id, bo, "/vitals"), json=NORMAL_VITALS),
        409,
        "participant_inactive",
        "farah",
    )


# ------------------------------------------------------------------ validation: 422 and no trace


def vitals_path(sid: str, pid: str) -> str:
    return part(sid, pid, "/vitals")


MALFORMED = [
    # wrong types
    ("/vitals", {"sbp": "high"}),
    ("/vitals", {"sbp": 120.5}),
    ("/vitals", {"sbp": [120]}),
    ("/vitals", {"observed_at": "yesterday", "sbp": 120}),
    ("/observations", {"distress": "very"}),
    ("/observations", {"signs": "tearful"}),
    ("/observations", {"parts": ["inner child"]}),
    ("/dose", {"route": "sublingual", "dose_mg": "lots"}),
    ("/dose", {"route": "oral", "dose_mg": 100}),
    ("/phase", {"to": 3}),
    ("/phase", {"to": "discharged"}),
    ("/pause", {"requested_by": "the moon"}),
    ("/support", {"kind": "sitter", "id": "farah"}),
    ("/checklist/oriented", {"done": False}),
    # unknown fields
    ("/vitals", {"sbp": 120, "temperature": 37.2}),
    ("/observations", {"distress": 1, "mood": "ok"}),
    ("/dose", {"route": "sublingual", "dose_mg": 100, "override": True}),
    # out of range
    ("/vitals", {"sbp": 20}),
    ("/vitals", {"sbp": 301}),
    ("/vitals", {"spo2": 101}),
    ("/vitals", {"hr": 0}),
    ("/vitals", {"rr": 70}),
    ("/vitals", {"dbp": -5}),
    ("/observations", {"distress": 5}),
    ("/observations", {"distress": -1}),
    ("/observations", {"moaa_s": 6}),
    ("/observations", {"rass": -6}),
    ("/observations", {"suds": 11}),
    ("/dose", {"route": "sublingual", "dose_mg": 0}),
    ("/dose", {"route": "sublingual", "dose_mg": 5000}),
    # missing or empty
    ("/vitals", {}),
    ("/observations", {}),
    ("/pause", {}),
    ("/pause", {"requested_by": "staff"}),
    ("/transfer", {"reason": "chest pain"}),
    ("/transfer", {"reason": "   ", "destination": "ED"}),
    ("/consent/withdraw", {"items": []}),
    ("/consent/withdraw", {"items": ["everything"]}),
    ("/checklist/vitals_in_range", {"done": True}),
    # times
    ("/vitals", {"sbp": 120, "observed_at": "2030-01-01T00:00:00"}),
    ("/vitals", {"sbp": 120, "observed_at": "2999-01-01T00:00:00+00:00"}),
]


def test_a_malformed_body_is_a_validation_error_that_leaves_no_trace(client_for: Clients, session_id: str) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    pid = dosed_participant(farah, doc, session_id)
    for path, body in MALFORMED:
        client = doc if path == "/dose" else farah
        error = invalid(
            farah,
            session_id,
            lambda client=client, path=path, body=body: client.post(part(session_id, pid, path), json=body),
        )
        assert error["details"], (path, body, error)


BAD_JSON = [
    (b'{"sbp": 120', "application/json"),
    (b"", "application/json"),
    (b"[]", "application/json"),
    (b"null", "application/json"),
    (b'"sbp"', "application/json"),
    (b'{"sbp": NaN}', "application/json"),
    (b'{"sbp": Infinity}', "application/json"),
    (b'{"sbp": 1e999}', "application/json"),
    (b'{"sbp": 120}{"sbp": 130}', "application/json"),
    (b"{'sbp': 120}", "application/json"),
    (b"sbp=120", "application/x-www-form-urlencoded"),
]


def test_bad_json_is_a_validation_error_that_leaves_no_trace(client_for: Clients, session_id: str) -> None:
    farah = client_for("farah")
    pid = add_participant(farah, session_id)
    for raw, content_type in BAD_JSON:
        invalid(
            farah,
            session_id,
            lambda raw=raw, content_type=content_type: farah.post(
                vitals_path(session_id, pid), content=raw, headers={"Content-Type": content_type}
            ),
        )


def test_a_body_that_is_not_utf8_is_refused_in_the_error_shape_and_leaves_no_trace(
    client_for: Clients, session_id: str
) -> None:
    farah = client_for("farah")
    pid = add_participant(farah, session_id)
    before = state(farah, session_id)
    for raw in (b"\xff\xfe\x00", b'{"sbp": "\xc3\x28"}'):
        response = farah.post(vitals_path(session_id, pid), content=raw, headers={"Content-Type": "application/json"})
        assert response.status_code in (400, 422), response.text
        assert set(response.json()["error"]) == {"code", "message", "details"}
    assert state(farah, session_id) == before
    assert events(farah, session_id, after=before["seq"]) == []


def test_domain_validation_of_the_agreement_leaves_no_trace(client_for: Clients, session_id: str) -> None:
    farah = client_for("farah")
    pid = add_participant(farah, session_id)
    screen(farah, session_id, pid)
    unsigned = {**CONSENT, "signed_by_participant": False}
    invalid(farah, session_id, lambda: farah.put(part(session_id, pid, "/consent"), json=unsigned))
    missing = {**CONSENT, "stop_signal": "  ", "emergency_contact": ""}
    error = invalid(farah, session_id, lambda: farah.put(part(session_id, pid, "/consent"), json=missing))
    assert error["details"]["missing"] == ["stop_signal", "emergency_contact"]
    invalid(
        farah, session_id, lambda: farah.put(part(session_id, pid, "/consent"), json={**CONSENT, "touch": ["face"]})
    )
    invalid(farah, session_id, lambda: farah.put(part(session_id, pid, "/screening"), json={"bp": {"sbp": 120}}))
    invalid(
        farah,
        session_id,
        lambda: farah.post(sess(session_id, "/participants"), json={"display_name": "", "chart_id": "X"}),
    )
    invalid(
        farah,
        session_id,
        lambda: farah.post(sess(session_id, "/participants"), json={"display_name": "X" * 81, "chart_id": "X"}),
    )
    invalid(
        farah,
        session_id,
        lambda: farah.post(
            sess(session_id, "/participants"), json={"display_name": "Bo", "chart_id": "X", "dob": "1990-01-01"}
        ),
    )


def test_an_overlong_idempotency_key_is_a_validation_error(client_for: Clients, session_id: str) -> None:
    farah = client_for("farah")
    pid = add_participant(farah, session_id)
    invalid(
        farah,
        session_id,
        lambda: farah.post(vitals_path(session_id, pid), json=NORMAL_VITALS, headers={"Idempotency-Key": "k" * 129}),
    )


def signed_in_tolerant(app: Any, username: str) -> TestClient:
    """A client that hands back a server error as a response instead of raising it."""
    client = TestClient(app, headers=JSON, raise_server_exceptions=False)
    ok(client.post(f"{API}/auth/login", json={"username": username, "password": PASSWORD}))
    return client


GARBAGE_BODIES: list[Any] = [
    None,
    {},
    [],
    "x",
    0,
    -1,
    10**40,
    1.5e308,
    True,
    {"": None},
    {"a" * 1000: 1},
    {"sbp": None, "dbp": None},
    {"distress": None},
    {"to": None},
    {"route": None, "dose_mg": None},
    {"items": [None]},
    {"kind": None, "id": None},
    {"replacement": "theo", "reason": 1},
    {"display_name": "\u0000", "chart_id": "\ud7ff"},
    {"note": "\u202e" * 10},
    {"observed_at": "2024-02-30T10:00:00+00:00", "sbp": 120},
    {"observed_at": 1700000000, "sbp": 120},
    {"event_seq": 0, "correction": "x", "reason": "y"},
    {"event_seq": -5, "correction": "x", "reason": "y"},
    {"contraindications": {"x": "maybe"}, "bp": {"sbp": 1, "dbp": 1}},
    {"nested": {"deep": [[[[[[[[[[[]]]]]]]]]]]}},
]
GARBAGE_PATHS = [
    "/vitals",
    "/observations",
    "/dose",
    "/phase",
    "/pause",
    "/resume",
    "/stop",
    "/support",
    "/support/handover",
    "/consent/withdraw",
    "/consent/checkin",
    "/screening/clear",
    "/checklist/oriented",
    "/transfer",
    "/amend",
    "/discharge",  # last: it is the one move an arrived participant may make with any body
]


def test_no_garbage_body_or_path_makes_a_500(app: Any, session_id: str) -> None:
    client = signed_in_tolerant(app, "farah")
    pid = add_participant(client, session_id)
    seen: set[int] = set()
    for path in GARBAGE_PATHS:
        for body in GARBAGE_BODIES:
            response = client.post(
                part(session_id, pid, path), content=json.dumps(body), headers={"Content-Type": "application/json"}
            )
            assert response.status_code < 500, (path, body, response.text)
            seen.add(response.status_code)
            if response.status_code >= 400:
                assert set(response.json()["error"]) == {"code", "message", "details"}
    weird_ids = ["%00", "..", "%2e%2e%2f", "x" * 2000, "%F0%9F%92%A5", "'; drop table events; --", "%ff", "%20"]
    for weird in weird_ids:
        for url in (
            sess(weird),
            sess(weird, "/events"),
            part(session_id, weird),
            part(weird, pid),
            sess(session_id, f"/facilitators/{weird}/check-in"),
            part(session_id, pid, f"/support/{weird}"),
            part(session_id, pid, f"/checklist/{weird}"),
        ):
            for method in ("GET", "POST", "PUT", "DELETE"):
                response = client.request(method, url, json={})
                assert response.status_code < 500, (method, url, response.text)
    for query in ({"after": "1e3"}, {"after": ""}, {"limit": 0}, {"limit": 99999}, {"after": "0x10"}):
        assert client.get(sess(session_id, "/events"), params=query).status_code == 422
    assert seen <= {200, 403, 404, 409, 422}, seen
    assert 422 in seen and 409 in seen
    assert state(client, session_id)["participants"][0]["phase"] == "discharged"


# ------------------------------------------------------------------ regressions: bugs these tests found


def test_a_huge_after_is_not_a_server_error(app: Any, session_id: str) -> None:
    client = signed_in_tolerant(app, "farah")
    response = client.get(sess(session_id, "/events"), params={"after": 2**63})
    assert response.status_code in (200, 422), response.text


def test_a_huge_event_seq_in_an_amendment_is_not_a_server_error(app: Any, session_id: str) -> None:
    client = signed_in_tolerant(app, "farah")
    pid = add_participant(client, session_id)
    before = state(client, session_id)
    response = client.post(
        part(session_id, pid, "/amend"), json={"event_seq": 10**20, "correction": "sbp was 142", "reason": "typo"}
    )
    assert response.status_code in (404, 422), response.text
    assert comparable_participants(state(client, session_id)) == comparable_participants(before)


def comparable_participants(view: dict[str, Any]) -> Any:
    return view["participants"]


@pytest.mark.parametrize(
    "path, body",
    [
        ("/observations", {"distress": True}),
        ("/observations", {"rass": "-2"}),
        ("/observations", {"moaa_s": False}),
        ("/vitals", {"sbp": "120"}),
    ],
)
def test_json_booleans_and_strings_are_not_numbers(
    client_for: Clients, session_id: str, path: str, body: dict[str, Any]
) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    pid = dosed_participant(farah, doc, session_id)
    invalid(farah, session_id, lambda: farah.post(part(session_id, pid, path), json=body))
