"""Consent check-ins and the clock: a Tick yields what has come due by `now`, and the state says when
the next thing will come due.

Since vitals fall due every 15 min after the dose (earlier than the first check-in at 20 + 5 min),
tests about check-ins either record vitals on time, as staff would, or say what the vitals clock adds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.domain import commands as c
from app.domain.decide import next_deadline
from app.domain.policy import DEFAULT_POLICY, Policy

from .conftest import FINN, SessionBuilder, kinds, staff

INTERVAL = timedelta(minutes=DEFAULT_POLICY.checkin_interval_minutes)
GRACE = timedelta(minutes=DEFAULT_POLICY.checkin_grace_minutes)
VITALS_EVERY = timedelta(minutes=DEFAULT_POLICY.vitals_interval_minutes)
GOOD_VITALS = {"sbp": 124, "dbp": 80, "hr": 72, "spo2": 98}


def vitals_on_time(b: SessionBuilder, minutes_after_dose: float = 14) -> SessionBuilder:
    """Staff take vitals before they fall due, so only check-ins come due in the next quarter hour."""
    at = b.p().dosed_at + timedelta(minutes=minutes_after_dose)
    assert at >= b.now
    b.now = at
    b.run(c.RecordVitals("p1", GOOD_VITALS))
    assert b.p().vitals_due_at == at + VITALS_EVERY
    return b


def test_the_dose_sets_the_first_consent_check_in_one_interval_later(ready_session: SessionBuilder) -> None:
    b = ready_session.dosed()
    assert b.p().checkin_due_at == b.now + INTERVAL
    # The first vitals check (15 min) falls due before the first check-in's grace ends (25 min).
    assert b.p().vitals_due_at == b.now + VITALS_EVERY
    assert next_deadline(b.state, DEFAULT_POLICY) == b.now + VITALS_EVERY
    dosed_at = b.now
    vitals_on_time(b)
    assert next_deadline(b.state, DEFAULT_POLICY) == dosed_at + INTERVAL + GRACE


def test_nobody_altered_means_no_deadline_and_a_tick_yields_nothing(ready_session: SessionBuilder) -> None:
    assert next_deadline(ready_session.state, DEFAULT_POLICY) is None
    ready_session.advance(hours=5)
    assert ready_session.run(c.Tick()) == []


def test_a_tick_before_the_grace_period_ends_records_nothing(ready_session: SessionBuilder) -> None:
    b = vitals_on_time(ready_session.dosed())
    b.now = b.p().dosed_at + timedelta(minutes=24, seconds=59)
    assert b.run(c.Tick()) == []
    assert b.p().last_checkin is None


def test_a_check_in_not_answered_by_the_end_of_the_grace_period_is_recorded_as_missed(
    ready_session: SessionBuilder,
) -> None:
    b = vitals_on_time(ready_session.dosed())
    due = b.p().checkin_due_at
    b.now = due + GRACE
    events = b.run(c.Tick())

    assert kinds(events) == ["consent_checkin_missed"]
    assert events[0].actor == "system" and events[0].participant_id == "p1"
    assert events[0].data == {"due_at": due.isoformat(), "next_due_at": (due + INTERVAL).isoformat()}
    assert b.p().checkin_due_at == due + INTERVAL and b.p().last_checkin == events[0].payload
    assert b.run(c.Tick()) == [], "a second tick at the same moment records nothing new"


def test_a_long_silence_records_every_check_in_that_was_missed(ready_session: SessionBuilder) -> None:
    b = ready_session.dosed()
    first_due = b.p().checkin_due_at
    b.now = first_due + 2 * INTERVAL + GRACE
    events = b.run(c.Tick())
    missed = [e for e in events if e.kind == "consent_checkin_missed"]
    assert [e.data["due_at"] for e in missed] == [(first_due + k * INTERVAL).isoformat() for k in range(3)]
    assert [e.seq for e in missed] == list(range(events[0].seq, events[0].seq + 3))
    assert b.p().checkin_due_at == first_due + 3 * INTERVAL
    # Vitals untaken for an hour raise one low reminder, not one per quarter hour.
    rest = events[3:]
    assert [(e.kind, e.data["condition"], e.data["priority"]) for e in rest] == [
        ("escalation_raised", "vitals_due", "low")
    ]


def test_an_answered_check_in_moves_the_next_one_an_interval_from_now(ready_session: SessionBuilder) -> None:
    b = ready_session.dosed()
    due = b.p().checkin_due_at
    b.advance(minutes=18)
    b.run(c.RecordVitals("p1", GOOD_VITALS))
    events = b.run(c.AnswerCheckin("p1", ok=True, note="  doing fine  "), FINN)

    assert kinds(events) == ["consent_checkin_answered"]
    assert events[0].data == {
        "ok": True,
        "note": "doing fine",
        "due_at": due.isoformat(),
        "next_due_at": (b.now + INTERVAL).isoformat(),
    }
    assert b.p().checkin_due_at == b.now + INTERVAL
    # The vitals just taken fall due again (15 min) before this check-in's grace ends (25 min).
    assert next_deadline(b.state, DEFAULT_POLICY) == b.now + VITALS_EVERY
    assert b.now + INTERVAL + GRACE > b.now + VITALS_EVERY

    b.now = due + GRACE
    assert b.run(c.Tick()) == [], "the answered check-in is not missed"


def test_a_check_in_answered_not_ok_is_still_recorded_and_moves_the_next_one(ready_session: SessionBuilder) -> None:
    b = ready_session.to_phase("p1", "journeying")
    events = b.run(c.AnswerCheckin("p1", ok=False, note="wants to slow down"))
    assert events[0].data["ok"] is False
    assert b.p().checkin_due_at == b.now + INTERVAL


@pytest.mark.parametrize("phase", ["arrived", "screened"])
def test_check_ins_happen_only_from_the_dose(session: SessionBuilder, phase: str) -> None:
    if phase == "screened":
        session.screened("p1")
    session.refuse(c.AnswerCheckin("p1", ok=True), code="invalid_transition")


@pytest.mark.parametrize("phase", ["paused", "stopped", "grounding"])
def test_check_ins_keep_coming_due_in_every_altered_phase(ready_session: SessionBuilder, phase: str) -> None:
    b = ready_session.to_phase("p1", phase)
    due = b.p().checkin_due_at
    assert due is not None
    b.now = max(b.now, due + GRACE)
    assert "consent_checkin_missed" in kinds(b.run(c.Tick()))


def test_a_participant_who_has_left_has_no_check_in_due(ready_session: SessionBuilder) -> None:
    b = ready_session.to_phase("p1", "journeying")
    b.run(c.Transfer("p1", reason="vomiting blood", destination="City ED"))
    assert b.p().checkin_due_at is None
    assert next_deadline(b.state, DEFAULT_POLICY) is None
    b.advance(hours=3)
    assert b.run(c.Tick()) == []


def test_the_next_deadline_is_the_earliest_across_participants() -> None:
    # Vitals every hour here, so that only the check-ins decide the next deadline.
    policy = Policy(vitals_interval_minutes=60)
    session = SessionBuilder(policy=policy).opened().checked_in("fay").with_participant("p1")
    session.with_participant("p2")
    session.ready("p1").ready("p2", by=staff("finn"))
    session.dosed("p1")
    first = session.p("p1").checkin_due_at
    session.advance(minutes=7).dosed("p2")
    assert next_deadline(session.state, policy) == first + GRACE

    session.advance(minutes=5).run(c.AnswerCheckin("p1", ok=True))
    assert next_deadline(session.state, policy) == session.p("p2").checkin_due_at + GRACE

    session.now = session.p("p2").checkin_due_at + GRACE
    events = session.run(c.Tick())
    assert [(e.kind, e.participant_id) for e in events] == [("consent_checkin_missed", "p2")]


def test_a_tick_exactly_at_the_next_deadline_yields_something_and_just_before_it_nothing(
    ready_session: SessionBuilder,
) -> None:
    b = ready_session.dosed()
    dosed_at = b.now
    deadline = next_deadline(b.state, DEFAULT_POLICY)
    assert b.attempt(c.Tick()) == [] and deadline == dosed_at + VITALS_EVERY
    b.now = deadline - timedelta(microseconds=1)
    assert b.attempt(c.Tick()) == []
    b.now = deadline
    events = b.run(c.Tick())
    assert [(e.kind, e.data["condition"]) for e in events] == [("escalation_raised", "vitals_due")]

    # With the reminder open, the vitals clock is no longer a deadline; the check-in is next.
    deadline = next_deadline(b.state, DEFAULT_POLICY)
    assert deadline == dosed_at + INTERVAL + GRACE
    b.now = deadline - timedelta(microseconds=1)
    assert b.attempt(c.Tick()) == []
    b.now = deadline
    assert kinds(b.attempt(c.Tick())) == ["consent_checkin_missed"]


def test_the_check_in_interval_and_grace_come_from_the_policy() -> None:
    policy = Policy(checkin_interval_minutes=10, checkin_grace_minutes=2)
    b = SessionBuilder(policy=policy).opened().checked_in("fay").with_participant("p1").ready("p1").dosed("p1")
    dosed_at = b.now
    assert b.p().checkin_due_at == dosed_at + timedelta(minutes=10)
    assert next_deadline(b.state, policy) == dosed_at + timedelta(minutes=12)
    b.now = dosed_at + timedelta(minutes=12)
    events = b.run(c.Tick())
    assert events[0].data["next_due_at"] == (dosed_at + timedelta(minutes=20)).isoformat()


def test_a_tick_is_accepted_after_the_session_closed_and_yields_nothing(session: SessionBuilder) -> None:
    session.run(c.Discharge("p1"))
    session.run(c.CloseSession())
    session.advance(hours=1)
    assert session.run(c.Tick()) == []
