"""Consent: the pre-session agreement, never widened while altered, always withdrawable;
and "you are in charge": the participant's own pause and stop, and resuming only by their wish."""

from __future__ import annotations

import pytest

from app.domain import commands as c
from app.domain.model import Phase

from .conftest import ALTERED, DOC, FAY, FINN, LEE, SessionBuilder, consent_cmd, kinds

# ---------------------------------------------------------------- the pre-session agreement


def test_recording_the_agreement_before_the_dose_keeps_it_as_signed_and_attested(session: SessionBuilder) -> None:
    session.screened("p1")
    events = session.run(consent_cmd("p1", touch=("shoulder", "hand", "hand"), pause_signal="  raised palm  "), FINN)

    assert kinds(events) == ["consent_recorded"] and events[0].participant_id == "p1"
    agreement = events[0].data["agreement"]
    assert agreement["touch"] == ["hand", "shoulder"]
    assert agreement["pause_signal"] == "raised palm"
    assert agreement["signed_by_participant"] is True
    assert events[0].data["attested_by"] == "finn"
    assert session.p().consent.to_data() == agreement and session.p().active_consent.to_data() == agreement


def test_an_agreement_the_participant_did_not_sign_is_invalid_input(session: SessionBuilder) -> None:
    err = session.invalid(consent_cmd("p1", signed_by_participant=False))
    assert err.details == {"field": "signed_by_participant"}


def test_an_agreement_missing_its_signals_contact_or_transport_plan_is_invalid_input(session: SessionBuilder) -> None:
    err = session.invalid(consent_cmd("p1", stop_signal="  ", transport_plan=""))
    assert err.details == {"missing": ["stop_signal", "transport_plan"]}


def test_an_agreement_naming_a_touch_area_outside_the_list_is_invalid_input(session: SessionBuilder) -> None:
    err = session.invalid(consent_cmd("p1", touch=("hand", "face")))
    assert err.details == {"field": "touch", "unknown": ["face"]}


def test_recording_the_agreement_again_before_the_dose_starts_afresh_without_old_withdrawals(
    session: SessionBuilder,
) -> None:
    session.consented("p1", music=True)
    session.run(c.WithdrawConsent("p1", ("music",)))
    assert session.p().active_consent.to_data()["music"] is False

    session.consented("p1", music=True, touch=("hug",))
    assert session.p().consent_withdrawn == frozenset()
    assert session.p().active_consent.to_data()["music"] is True and session.p().active_consent.to_data()["touch"] == [
        "hug"
    ]


# ---------------------------------------------------------------- never widened while altered


@pytest.mark.parametrize("phase", ALTERED)
def test_adding_a_touch_area_in_an_altered_phase_is_refused_as_not_valid_in_an_altered_state(
    ready_session: SessionBuilder, phase: str
) -> None:
    ready_session.to_phase("p1", phase)
    err = ready_session.refuse(
        consent_cmd("p1", touch=("hand", "shoulder", "hug")), code="consent_not_valid_in_altered_state"
    )
    assert err.details == {"widened": ["touch:hug"]}
    assert ready_session.p().active_consent.to_data()["touch"] == ["hand", "shoulder"]


@pytest.mark.parametrize(
    "overrides, widened",
    [
        ({"music": True}, ["music"]),
        ({"eyeshades": True}, ["eyeshades"]),
        ({"stop_signal": "say 'red'"}, ["stop_signal"]),
        ({"pause_signal": "tap twice"}, ["pause_signal"]),
        ({"transport_plan": "I will drive"}, ["transport_plan"]),
        ({"emergency_contact": "nobody"}, ["emergency_contact"]),
        ({"if_stop_requested": "leave me alone"}, ["if_stop_requested"]),
    ],
)
def test_changing_any_agreed_term_while_altered_is_refused(
    session: SessionBuilder, overrides: dict, widened: list
) -> None:
    session.screened("p1").consented("p1", music=False, eyeshades=False).supported("p1").to_phase("p1", "journeying")
    agreed = session.p().active_consent
    command = consent_cmd("p1", **{"music": False, "eyeshades": False, **overrides})
    err = session.refuse(command, code="consent_not_valid_in_altered_state")
    assert err.details == {"widened": widened}
    assert session.p().active_consent == agreed


