"""Invariant 4: a participant leaves the room only accompanied by a facilitator, and the room
keeps a facilitator while anyone in it is in an altered phase."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.domain import DEFAULT_POLICY, Actor, Context, RuleViolation, SessionState, SupportRef, decide, evolve
from app.domain import commands as c

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _apply(state: SessionState, command: c.Command, user: str = "fay", role: str = "facilitator") -> SessionState:
    for event in decide(state, command, Context(Actor(user, role), T0, DEFAULT_POLICY)):
        state = evolve(state, event)
    return state


def _room_with_two_dosed(*facilitators: str) -> SessionState:
    state = _apply(SessionState("s"), c.OpenSession("r", "group", facilitators, "lee"), "lee", "lead")
    for name in facilitators:
        state = _apply(state, c.CheckIn(name, "facilitator"), name)
    for pid in ("p1", "p2"):
        state = _apply(state, c.AddParticipant(pid, pid.upper(), f"C-{pid}"))
        state = _apply(state, c.RecordScreening(pid, {}, 120, 80))
        state = _apply(state, c.RecordConsent(pid, (), "hand", "stop", False, False, "x", "ride", True))
        state = _apply(state, c.AssignSupport(pid, SupportRef("staff", facilitators[0])))
        state = _apply(state, c.AdministerDose(pid, "sublingual", 100.0), "doc", "prescriber")
    return state


def test_a_participant_cannot_leave_with_someone_who_is_not_a_checked_in_facilitator() -> None:
    state = _room_with_two_dosed("fay", "finn")
    with pytest.raises(RuleViolation) as refused:
        decide(state, c.StepOut("p1", "stranger"), Context(Actor("fay", "facilitator"), T0, DEFAULT_POLICY))
    assert refused.value.code == "unaccompanied"


def test_the_last_facilitator_cannot_leave_with_one_participant_while_another_is_altered() -> None:
    state = _room_with_two_dosed("fay")
    with pytest.raises(RuleViolation) as refused:
        decide(state, c.StepOut("p1", "fay"), Context(Actor("fay", "facilitator"), T0, DEFAULT_POLICY))
    assert refused.value.code == "room_uncovered"


def test_an_escort_out_of_the_room_no_longer_covers_it() -> None:
    state = _room_with_two_dosed("fay", "finn")
    state = _apply(state, c.StepOut("p1", "finn"))
    assert state.participants["p1"].away_with == "finn"
    assert state.covering_present == ("fay",)
    with pytest.raises(RuleViolation) as refused:
        decide(state, c.CheckOut("fay"), Context(Actor("fay", "facilitator"), T0, DEFAULT_POLICY))
    assert refused.value.code in ("room_uncovered", "dyad_locked")
    with pytest.raises(RuleViolation) as escort:
        decide(state, c.CheckOut("finn"), Context(Actor("finn", "facilitator"), T0, DEFAULT_POLICY))
    assert escort.value.code == "unaccompanied"
    state = _apply(state, c.ReturnToRoom("p1"))
    assert state.participants["p1"].away_with is None
    assert state.covering_present == ("fay", "finn")
