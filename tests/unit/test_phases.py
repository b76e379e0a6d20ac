"""The participant's phase machine and the session's own life: open, staff, close."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.domain import commands as c
from app.domain.decide import refusal
from app.domain.evolve import fold
from app.domain.model import TRANSITIONS, Phase

from .conftest import ADA, DOC, FAY, LEE, T0, SessionBuilder, kinds, screening_cmd

# ---------------------------------------------------------------- the session itself


def test_opening_a_session_records_room_kind_staff_and_lead() -> None:
    b = SessionBuilder(kind="group", facilitators=("fay", "finn", "fay"))
    events = b.run(c.OpenSession(room_id="room-7", kind="group", facilitators=("fay", "finn", "fay"), lead="lee"), LEE)

    assert kinds(events) == ["session_opened"]
    assert events[0].seq == 1 and events[0].at == T0 and events[0].actor == "lee"
    assert events[0].data == {"room_id": "room-7", "kind": "group", "facilitators": ["fay", "finn"], "lead": "lee"}
    assert b.state.opened_at == T0 and b.state.kind == "group" and b.state.facilitators == ("fay", "finn")


def test_opening_an_already_open_session_is_refused_as_an_invalid_transition(session: SessionBuilder) -> None:
    session.refuse(
        c.OpenSession(room_id="room-1", kind="individual", facilitators=(), lead="lee"), LEE, code="invalid_transition"
    )


@pytest.mark.parametrize("kind", ["", "retreat", "GROUP"])
def test_opening_a_session_of_an_unknown_kind_is_invalid_input(kind: str) -> None:
    err = SessionBuilder().invalid(c.OpenSession(room_id="r", kind=kind, facilitators=(), lead="lee"), LEE)
    assert err.details == {"field": "kind"}


def test_opening_a_session_without_a_lead_is_invalid_input() -> None:
    err = SessionBuilder().invalid(c.OpenSession(room_id="r", kind="individual", facilitators=("fay",), lead=""), LEE)
    assert err.details == {"field": "lead"}


def test_every_command_on_a_session_that_was_never_opened_is_refused_as_not_found() -> None:
    b = SessionBuilder()
    b.refuse(c.CheckIn(username="fay", role="facilitator"), FAY, code="not_found")
    b.refuse(c.Tick(), FAY, code="not_found")


@pytest.mark.parametrize(
    "command",
    [
        c.AddParticipant("p2", "Noor", "chart-9"),
        screening_cmd("p1"),
        c.RecordObservation("p1", note="calm"),
        c.CheckIn(username="finn", role="facilitator"),
    ],
    ids=["add_participant", "record_screening", "record_observation", "check_in"],
)
def test_an_admin_is_forbidden_from_clinical_commands(session: SessionBuilder, command: c.Command) -> None:
    session.refuse(command, ADA, code="forbidden")


def test_the_session_cannot_close_while_a_participant_is_still_active(session: SessionBuilder) -> None:
    session.with_participant("p2").run(c.Discharge("p2"))
    err = session.refuse(c.CloseSession(), LEE, code="participants_active")
    assert err.details == {"participants": ["p1"]}


def test_a_closed_session_refuses_new_clinical_commands_but_still_accepts_a_withdrawal(session: SessionBuilder) -> None:
    session.run(c.Discharge("p1"))
    assert kinds(session.run(c.CloseSession(), LEE)) == ["session_closed"]
    assert session.state.closed_at == T0

    session.refuse(c.AddParticipant("p2", "Noor", "chart-9"), FAY, code="session_closed")
    session.refuse(c.RecordObservation("p1", note="late note"), FAY, code="session_closed")
    events = session.run(c.WithdrawConsent("p1", ("music",)))
    assert kinds(events) == ["consent_withdrawn"] and events[0].data == {"items": ["music"]}


def test_adding_a_participant_twice_or_with_a_chart_already_in_the_session_is_refused(session: SessionBuilder) -> None:
    session.refuse(c.AddParticipant("p1", "Again", "chart-x"), code="already_exists")
    err = session.refuse(c.AddParticipant("p9", "Other", "chart-p1"), code="already_exists")
    assert err.details == {"chart_id": "chart-p1"}


@pytest.mark.parametrize("name, chart", [("  ", "chart-2"), ("Noor", ""), ("x" * 81, "chart-2")])
def test_a_participant_needs_a_display_name_and_a_chart_id_of_sensible_length(
    session: SessionBuilder, name: str, chart: str
) -> None:
    err = session.invalid(c.AddParticipant("p2", name, chart))
    assert err.details["field"] in ("display_name", "chart_id")


def test_an_added_participant_arrives_with_trimmed_name_and_chart(session: SessionBuilder) -> None:
    session.advance(minutes=3)
    events = session.run(c.AddParticipant("p2", "  Noor  ", " chart-22 "))
    assert events[0].participant_id == "p2"
    assert events[0].data == {"id": "p2", "display_name": "Noor", "chart_id": "chart-22"}
    p2 = session.p("p2")
    assert p2.phase is Phase.ARRIVED and p2.display_name == "Noor" and p2.added_at == session.now


# ---------------------------------------------------------------- the participant's phases


def test_screening_moves_an_arrived_participant_to_screened(session: SessionBuilder) -> None:
    events = session.run(screening_cmd("p1", 118, 76))
    assert kinds(events) == ["screening_recorded"]
    assert events[0].data["bp"] == {"sbp": 118, "dbp": 76} and events[0].data["flags"] == []
    assert session.phase() is Phase.SCREENED and session.p().screening_cleared


def test_a_participant_walks_through_journeying_re_entry_and_grounding_in_order(ready_session: SessionBuilder) -> None:
    b = ready_session.dosed()
    assert b.phase() is Phase.DOSED
    for frm, to in (("dosed", "journeying"), ("journeying", "re_entry"), ("re_entry", "grounding")):
        b.advance(minutes=15)
        events = b.run(c.ChangePhase("p1", to))
        assert kinds(events) == ["phase_changed"] and events[0].data == {"from": frm, "to": to}
        assert b.phase().value == to


@pytest.mark.parametrize(
    "start, to",
    [
        ("arrived", "journeying"),
        ("screened", "journeying"),
        ("screened", "grounding"),
        ("dosed", "grounding"),
        ("journeying", "grounding"),
        ("re_entry", "journeying"),
        ("grounding", "journeying"),
        ("grounding", "re_entry"),
        ("stopped", "journeying"),
        ("stopped", "re_entry"),
    ],
)
def test_an_illegal_phase_move_is_refused_as_an_invalid_transition(
    session: SessionBuilder, start: str, to: str
) -> None:
    if start != "arrived":
        session.ready("p1")
    if start not in ("arrived", "screened"):
        session.to_phase("p1", start)
    err = session.refuse(c.ChangePhase("p1", to), code="invalid_transition")
    assert err.details == {
        "current": start,
        "to": to,
        "allowed": sorted(p.value for p in TRANSITIONS[Phase(start)]),
    }
    assert session.phase().value == start


@pytest.mark.parametrize("to", ["paused", "stopped", "discharged", "transferred", "dosed", "screened", "nowhere"])
def test_change_phase_only_takes_the_ordinary_forward_moves(ready_session: SessionBuilder, to: str) -> None:
    ready_session.dosed()
    err = ready_session.invalid(c.ChangePhase("p1", to))
    assert err.details == {"field": "to"}


def test_a_screened_participant_may_be_screened_again_which_replaces_the_result(session: SessionBuilder) -> None:
    session.screened("p1", sbp=150, dbp=85)
    session.run(c.ClearScreening("p1", "BP acceptable for this patient"), DOC)
    assert session.p().screening_cleared_by == "doc"

    session.run(screening_cmd("p1", 160, 85))
    p = session.p()
    assert p.phase is Phase.SCREENED and p.screening.to_data()["bp"] == {"sbp": 160, "dbp": 85}
    assert p.screening_cleared_by is None and not p.screening_cleared


@pytest.mark.parametrize("phase", ["dosed", "journeying", "grounding"])
def test_screening_a_participant_who_has_been_dosed_is_refused(ready_session: SessionBuilder, phase: str) -> None:
    ready_session.to_phase("p1", phase)
    ready_session.refuse(screening_cmd("p1"), code="invalid_transition")


@pytest.mark.parametrize("sbp, dbp", [(39, 80), (301, 80), (120, 19), (120, 201)])
def test_a_screening_blood_pressure_outside_what_a_body_can_show_is_invalid_input(
    session: SessionBuilder, sbp: int, dbp: int
) -> None:
    err = session.invalid(screening_cmd("p1", sbp, dbp))
    assert err.details["field"] in ("bp.sbp", "bp.dbp")


def test_stopping_goes_to_stopped_then_only_to_grounding_or_transfer(ready_session: SessionBuilder) -> None:
    b = ready_session.to_phase("p1", "stopped")
    assert TRANSITIONS[Phase.STOPPED] == frozenset({Phase.GROUNDING, Phase.TRANSFERRED})
    b.refuse(c.Discharge("p1"), code="invalid_transition")
    b.refuse(c.ChangePhase("p1", "re_entry"), code="invalid_transition")
    b.refuse(c.Pause("p1", requested_by="participant"), code="invalid_transition")

    events = b.run(c.ChangePhase("p1", "grounding"))
    assert events[0].data == {"from": "stopped", "to": "grounding"}
    assert b.phase() is Phase.GROUNDING


def test_a_stopped_participant_can_be_transferred_to_emergency_care(ready_session: SessionBuilder) -> None:
    b = ready_session.to_phase("p1", "stopped")
    events = b.run(c.Transfer("p1", reason="chest pain", destination="City ED"))
    assert kinds(events) == ["transferred"]
    assert events[0].data == {"from": "stopped", "reason": "chest pain", "destination": "City ED"}
    assert b.phase() is Phase.TRANSFERRED and b.p().ended_at == b.now and b.p().checkin_due_at is None


@pytest.mark.parametrize("reason, destination", [("", "City ED"), ("fainted", "  ")])
def test_a_transfer_needs_a_reason_and_a_destination(
    ready_session: SessionBuilder, reason: str, destination: str
) -> None:
    ready_session.to_phase("p1", "journeying")
    err = ready_session.invalid(c.Transfer("p1", reason=reason, destination=destination))
    assert err.details["field"] in ("reason", "destination")


@pytest.mark.parametrize("phase", ["dosed", "journeying", "re_entry"])
def test_a_participant_in_the_medicine_phases_cannot_be_discharged_before_grounding(
    ready_session: SessionBuilder, phase: str
) -> None:
    ready_session.to_phase("p1", phase)
    err = ready_session.refuse(c.Discharge("p1"), code="invalid_transition")
    assert err.details["to"] == "discharged" and err.details["current"] == phase


def test_a_participant_who_never_took_the_medicine_may_leave_without_the_grounding_checklist(
    session: SessionBuilder,
) -> None:
    session.screened("p1")
    events = session.run(c.Discharge("p1"))
    assert kinds(events) == ["discharged"] and events[0].data == {"from": "screened"}
    assert session.phase() is Phase.DISCHARGED


@pytest.mark.parametrize(
    "command",
    [
        screening_cmd("p1"),
        c.RecordObservation("p1", note="back again?"),
        c.AssignSupport("p1", c.SupportRef("staff", "fay")),
        c.Discharge("p1"),
        c.Transfer("p1", "x", "y"),
    ],
    ids=["screening", "observation", "support", "discharge", "transfer"],
)
def test_a_participant_who_has_left_takes_no_further_clinical_entries(
    session: SessionBuilder, command: c.Command
) -> None:
    session.run(c.Discharge("p1"))
    err = session.refuse(command, code="participant_inactive")
    assert err.details == {"phase": "discharged"}


def test_a_command_for_someone_not_in_the_session_is_refused_as_not_found(session: SessionBuilder) -> None:
    err = session.refuse(c.ChangePhase("ghost", "journeying"), code="not_found")
    assert err.details == {"participant_id": "ghost"}


# ---------------------------------------------------------------- the record of a refusal


def test_a_refused_attempt_becomes_a_command_refused_event_naming_who_what_and_which_rule(
    ready_session: SessionBuilder,
) -> None:
    b = ready_session.dosed()
    command = c.RemoveSupport("p1", "fay")
    violation = b.refuse(command, FAY, code="dyad_locked")

    events = refusal(b.state, command, violation, b.ctx(FAY, device="tablet-2"))
    event = events[0]
    assert event.kind == "command_refused" and event.seq == b.state.seq + 1
    assert event.actor == "fay" and event.participant_id == "p1" and event.device == "tablet-2"
    assert event.data["command"] == "remove_support" and event.data["code"] == "dyad_locked"
    assert event.data["attempt"] == {"participant_id": "p1", "support_id": "fay"}
    assert [e.seq for e in events] == list(range(event.seq, event.seq + len(events)))
    # An attempt to break a dyad lock also opens a follow-up for the lead, pointing at the attempt.
    after = fold(b.state.session_id, events, b.state)
    followups = list(after.followups.values())
    assert [(f.participant_id, f.owner, f.source_seq, f.open) for f in followups] == [("p1", "lee", event.seq, True)]
    assert followups[0].due_at == b.now + timedelta(hours=48) and "dyad lock" in followups[0].reason


def test_folding_a_refusal_keeps_it_on_the_record_and_changes_nothing_else(ready_session: SessionBuilder) -> None:
    b = ready_session.dosed()
    command = c.RemoveSupport("p1", "fay")
    violation = b.refuse(command, FAY, code="dyad_locked")
    before = b.p()
    after = fold(b.state.session_id, refusal(b.state, command, violation, b.ctx(FAY)), b.state)
    assert after.participants["p1"] == before
    assert len(after.refusals) == 1
    assert [(f.participant_id, f.source_seq) for f in after.followups.values()] == [("p1", after.refusals[0].seq)]
    assert (after.refusals[0].code, after.refusals[0].actor, after.refusals[0].participant_id) == (
        "dyad_locked",
        "fay",
        "p1",
    )


def test_a_refusal_for_an_unknown_participant_is_recorded_against_the_session(session: SessionBuilder) -> None:
    command = c.ChangePhase("ghost", "journeying")
    violation = session.refuse(command, code="not_found")
    events = refusal(session.state, command, violation, session.ctx())
    assert kinds(events) == ["command_refused"]
    assert fold(session.state.session_id, events, session.state).followups == {}, "only a dyad lock opens a follow-up"
    event = events[0]
    assert event.participant_id is None and event.data["attempt"]["participant_id"] == "ghost"


# ---------------------------------------------------------------- regressions (defects found by this suite)


@pytest.mark.parametrize("to", ["journeying", "re_entry"])
def test_a_paused_participant_cannot_be_moved_on_by_a_phase_change_without_their_wish_to_continue(
    ready_session: SessionBuilder, to: str
) -> None:
    b = ready_session.to_phase("p1", "paused")
    b.refuse(c.ChangePhase("p1", to), code="invalid_transition")