def test_re_granting_an_item_withdrawn_earlier_counts_as_widening_while_altered(ready_session: SessionBuilder) -> None:
    b = ready_session.to_phase("p1", "journeying")
    b.run(c.WithdrawConsent("p1", ("touch:hand", "music")))
    err = b.refuse(consent_cmd("p1"), code="consent_not_valid_in_altered_state")
    assert set(err.details["widened"]) == {"touch:hand", "music"}


def test_a_narrower_agreement_given_while_altered_is_recorded_only_as_a_withdrawal(
    ready_session: SessionBuilder,
) -> None:
    b = ready_session.to_phase("p1", "re_entry")
    events = b.run(consent_cmd("p1", touch=("shoulder",), music=False))

    assert kinds(events) == ["consent_withdrawn"]
    assert events[0].data == {"items": ["touch:hand", "music"]}
    assert "consent_recorded" not in kinds(b.log[-5:])
    assert b.p().active_consent.to_data()["touch"] == ["shoulder"] and b.p().active_consent.to_data()["music"] is False
    assert b.p().consent.to_data()["touch"] == ["hand", "shoulder"], "what was signed stays on the record"


def test_repeating_the_same_agreement_while_altered_records_nothing(ready_session: SessionBuilder) -> None:
    b = ready_session.to_phase("p1", "dosed")
    seq = b.state.seq
    assert b.run(consent_cmd("p1")) == []
    assert b.state.seq == seq


# ---------------------------------------------------------------- withdrawing: always accepted


@pytest.mark.parametrize("phase", ("arrived", "screened") + ALTERED)
def test_withdrawing_consent_is_accepted_in_every_phase(session: SessionBuilder, phase: str) -> None:
    if phase != "arrived":
        session.ready("p1")
    if phase in ALTERED:
        session.to_phase("p1", phase)
    events = session.run(c.WithdrawConsent("p1", ("eyeshades", "touch:shoulder")))
    assert kinds(events) == ["consent_withdrawn"]
    assert events[0].data == {"items": ["eyeshades", "touch:shoulder"]}
    assert {"eyeshades", "touch:shoulder"} <= session.p().consent_withdrawn


def test_withdrawing_consent_is_accepted_even_after_discharge_and_after_the_session_closed(
    ready_session: SessionBuilder,
) -> None:
    b = ready_session.grounded_and_ready_to_leave("p1")
    b.run(c.Discharge("p1"))
    assert kinds(b.run(c.WithdrawConsent("p1", ("music",)), FINN)) == ["consent_withdrawn"]
    b.run(c.CloseSession(), LEE)
    assert kinds(b.run(c.WithdrawConsent("p1", ("touch",)))) == ["consent_withdrawn"]
    assert b.p().active_consent.to_data()["touch"] == [] and b.p().active_consent.to_data()["music"] is False


def test_withdrawing_consent_after_a_transfer_is_accepted(ready_session: SessionBuilder) -> None:
    b = ready_session.to_phase("p1", "journeying")
    b.run(c.Transfer("p1", reason="seizure", destination="City ED"), LEE)
    assert kinds(b.run(c.WithdrawConsent("p1", ("eyeshades",)))) == ["consent_withdrawn"]


@pytest.mark.parametrize("items", [(), ("touch:face",), ("music", "singing")])
def test_withdrawing_nothing_or_an_unknown_item_is_invalid_input(session: SessionBuilder, items: tuple) -> None:
    err = session.invalid(c.WithdrawConsent("p1", items))
    assert err.details["field"] == "items"


