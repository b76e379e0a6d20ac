"""The vitals schedule of PRODUCT.md: every 15 min after dosing (every 10 min while an IV dose is
infusing), with a blood pressure check at about 40 min, when BP peaks; a check that is due and
not taken raises a low reminder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.domain import DEFAULT_POLICY, Actor, Context, InvalidInput, SessionState, SupportRef, decide, evolve
from app.domain import commands as c
from app.domain.escalation import next_vitals_due
from app.domain.policy import Policy

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
FAY = Actor("fay", "facilitator")
DOC = Actor("doc", "prescriber")
SYSTEM = Actor("system", "system")
VITALS = {"sbp": 124, "dbp": 80, "hr": 72, "spo2": 98}


class Room:
    def __init__(self, policy: Policy = DEFAULT_POLICY) -> None:
        self.state = SessionState("s")
        self.now = T0
        self.policy = policy
        self.run(c.OpenSession("r", "individual", ("fay",), "lee"), Actor("lee", "lead"))
        self.run(c.CheckIn("fay", "facilitator"))
        self.run(c.AddParticipant("p1", "Ada", "C-1"))
        self.run(c.RecordScreening("p1", {}, 120, 80))
        self.run(c.RecordConsent("p1", (), "hand", "stop", False, False, "x", "ride", True))
        self.run(c.AssignSupport("p1", SupportRef("staff", "fay")))

    def run(self, command: c.Command, actor: Actor = FAY) -> list:  # type: ignore[type-arg]
        events = decide(self.state, command, Context(actor, self.now, self.policy))
        for event in events:
            self.state = evolve(self.state, event)
        return events

    def at(self, minutes: float) -> Room:
        self.now = T0 + timedelta(minutes=minutes)
        return self

    @property
    def due(self) -> datetime | None:
        return self.state.participants["p1"].vitals_due_at


def minutes(moment: datetime | None) -> float:
    assert moment is not None
    return (moment - T0) / timedelta(minutes=1)


def test_vitals_on_time_fall_due_at_15_and_30_then_at_40_for_the_bp_peak_then_every_15() -> None:
    room = Room()
    room.run(c.AdministerDose("p1", "sublingual", 100.0), DOC)
    assert minutes(room.due) == 15
    schedule = []
    for taken in (15, 30, 40, 55):
        room.at(taken).run(c.RecordVitals("p1", VITALS))
        schedule.append(minutes(room.due))
    assert schedule == [30, 40, 55, 70]


def test_an_iv_dose_infusing_for_40_minutes_has_vitals_every_10_minutes_until_it_ends() -> None:
    room = Room()
    room.run(c.AdministerDose("p1", "intravenous", 35.0, infusion_minutes=40), DOC)
    assert minutes(room.due) == 10
    schedule = []
    for taken in (10, 20, 30, 40, 55):
        room.at(taken).run(c.RecordVitals("p1", VITALS))
        schedule.append(minutes(room.due))
    assert schedule == [20, 30, 40, 55, 70]


def test_an_infusion_time_is_only_for_an_intravenous_dose() -> None:
    room = Room()
    with pytest.raises(InvalidInput):
        room.run(c.AdministerDose("p1", "sublingual", 100.0, infusion_minutes=20), DOC)


def test_the_bp_check_time_and_the_infusion_interval_come_from_the_policy() -> None:
    policy = Policy(vitals_interval_minutes=20, vitals_interval_minutes_infusing=5, bp_check_after_dose_minutes=30)
    dose = 10  # minutes of infusion
    assert minutes(next_vitals_due(T0, dose, T0, policy)) == 5
    assert minutes(next_vitals_due(T0, dose, T0 + timedelta(minutes=10), policy)) == 30  # the BP check caps 10 + 20
    assert minutes(next_vitals_due(T0, dose, T0 + timedelta(minutes=30), policy)) == 50


def test_a_missed_bp_check_at_40_minutes_raises_the_low_reminder() -> None:
    room = Room()
    room.run(c.AdministerDose("p1", "sublingual", 100.0), DOC)
    for taken in (15, 30):
        room.at(taken).run(c.RecordVitals("p1", VITALS))
    assert [e.data["condition"] for e in room.at(39.9).run(c.Tick(), SYSTEM) if e.kind == "escalation_raised"] == []
    raised = [e for e in room.at(40).run(c.Tick(), SYSTEM) if e.kind == "escalation_raised"]
    assert [(e.data["condition"], e.data["priority"]) for e in raised] == [("vitals_due", "low")]
