"""Dosing needs everything in place (invariant 5); a room with someone altered is never left without a
facilitator (invariant 4); and the group ratio the clinic asks for."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.domain import commands as c
from app.domain.coverage import coverage_warnings, facilitators_needed
from app.domain.errors import InvalidInput, RuleViolation
from app.domain.model import Actor, Phase
from app.domain.policy import DEFAULT_POLICY, Policy

from .conftest import DOC, FAY, FINN, LEE, T0, SessionBuilder, dose_cmd, kinds, screening_cmd, staff

# ---------------------------------------------------------------- a dose, when everything is in place


def test_a_prescriber_doses_a_ready_participant_and_the_first_check_in_falls_due(ready_session: SessionBuilder) -> None:
    b = ready_session.advance(minutes=7)
    events = b.run(dose_cmd("p1", "intramuscular", 35.5), DOC, device="tablet-1")

    assert kinds(events) == ["dose_administered"]
    event = events[0]
    assert event.actor == "doc" and event.device == "tablet-1" and event.at == b.now
    assert event.data == {
        "route": "intramuscular",
        "dose_mg": 35.5,
        "administered_at": b.now.isoformat(),
        "prescriber": "doc",
        "infusion_minutes": None,
        "checkin_due_at": (b.now + timedelta(minutes=DEFAULT_POLICY.checkin_interval_minutes)).isoformat(),
        "vitals_due_at": (b.now + timedelta(minutes=DEFAULT_POLICY.vitals_interval_minutes)).isoformat(),
    }
    p = b.p()
    assert p.phase is Phase.DOSED and p.altered and p.dosed_at == b.now
    assert p.checkin_due_at == b.now + timedelta(minutes=20)
    assert p.vitals_due_at == b.now + timedelta(minutes=15)


def test_a_dose_recorded_late_keeps_the_time_it_was_given(ready_session: SessionBuilder) -> None:
    b = ready_session.advance(minutes=30)
    given = b.now - timedelta(minutes=12)
    events = b.run(dose_cmd("p1", administered_at=given), DOC)
    assert events[0].data["administered_at"] == given.isoformat()
    assert b.p().dosed_at == given


@pytest.mark.parametrize("actor", [FAY, LEE, Actor("nurse", "sitter")], ids=["facilitator", "lead", "other"])
def test_only_a_prescriber_may_record_a_dose(ready_session: SessionBuilder, actor: Actor) -> None:
    ready_session.refuse(dose_cmd("p1"), actor, code="forbidden")
    assert ready_session.phase() is Phase.SCREENED


@pytest.mark.parametrize(
    "command, field",
    [
        (dose_cmd("p1", route="oral"), "route"),
        (dose_cmd("p1", dose_mg=0), "dose_mg"),
        (dose_cmd("p1", dose_mg=-5), "dose_mg"),
        (dose_cmd("p1", dose_mg=1000.5), "dose_mg"),
    ],
)
def test_a_dose_with_an_unknown_route_or_impossible_amount_is_invalid_input(
    ready_session: SessionBuilder, command: c.AdministerDose, field: str
) -> None:
    err = ready_session.invalid(command, DOC)
    assert err.details == {"field": field}


def test_a_dose_time_without_a_time_zone_is_invalid_input(ready_session: SessionBuilder) -> None:
    naive = ready_session.now.replace(tzinfo=None)
    err = ready_session.invalid(dose_cmd("p1", administered_at=naive), DOC)
    assert err.details == {"field": "administered_at"}


def test_a_dose_time_more_than_the_allowed_clock_skew_ahead_is_invalid_input(ready_session: SessionBuilder) -> None:
    b = ready_session
    b.invalid(dose_cmd("p1", administered_at=b.now + timedelta(minutes=2, seconds=1)), DOC)
    events = b.run(dose_cmd("p1", administered_at=b.now + timedelta(minutes=2)), DOC)
    assert kinds(events) == ["dose_administered"]


def test_a_participant_who_was_never_screened_is_refused_as_screening_not_cleared(session: SessionBuilder) -> None:
    session.consented("p1").supported("p1")
    err = session.refuse(dose_cmd("p1"), DOC, code="screening_not_cleared")
    assert err.details == {"missing": ["screening"]}
    assert "screening" in err.message and "Arrived" not in err.message
    assert session.phase() is Phase.ARRIVED


def test_a_participant_cannot_be_dosed_twice(ready_session: SessionBuilder) -> None:
    ready_session.dosed("p1").advance(minutes=5)
    err = ready_session.refuse(dose_cmd("p1"), DOC, code="invalid_transition")
    assert err.details["current"] == "dosed"


# ---------------------------------------------------------------- screening


@pytest.mark.parametrize("sbp, dbp", [(141, 80), (120, 91), (160, 100)])
def test_a_blood_pressure_above_140_over_90_flags_the_screening_and_blocks_the_dose(
    session: SessionBuilder, sbp: int, dbp: int
) -> None:
    events = session.run(screening_cmd("p1", sbp, dbp))
    assert events[0].data["flags"] == ["bp_above_140/90"]
    session.consented("p1").supported("p1")

    err = session.refuse(dose_cmd("p1"), DOC, code="screening_not_cleared")
    assert err.details == {"missing": ["prescriber_clearance"], "flags": ["bp_above_140/90"]}


def test_a_blood_pressure_of_exactly_140_over_90_needs_no_clearance(session: SessionBuilder) -> None:
    events = session.run(screening_cmd("p1", 140, 90))
    assert events[0].data["flags"] == []
    session.consented("p1").supported("p1")
    assert kinds(session.run(dose_cmd("p1"), DOC)) == ["dose_administered"]


def test_each_contraindication_present_is_a_flag_and_absent_ones_are_not(session: SessionBuilder) -> None:
    events = session.run(screening_cmd("p1", 120, 80, psychosis_history=True, pregnancy=False, uncontrolled_htn=True))
    assert events[0].data["flags"] == ["contraindication:psychosis_history", "contraindication:uncontrolled_htn"]
    assert events[0].data["contraindications"] == {
        "psychosis_history": True,
        "pregnancy": False,
        "uncontrolled_htn": True,
    }
    assert not session.p().screening_cleared


def test_a_flagged_screening_cleared_by_a_prescriber_with_a_note_allows_the_dose(session: SessionBuilder) -> None:
    session.screened("p1", 150, 95, cardiac_history=True).consented("p1").supported("p1")
    session.refuse(dose_cmd("p1"), DOC, code="screening_not_cleared")

    events = session.run(c.ClearScreening("p1", "  Reviewed with cardiology; proceed.  "), DOC)
    assert kinds(events) == ["screening_cleared"]
    assert events[0].data == {
        "note": "Reviewed with cardiology; proceed.",
        "flags": ["contraindication:cardiac_history", "bp_above_140/90"],
    }
    assert session.p().screening_cleared_by == "doc"
    assert kinds(session.run(dose_cmd("p1"), DOC)) == ["dose_administered"]


@pytest.mark.parametrize("actor", [FAY, LEE])
def test_only_a_prescriber_may_clear_a_flagged_screening(session: SessionBuilder, actor: Actor) -> None:
    session.screened("p1", 150, 80)
    session.refuse(c.ClearScreening("p1", "looks fine"), actor, code="forbidden")
    assert session.p().screening_cleared_by is None


def test_clearing_a_screening_needs_a_note(session: SessionBuilder) -> None:
    session.screened("p1", 150, 80)
    err = session.invalid(c.ClearScreening("p1", "   "), DOC)
    assert err.details == {"field": "note"}


def test_clearing_a_screening_with_nothing_flagged_or_no_screening_is_an_invalid_transition(
    session: SessionBuilder,
) -> None:
    session.refuse(c.ClearScreening("p1", "nothing to clear"), DOC, code="invalid_transition")
    session.screened("p1")
    session.refuse(c.ClearScreening("p1", "nothing to clear"), DOC, code="invalid_transition")


def test_screening_again_after_a_clearance_needs_a_new_clearance(session: SessionBuilder) -> None:
    session.screened("p1", 150, 80).run(c.ClearScreening("p1", "ok"), DOC)
    session.screened("p1", 155, 80).consented("p1").supported("p1")
    session.refuse(dose_cmd("p1"), DOC, code="screening_not_cleared")


# ---------------------------------------------------------------- consent, support, presence


def test_dosing_without_an_agreement_is_refused_as_consent_incomplete(session: SessionBuilder) -> None:
    session.screened("p1").supported("p1")
    err = session.refuse(dose_cmd("p1"), DOC, code="consent_incomplete")
    assert err.details == {"missing": ["agreement"]}


def test_withdrawing_touch_or_music_does_not_make_the_agreement_incomplete(session: SessionBuilder) -> None:
    session.screened("p1").consented("p1").supported("p1")
    session.run(c.WithdrawConsent("p1", ("touch", "music", "eyeshades")))
    assert kinds(session.run(dose_cmd("p1"), DOC)) == ["dose_administered"]


def test_dosing_without_a_support_person_is_refused(session: SessionBuilder) -> None:
    session.screened("p1").consented("p1")
    session.refuse(dose_cmd("p1"), DOC, code="no_support_assigned")
    assert session.phase() is Phase.SCREENED


def test_dosing_when_nobody_is_checked_in_to_the_room_is_refused_as_room_uncovered() -> None:
    b = SessionBuilder().opened().with_participant("p1").ready("p1", by=staff("fay"))
    b.refuse(dose_cmd("p1"), DOC, code="room_uncovered")


def test_a_prescriber_in_the_room_does_not_count_as_a_facilitator_for_dosing() -> None:
    b = SessionBuilder().opened().checked_in("doc").with_participant("p1").ready("p1", by=staff("fay"))
    b.refuse(dose_cmd("p1"), DOC, code="room_uncovered")
    b.checked_in("lee")
    assert kinds(b.run(dose_cmd("p1"), DOC)) == ["dose_administered"]


def test_the_dose_checks_run_in_order_forbidden_then_phase_screening_consent_support_room() -> None:
    b = SessionBuilder().opened().with_participant("p1")
    b.refuse(dose_cmd("p1"), FAY, code="forbidden")
    b.refuse(dose_cmd("p1"), DOC, code="screening_not_cleared")
    b.screened("p1", 150, 80)
    b.refuse(dose_cmd("p1"), DOC, code="screening_not_cleared")
    b.run(c.ClearScreening("p1", "ok"), DOC)
    b.refuse(dose_cmd("p1"), DOC, code="consent_incomplete")
    b.consented("p1")
    b.refuse(dose_cmd("p1"), DOC, code="no_support_assigned")
    b.supported("p1", staff("fay"))
    b.refuse(dose_cmd("p1"), DOC, code="room_uncovered")
    b.checked_in("fay")
    assert kinds(b.run(dose_cmd("p1"), DOC)) == ["dose_administered"]


# ---------------------------------------------------------------- staying in the room


def test_checking_in_records_who_and_in_which_role(session: SessionBuilder) -> None:
    events = session.run(c.CheckIn("finn", "facilitator"), FINN, device="tablet-2")
    assert kinds(events) == ["facilitator_checked_in"]
    assert events[0].data == {"username": "finn", "role": "facilitator", "attested_by": "sign_in"}
    assert events[0].device == "tablet-2"
    assert session.state.covering_present == ("fay", "finn")


def test_checking_in_twice_or_out_without_being_in_is_refused(session: SessionBuilder) -> None:
    session.refuse(c.CheckIn("fay", "facilitator"), FAY, code="already_checked_in")
    session.refuse(c.CheckOut("finn"), FINN, code="not_checked_in")


def test_the_last_facilitator_cannot_check_out_while_someone_is_altered(ready_session: SessionBuilder) -> None:
    b = ready_session.checked_in("finn").supported("p1", staff("finn")).to_phase("p1", "journeying")
    b.run(c.CheckOut("finn"), FINN)
    err = b.refuse(c.CheckOut("fay"), FAY)
    # fay is one of two support people, so only the coverage rule holds her here.
    assert err.code == "room_uncovered" and err.details == {"username": "fay"}
    assert b.state.covering_present == ("fay",)


@pytest.mark.parametrize("phase", ["dosed", "paused", "grounding", "stopped"])
def test_the_room_stays_covered_in_every_altered_phase(ready_session: SessionBuilder, phase: str) -> None:
    b = ready_session.checked_in("lee").supported("p1", staff("lee")).to_phase("p1", phase)
    b.checked_in("finn")
    b.run(c.HandOverSupport("p1", replacement=staff("finn"), reason="fay to cover", replaces="fay"), LEE)
    b.run(c.CheckOut("lee"), LEE)
    b.run(c.CheckOut("fay"), FAY)
    err = b.refuse(c.CheckOut("finn"), FINN, code="room_uncovered")
    assert err.details == {"username": "finn"}
    assert b.state.covering_present == ("finn",)


def test_a_prescriber_staying_behind_does_not_cover_the_room(ready_session: SessionBuilder) -> None:
    b = ready_session.checked_in("doc").checked_in("finn")
    b.run(c.HandOverSupport("p1", replacement=staff("finn"), reason="swap"), LEE)
    b.to_phase("p1", "journeying")
    b.run(c.CheckOut("fay"), FAY)
    # finn is both the last facilitator and p1's only support: the room rule answers first.
    err = b.refuse(c.CheckOut("finn"), FINN, code="room_uncovered")
    assert err.details == {"username": "finn"}
    assert "doc" in b.state.present


def test_a_facilitator_may_leave_when_another_facilitator_remains(ready_session: SessionBuilder) -> None:
    b = ready_session.checked_in("finn").supported("p1", staff("finn")).to_phase("p1", "journeying")
    assert kinds(b.run(c.CheckOut("fay"), FAY)) == ["facilitator_checked_out"]
    assert b.state.covering_present == ("finn",)


def test_a_lead_checked_in_covers_the_room_for_the_last_facilitator(ready_session: SessionBuilder) -> None:
    b = ready_session.checked_in("lee").supported("p1", staff("lee")).to_phase("p1", "journeying")
    assert kinds(b.run(c.CheckOut("fay"), FAY)) == ["facilitator_checked_out"]
    b.refuse(c.CheckOut("lee"), LEE, code="room_uncovered")


def test_the_last_facilitator_may_leave_when_nobody_is_altered(session: SessionBuilder) -> None:
    session.screened("p1")
    assert kinds(session.run(c.CheckOut("fay"), FAY)) == ["facilitator_checked_out"]
    assert session.state.present == {}


def test_the_last_facilitator_may_leave_once_everyone_altered_has_been_discharged(
    ready_session: SessionBuilder,
) -> None:
    b = ready_session.grounded_and_ready_to_leave("p1")
    b.run(c.Discharge("p1"))
    assert not b.state.anyone_altered
    assert kinds(b.run(c.CheckOut("fay"), FAY)) == ["facilitator_checked_out"]


# ---------------------------------------------------------------- the group ratio


def _group(participants: int, facilitators: tuple[str, ...] = ("fay",)) -> SessionBuilder:
    b = SessionBuilder(kind="group", facilitators=("fay", "finn", "lee")).opened()
    for name in facilitators:
        b.checked_in(name)
    for i in range(1, participants + 1):
        b.with_participant(f"p{i}")
    return b


@pytest.mark.parametrize("participants, needed", [(0, 0), (1, 1), (4, 1), (5, 2), (8, 2), (9, 3)])
def test_a_group_needs_one_facilitator_per_four_active_participants(participants: int, needed: int) -> None:
    b = _group(participants)
    assert facilitators_needed(b.state, DEFAULT_POLICY) == needed


@pytest.mark.parametrize("kind", ["individual", "dyad_training"])
def test_sessions_other_than_groups_need_one_facilitator(kind: str) -> None:
    b = SessionBuilder(kind=kind).opened()
    assert facilitators_needed(b.state, DEFAULT_POLICY) == 0
    for i in range(1, 7):
        b.with_participant(f"p{i}")
    assert facilitators_needed(b.state, DEFAULT_POLICY) == 1


def test_participants_who_have_left_do_not_count_towards_the_ratio() -> None:
    b = _group(5)
    assert facilitators_needed(b.state, DEFAULT_POLICY) == 2
    b.run(c.Discharge("p5"))
    assert facilitators_needed(b.state, DEFAULT_POLICY) == 1


def test_a_clinic_ratio_from_policy_changes_how_many_are_needed() -> None:
    b = _group(5)
    assert facilitators_needed(b.state, Policy(participants_per_facilitator=2)) == 3


def test_a_group_below_the_ratio_is_warned_about_in_plain_words() -> None:
    warnings = coverage_warnings(_group(6).state, DEFAULT_POLICY)
    assert warnings == [
        {
            "code": "coverage_below_ratio",
            "message": "1 facilitator for 6 participants: this clinic asks for at least one per 4, so 2 are needed.",
            "needed": 2,
            "present": 1,
        }
    ]


def test_a_room_with_participants_and_no_facilitator_is_warned_about() -> None:
    warnings = coverage_warnings(_group(2, facilitators=()).state, DEFAULT_POLICY)
    assert [(w["code"], w["present"], w["needed"]) for w in warnings] == [("coverage_below_ratio", 0, 1)]
    assert warnings[0]["message"] == "No facilitator is checked in to this room."


def test_a_room_meeting_the_ratio_has_no_warning_and_a_prescriber_does_not_count() -> None:
    assert coverage_warnings(_group(8, facilitators=("fay", "lee")).state, DEFAULT_POLICY) == []
    assert coverage_warnings(_group(8, facilitators=("fay", "doc")).state, DEFAULT_POLICY)[0]["present"] == 1


# ---------------------------------------------------------------- regressions (defects found by this suite)


@pytest.mark.parametrize("paused_from", ["dosed", "journeying"])
def test_a_paused_participant_cannot_be_dosed_again(ready_session: SessionBuilder, paused_from: str) -> None:
    b = ready_session.to_phase("p1", paused_from)
    b.run(c.Pause("p1", requested_by="participant"))
    b.advance(minutes=5)
    err = b.refuse(dose_cmd("p1"), DOC)
    assert err.code == "invalid_transition"


def test_a_dose_cannot_be_back_dated_to_before_the_participant_was_screened_and_consented() -> None:
    b = SessionBuilder().opened().checked_in("fay").with_participant("p1")
    b.advance(minutes=10).ready("p1")
    b.advance(minutes=1)
    before_session = T0 - timedelta(hours=3)
    with pytest.raises((InvalidInput, RuleViolation)):
        b.attempt(dose_cmd("p1", administered_at=before_session), DOC)