def test_the_active_consent_is_the_signed_agreement_less_what_was_withdrawn(ready_session: SessionBuilder) -> None:
    b = ready_session.to_phase("p1", "journeying")
    signed = b.p().consent.to_data()

    b.run(c.WithdrawConsent("p1", ("touch:hand",)))
    assert b.p().active_consent.to_data()["touch"] == ["shoulder"]
    assert b.p().active_consent.to_data()["music"] is True

    b.run(c.WithdrawConsent("p1", ("music", "eyeshades")))
    assert (b.p().active_consent.to_data()["music"], b.p().active_consent.to_data()["eyeshades"]) == (False, False)

    b.run(c.WithdrawConsent("p1", ("touch",)))
    assert b.p().active_consent.to_data()["touch"] == []
    assert b.p().active_consent.to_data()["stop_signal"] == signed["stop_signal"]
    assert b.p().consent.to_data() == signed


def test_the_active_consent_of_someone_who_never_agreed_is_none(session: SessionBuilder) -> None:
    session.run(c.WithdrawConsent("p1", ("music",)))
    assert session.p().consent is None and session.p().active_consent is None


# ---------------------------------------------------------------- pause, stop, resume


@pytest.mark.parametrize("phase", ["dosed", "journeying", "re_entry"])
def test_a_pause_the_participant_asks_for_takes_effect_at_once_and_is_recorded_as_theirs(
    ready_session: SessionBuilder, phase: str
) -> None:
    b = ready_session.to_phase("p1", phase)
    events = b.run(c.Pause("p1", requested_by="participant", reason="  too much  "), FINN)
    assert kinds(events) == ["paused"]
    assert events[0].data == {"from": phase, "requested_by": "participant", "reason": "too much"}
    assert b.phase() is Phase.PAUSED and b.p().paused_from.value == phase


@pytest.mark.parametrize("phase", ["dosed", "journeying", "paused", "re_entry"])
def test_a_stop_the_participant_asks_for_takes_effect_at_once_and_is_recorded_as_theirs(
    ready_session: SessionBuilder, phase: str
) -> None:
    b = ready_session.to_phase("p1", phase)
    events = b.run(c.Stop("p1", requested_by="participant"), FAY)
    assert kinds(events) == ["stopped", "followup_opened"], "every stop opens a follow-up (repair) item"
    assert events[0].data["from"] == phase and events[0].data["requested_by"] == "participant"
    assert events[1].participant_id == "p1" and events[1].data["source_seq"] == events[0].seq
    assert events[1].data["owner"] == "lee"
    assert b.phase() is Phase.STOPPED and b.p().stopped_by == "participant" and b.p().paused_from is None


@pytest.mark.parametrize("command_type", [c.Pause, c.Stop])
def test_a_pause_or_stop_that_staff_propose_needs_the_participants_answer(
    ready_session: SessionBuilder, command_type: type
) -> None:
    b = ready_session.to_phase("p1", "journeying")
    err = b.invalid(command_type("p1", requested_by="staff"))
    assert err.details == {"field": "participant_response"}
    err = b.invalid(command_type("p1", requested_by="staff", participant_response="maybe"))
    assert err.details == {"field": "participant_response"}


@pytest.mark.parametrize("command_type", [c.Pause, c.Stop])
def test_a_pause_or_stop_asked_for_by_someone_else_is_invalid_input(
    ready_session: SessionBuilder, command_type: type
) -> None:
    b = ready_session.to_phase("p1", "journeying")
    err = b.invalid(command_type("p1", requested_by="family"))
    assert err.details == {"field": "requested_by"}


@pytest.mark.parametrize("command_type, proposal", [(c.Pause, "pause"), (c.Stop, "stop")])
def test_a_staff_proposal_the_participant_declines_is_recorded_and_changes_no_phase(
    ready_session: SessionBuilder, command_type: type, proposal: str
) -> None:
    b = ready_session.to_phase("p1", "journeying")
    events = b.run(command_type("p1", requested_by="staff", reason="breathing fast", participant_response="declines"))
    assert kinds(events) == ["pause_or_stop_declined"]
    assert events[0].data == {
        "from": "journeying",
        "requested_by": "staff",
        "reason": "breathing fast",
        "participant_response": "declines",
        "proposal": proposal,
    }
    assert b.phase() is Phase.JOURNEYING


@pytest.mark.parametrize("response", ["agrees", "cannot_answer"])
def test_a_staff_proposed_pause_the_participant_agrees_to_or_cannot_answer_takes_effect(
    ready_session: SessionBuilder, response: str
) -> None:
    b = ready_session.to_phase("p1", "journeying")
    events = b.run(c.Pause("p1", requested_by="staff", participant_response=response))
    assert kinds(events) == ["paused"]
    assert events[0].data["requested_by"] == "staff" and events[0].data["participant_response"] == response
    assert b.phase() is Phase.PAUSED


def test_a_staff_proposed_stop_records_staff_as_who_stopped(ready_session: SessionBuilder) -> None:
    b = ready_session.to_phase("p1", "re_entry")
    b.run(c.Stop("p1", requested_by="staff", participant_response="agrees"), LEE)
    assert b.phase() is Phase.STOPPED and b.p().stopped_by == "staff"


@pytest.mark.parametrize("phase", ["arrived", "screened", "grounding", "stopped", "paused"])
def test_a_pause_outside_the_medicine_phases_is_an_invalid_transition(session: SessionBuilder, phase: str) -> None:
    if phase != "arrived":
        session.ready("p1")
    if phase not in ("arrived", "screened"):
        session.to_phase("p1", phase)
    session.refuse(c.Pause("p1", requested_by="participant"), code="invalid_transition")


@pytest.mark.parametrize("phase", ["arrived", "screened", "grounding", "stopped"])
def test_a_stop_outside_the_medicine_phases_is_an_invalid_transition(session: SessionBuilder, phase: str) -> None:
    if phase != "arrived":
        session.ready("p1")
    if phase not in ("arrived", "screened"):
        session.to_phase("p1", phase)
    session.refuse(c.Stop("p1", requested_by="participant"), code="invalid_transition")


@pytest.mark.parametrize("paused_from", ["dosed", "journeying", "re_entry"])
def test_resuming_with_the_participants_wish_returns_to_the_phase_before_the_pause(
    ready_session: SessionBuilder, paused_from: str
) -> None:
    b = ready_session.to_phase("p1", paused_from)
    b.run(c.Pause("p1", requested_by="participant"))
    b.advance(minutes=5)
    events = b.run(c.Resume("p1", participant_wishes_to_continue=True, reason=" feeling ready "), DOC)
    assert kinds(events) == ["resumed"]
    assert events[0].data == {"to": paused_from, "participant_wishes_to_continue": True, "reason": "feeling ready"}
    assert b.phase().value == paused_from and b.p().paused_from is None


def test_resuming_without_the_participants_wish_to_continue_is_refused(ready_session: SessionBuilder) -> None:
    b = ready_session.to_phase("p1", "paused")
    b.refuse(
        c.Resume("p1", participant_wishes_to_continue=False, requested_by="staff"),
        LEE,
        code="wish_to_continue_required",
    )
    assert b.phase() is Phase.PAUSED


@pytest.mark.parametrize("phase", ["journeying", "stopped", "grounding"])
def test_resuming_someone_who_is_not_paused_is_an_invalid_transition(ready_session: SessionBuilder, phase: str) -> None:
    b = ready_session.to_phase("p1", phase)
    err = b.refuse(c.Resume("p1", participant_wishes_to_continue=True), code="invalid_transition")
    assert err.details == {"current": phase}


def test_stopping_from_a_pause_ends_the_medicine_phase_and_clears_the_pause(ready_session: SessionBuilder) -> None:
    b = ready_session.to_phase("p1", "paused")
    events = b.run(c.Stop("p1", requested_by="participant"))
    assert events[0].data["from"] == "paused"
    assert b.phase() is Phase.STOPPED and b.p().paused_from is None
    b.refuse(c.Resume("p1", participant_wishes_to_continue=True), code="invalid_transition")
