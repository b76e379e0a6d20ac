"""Distress reaches someone who must answer it (invariant 7 and story 2, "the room nobody held").

Observations and vitals raise alarms by priority; an unacknowledged alarm climbs (medium) or sounds
again (high) on the clock; acknowledging stops only that step's clock; only a resolution with what was
done and its outcome closes an escalation. Serious events open follow-up (repair) items for the lead.

The clock is a constant moved with timedelta; nothing sleeps.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from app.domain import commands as c
from app.domain.decide import next_deadline
from app.domain.escalation import observation_alarms, vitals_alarm
from app.domain.evolve import fold
from app.domain.model import Actor, Escalation, Event, Followup, Phase
from app.domain.policy import DEFAULT_POLICY, AckTimeoutSeconds, Policy, Vitals, VitalsHigh

from .conftest import ADA, DOC, FAY, FINN, LEE, SessionBuilder, kinds, partner, staff

MEDIUM_ACK = timedelta(seconds=DEFAULT_POLICY.ack_timeout_seconds.medium)  # 60 s
HIGH_ACK = timedelta(seconds=DEFAULT_POLICY.ack_timeout_seconds.high)  # 30 s
VITALS_EVERY = timedelta(minutes=DEFAULT_POLICY.vitals_interval_minutes)  # 15 min
FOLLOWUP_DUE = timedelta(hours=DEFAULT_POLICY.followup_due_hours)  # 48 h
TICK = timedelta(microseconds=1)
GOOD_VITALS = {"sbp": 124, "dbp": 80, "hr": 72, "spo2": 98}


# ---------------------------------------------------------------- helpers


def journeying(
    kind: str = "individual", policy: Policy = DEFAULT_POLICY, pids: tuple[str, ...] = ("p1",)
) -> SessionBuilder:
    """Each participant dosed and journeying (fay and finn in the room), vitals just taken, so that
    nothing else comes due on the clock for the next 15 minutes."""
    b = SessionBuilder(kind=kind, policy=policy).opened().checked_in("fay").checked_in("finn")
    for index, pid in enumerate(pids):
        b.with_participant(pid, name=f"Participant {pid}").ready(pid, by=staff("fay" if index % 2 == 0 else "finn"))
    for pid in pids:
        b.to_phase(pid, "journeying")
    for pid in pids:
        b.run(c.RecordVitals(pid, GOOD_VITALS))
    return b


@pytest.fixture
def b() -> SessionBuilder:
    return journeying()


def of_kind(events: list[Event], kind: str) -> list[Event]:
    return [e for e in events if e.kind == kind]


def the(events: list[Event], kind: str) -> Event:
    found = of_kind(events, kind)
    assert len(found) == 1, f"expected one {kind} in {kinds(events)}"
    return found[0]


def observe(b: SessionBuilder, pid: str = "p1", actor: Any = FAY, **scales: Any) -> list[Event]:
    return b.run(c.RecordObservation(pid, **scales), actor)


def escalation(b: SessionBuilder, escalation_id: str) -> Escalation:
    return b.state.escalations[escalation_id]


def raise_one(b: SessionBuilder, pid: str = "p1", **scales: Any) -> Escalation:
    """Record an observation that opens exactly one escalation, and return it."""
    events = observe(b, pid, **scales)
    return escalation(b, the(events, "escalation_raised").data["escalation_id"])


def followups_from(b: SessionBuilder, seq: int) -> list[Followup]:
    return [f for f in b.state.followups.values() if f.source_seq == seq]


SYSTEM = Actor("system", "system")  # as the service's scheduler sends every Tick


def tick(b: SessionBuilder, at: datetime) -> list[Event]:
    b.now = at
    return b.run(c.Tick(), SYSTEM)


# ---------------------------------------------------------------- every priority from every source

OBSERVATIONS = [
    # (scales, condition, priority, start step)
    ({"distress": 2}, "distress", "low", 1),
    ({"distress": 3}, "distress", "medium", 2),
    ({"distress": 4}, "distress", "high", 3),
    ({"moaa_s": 2}, "sedation", "medium", 2),
    ({"moaa_s": 1}, "sedation", "medium", 2),
    ({"moaa_s": 0}, "sedation", "high", 3),
    ({"rass": 3}, "agitation", "medium", 2),
    ({"rass": 4}, "agitation", "high", 3),
]

VITALS = [
    ({"sbp": 181}, "medium", "Systolic"),
    ({"dbp": 111}, "medium", "Diastolic"),
    ({"sbp": 201}, "high", "Systolic"),
    ({"dbp": 121}, "high", "Diastolic"),
    ({"spo2": 91}, "high", "SpO2"),
    ({"hr": 131}, "high", "Heart rate"),
    ({"hr": 49}, "high", "Heart rate"),
]

START_DEADLINE = {"low": None, "medium": MEDIUM_ACK, "high": HIGH_ACK}


def check_raised(b: SessionBuilder, events: list[Event], condition: str, priority: str, step: int) -> Escalation:
    raised = the(events, "escalation_raised")
    deadline = START_DEADLINE[priority]
    assert raised.participant_id == "p1" and raised.actor == "fay" and raised.at == b.now
    assert raised.data["condition"] == condition and raised.data["priority"] == priority
    assert raised.data["step"] == step
    assert raised.data["deadline"] == (None if deadline is None else (b.now + deadline).isoformat())
    assert raised.data["reason"].startswith("Participant p1: ")
    assert raised.data["escalation_id"] == f"s1-e{raised.seq}"
    e = escalation(b, raised.data["escalation_id"])
    assert (e.condition, e.priority, e.step, e.open, e.raised_at) == (condition, priority, step, True, b.now)
    assert e.acknowledged_at is None and e.resolved_at is None
    assert b.state.open_escalation("p1", condition) == e
    # Reaching the lead (step 2 or more) opens a follow-up at once; a low alarm does not.
    followups = followups_from(b, raised.seq)
    if step >= 2:
        assert kinds(events)[-1] == "followup_opened"
        assert [(f.participant_id, f.owner, f.due_at, f.open) for f in followups] == [
            ("p1", "lee", b.now + FOLLOWUP_DUE, True)
        ]
    else:
        assert followups == [] and "followup_opened" not in kinds(events)
    return e


@pytest.mark.parametrize(("scales", "condition", "priority", "step"), OBSERVATIONS)
def test_an_observed_scale_raises_its_priority_at_its_starting_step(
    b: SessionBuilder, scales: dict[str, int], condition: str, priority: str, step: int
) -> None:
    events = observe(b, **scales)
    assert kinds(events)[:2] == ["observation_recorded", "escalation_raised"]
    check_raised(b, events, condition, priority, step)


@pytest.mark.parametrize(("vitals", "priority", "words"), VITALS)
def test_vitals_beyond_the_clinics_thresholds_raise_a_vitals_alarm(
    b: SessionBuilder, vitals: dict[str, int], priority: str, words: str
) -> None:
    events = b.run(c.RecordVitals("p1", {**GOOD_VITALS, **vitals}))
    assert kinds(events)[:2] == ["vitals_recorded", "escalation_raised"]
    e = check_raised(b, events, "vitals", priority, {"medium": 2, "high": 3}[priority])
    assert words in e.reason


@pytest.mark.parametrize(
    "scales",
    [
        {"distress": 0},
        {"distress": 1},
        {"moaa_s": 3},
        {"moaa_s": 5},
        {"rass": 2},
        {"rass": 0},
        {"rass": -5},
        {"suds": 10},
        {"distress": 1, "moaa_s": 3, "rass": 2, "suds": 9},
    ],
)
def test_scales_short_of_the_thresholds_raise_nothing(b: SessionBuilder, scales: dict[str, int]) -> None:
    assert kinds(observe(b, **scales)) == ["observation_recorded"]
    assert b.state.escalations == {}


@pytest.mark.parametrize(
    "vitals",
    [{"sbp": 180}, {"dbp": 110}, {"sbp": 180, "dbp": 110, "spo2": 92, "hr": 130}, {"hr": 50}, {"rr": 40}],
)
def test_vitals_at_the_thresholds_raise_nothing(b: SessionBuilder, vitals: dict[str, int]) -> None:
    assert kinds(b.run(c.RecordVitals("p1", vitals))) == ["vitals_recorded"]
    assert b.state.escalations == {}


def test_one_observation_can_raise_one_escalation_per_condition(b: SessionBuilder) -> None:
    events = observe(b, distress=3, moaa_s=0, rass=4)
    raised = of_kind(events, "escalation_raised")
    assert [(e.data["condition"], e.data["priority"], e.data["step"]) for e in raised] == [
        ("distress", "medium", 2),
        ("sedation", "high", 3),
        ("agitation", "high", 3),
    ]
    assert sorted(f.source_seq for f in b.state.followups.values()) == [e.seq for e in raised]
    assert [e.condition for e in b.state.open_escalations] == ["sedation", "agitation", "distress"], (
        "open escalations: most urgent first"
    )


def test_the_worst_vital_decides_the_priority_of_one_vitals_alarm(b: SessionBuilder) -> None:
    events = b.run(c.RecordVitals("p1", {"sbp": 190, "dbp": 80, "spo2": 90}))
    raised = the(events, "escalation_raised")
    assert (raised.data["condition"], raised.data["priority"]) == ("vitals", "high")
    assert "SpO2 90" in raised.data["reason"]


def test_the_vitals_thresholds_come_from_the_policy() -> None:
    policy = Policy(vitals=Vitals(high=VitalsHigh(spo2_below=95)))
    b = journeying(policy=policy)
    raised = the(b.run(c.RecordVitals("p1", {"spo2": 94})), "escalation_raised")
    assert raised.data["priority"] == "high"
    assert vitals_alarm({"spo2": 94}, DEFAULT_POLICY) is None


def test_the_alarm_rules_are_pure_functions_of_the_scales() -> None:
    assert observation_alarms({"distress": None, "moaa_s": None, "rass": None}) == []
    assert [(a.condition, a.priority) for a in observation_alarms({"distress": 4, "moaa_s": 2, "rass": 3})] == [
        ("distress", "high"),
        ("sedation", "medium"),
        ("agitation", "medium"),
    ]


# ---------------------------------------------------------------- the clock: climbing and sounding again


def test_an_unacknowledged_medium_alarm_climbs_to_step_3_exactly_at_60_seconds(b: SessionBuilder) -> None:
    raised_at = b.now
    e = raise_one(b, distress=3)
    assert e.deadline == raised_at + MEDIUM_ACK
    assert next_deadline(b.state, DEFAULT_POLICY) == raised_at + MEDIUM_ACK

    assert tick(b, raised_at + timedelta(seconds=59)) == []
    assert tick(b, raised_at + MEDIUM_ACK - TICK) == []
    events = tick(b, raised_at + MEDIUM_ACK)

    assert kinds(events) == ["escalation_climbed"], "climbing opens no second follow-up"
    climbed = events[0]
    assert climbed.actor == "system" and climbed.participant_id == "p1"
    assert climbed.data == {
        "escalation_id": e.id,
        "step": 3,
        "deadline": (raised_at + MEDIUM_ACK + HIGH_ACK).isoformat(),
    }
    after = escalation(b, e.id)
    assert (after.step, after.priority, after.deadline, after.open) == (3, "medium", b.now + HIGH_ACK, True)
    assert len(b.state.followups) == 1
    assert tick(b, b.now) == [], "a second tick at the same moment yields nothing"


def test_at_step_3_an_unacknowledged_alarm_sounds_again_every_30_seconds(b: SessionBuilder) -> None:
    raised_at = b.now
    e = raise_one(b, distress=3)
    tick(b, raised_at + MEDIUM_ACK)
    climbed_at = b.now

    assert tick(b, climbed_at + HIGH_ACK - TICK) == []
    events = tick(b, climbed_at + HIGH_ACK)
    assert [(x.kind, x.data) for x in events] == [
        ("escalation_resounded", {"escalation_id": e.id, "deadline": (climbed_at + 2 * HIGH_ACK).isoformat()})
    ]
    events = tick(b, climbed_at + 2 * HIGH_ACK)
    assert kinds(events) == ["escalation_resounded"]
    assert escalation(b, e.id).step == 3 and escalation(b, e.id).sounded_at == b.now


def test_a_high_alarm_starts_at_step_3_and_sounds_again_every_30_seconds(b: SessionBuilder) -> None:
    raised_at = b.now
    e = raise_one(b, distress=4)
    assert (e.step, e.deadline) == (3, raised_at + HIGH_ACK)

    assert tick(b, raised_at + timedelta(seconds=29)) == []
    first = tick(b, raised_at + HIGH_ACK)
    assert [(x.kind, x.data["deadline"]) for x in first] == [
        ("escalation_resounded", (raised_at + 2 * HIGH_ACK).isoformat())
    ]
    second = tick(b, raised_at + 2 * HIGH_ACK)
    assert kinds(second) == ["escalation_resounded"]
    # A late tick sounds once and sets the next time from now: no burst of missed repeats.
    late = tick(b, raised_at + 5 * HIGH_ACK + timedelta(seconds=7))
    assert [(x.kind, x.data["deadline"]) for x in late] == [("escalation_resounded", (b.now + HIGH_ACK).isoformat())]
    assert escalation(b, e.id).step == 3 and len(b.state.followups) == 1


def test_a_low_alarm_starts_and_stays_at_step_1(b: SessionBuilder) -> None:
    e = raise_one(b, distress=2)
    assert (e.step, e.deadline) == (1, None)
    assert next_deadline(b.state, DEFAULT_POLICY) == b.p().vitals_due_at, "a low alarm has no clock of its own"
    events = tick(b, b.now + timedelta(minutes=14))
    assert events == []
    assert escalation(b, e.id).step == 1 and b.state.followups == {}


def test_the_acknowledgement_times_come_from_the_policy() -> None:
    policy = Policy(ack_timeout_seconds=AckTimeoutSeconds(medium=120, high=45))
    b = journeying(policy=policy)
    raised_at = b.now
    e = raise_one(b, distress=3)
    assert tick(b, raised_at + timedelta(seconds=119)) == []
    assert kinds(tick(b, raised_at + timedelta(seconds=120))) == ["escalation_climbed"]
    assert escalation(b, e.id).deadline == b.now + timedelta(seconds=45)


# ---------------------------------------------------------------- acknowledging is not resolving


def test_acknowledging_stops_the_clock_of_that_step_but_leaves_the_escalation_open(b: SessionBuilder) -> None:
    raised_at = b.now
    e = raise_one(b, distress=3)
    b.advance(seconds=20)
    events = b.run(c.AcknowledgeEscalation(e.id), LEE)

    assert [(x.kind, x.data, x.actor) for x in events] == [
        ("escalation_acknowledged", {"escalation_id": e.id, "step": 2}, "lee")
    ]
    acked = escalation(b, e.id)
    assert acked.open and acked.resolved_at is None
    assert (acked.acknowledged_at, acked.acknowledged_by, acked.deadline) == (b.now, "lee", None)
    assert acked in b.state.open_escalations
    # No clock left: the step-2 deadline passes without a climb, and it is not a deadline any more.
    assert next_deadline(b.state, DEFAULT_POLICY) == b.p().vitals_due_at
    assert tick(b, raised_at + MEDIUM_ACK) == []
    assert tick(b, raised_at + timedelta(minutes=4)) == []
    assert escalation(b, e.id).step == 2
    err = b.refuse(c.AcknowledgeEscalation(e.id), FINN, code="already_acknowledged")
    assert "lee" in err.message


def test_acknowledging_at_step_3_stops_the_sounding(b: SessionBuilder) -> None:
    raised_at = b.now
    e = raise_one(b, distress=4)
    tick(b, raised_at + HIGH_ACK)
    assert kinds(b.run(c.AcknowledgeEscalation(e.id), DOC)) == ["escalation_acknowledged"]
    assert tick(b, raised_at + 10 * HIGH_ACK) == []
    assert escalation(b, e.id).open


def test_a_higher_priority_clears_the_acknowledgement_and_restarts_the_clock(b: SessionBuilder) -> None:
    e = raise_one(b, distress=3)
    b.advance(seconds=10).run(c.AcknowledgeEscalation(e.id), LEE)
    b.advance(seconds=40)
    updated_at = b.now
    events = observe(b, distress=4)

    assert kinds(events) == ["observation_recorded", "escalation_updated"], "no second follow-up: it reached the lead"
    assert events[1].data == {
        "escalation_id": e.id,
        "priority": "high",
        "step": 3,
        "reason": "Participant p1: Distress 4: emergency",
        "deadline": (updated_at + HIGH_ACK).isoformat(),
    }
    now = escalation(b, e.id)
    assert (now.priority, now.step, now.acknowledged_at, now.acknowledged_by) == ("high", 3, None, None)
    assert now.raised_at == e.raised_at and len(b.state.escalations) == 1 and len(b.state.followups) == 1
    assert [h.kind for h in now.history] == ["escalation_raised", "escalation_acknowledged", "escalation_updated"]

    assert tick(b, updated_at + HIGH_ACK - TICK) == []
    assert kinds(tick(b, updated_at + HIGH_ACK)) == ["escalation_resounded"]
    # It can be acknowledged again at its new priority.
    assert kinds(b.run(c.AcknowledgeEscalation(e.id), LEE)) == ["escalation_acknowledged"]


def test_a_low_alarm_raised_to_medium_reaches_the_lead_and_opens_its_follow_up_then(b: SessionBuilder) -> None:
    e = raise_one(b, distress=2)
    b.advance(minutes=2).run(c.AcknowledgeEscalation(e.id), FAY)
    b.advance(minutes=1)
    updated_at = b.now
    events = observe(b, distress=3)

    assert kinds(events) == ["observation_recorded", "escalation_updated", "followup_opened"]
    assert (events[1].data["priority"], events[1].data["step"]) == ("medium", 2)
    assert [(f.source_seq, f.owner, f.due_at) for f in b.state.followups.values()] == [
        (events[1].seq, "lee", updated_at + FOLLOWUP_DUE)
    ]
    assert escalation(b, e.id).acknowledged_at is None
    assert tick(b, updated_at + MEDIUM_ACK - TICK) == []
    assert kinds(tick(b, updated_at + MEDIUM_ACK)) == ["escalation_climbed"]


def test_an_upgraded_alarm_keeps_when_it_was_raised_and_records_when_it_became_this_priority(
    b: SessionBuilder,
) -> None:
    raised_at = b.now
    e = raise_one(b, distress=2)
    assert (e.priority, e.priority_since, e.raised_priority) == ("low", raised_at, "low")

    b.advance(minutes=10)
    upgraded_at = b.now
    observe(b, distress=3)
    now = escalation(b, e.id)
    assert (now.priority, now.raised_at, now.priority_since, now.raised_priority) == (
        "medium",
        raised_at,
        upgraded_at,
        "low",
    )

    # The same level again, an acknowledgement and a climb change none of it.
    b.advance(seconds=20)
    observe(b, distress=3)
    tick(b, upgraded_at + MEDIUM_ACK)
    assert escalation(b, e.id).step == 3
    b.advance(seconds=5).run(c.AcknowledgeEscalation(e.id), LEE)
    assert (escalation(b, e.id).priority_since, escalation(b, e.id).raised_priority) == (upgraded_at, "low")

    b.advance(minutes=1)
    high_at = b.now
    observe(b, distress=4)
    final = escalation(b, e.id)
    assert (final.priority, final.priority_since, final.raised_at, final.raised_priority) == (
        "high",
        high_at,
        raised_at,
        "low",
    )
    assert b.refold().escalations[e.id] == final


def test_a_higher_priority_after_climbing_keeps_step_3(b: SessionBuilder) -> None:
    raised_at = b.now
    e = raise_one(b, distress=3)
    tick(b, raised_at + MEDIUM_ACK)
    b.advance(seconds=5)
    updated = the(observe(b, distress=4), "escalation_updated")
    assert (updated.data["step"], updated.data["priority"]) == (3, "high")
    assert escalation(b, e.id).deadline == b.now + HIGH_ACK


# ---------------------------------------------------------------- one escalation per condition and participant


@pytest.mark.parametrize("again", [{"distress": 3}, {"distress": 2}, {"distress": 1}, {"distress": 0}])
def test_the_same_or_a_lower_level_on_the_same_condition_adds_nothing(b: SessionBuilder, again: dict[str, int]) -> None:
    e = raise_one(b, distress=3)
    b.advance(seconds=30)
    assert kinds(observe(b, **again)) == ["observation_recorded"]
    assert list(b.state.escalations) == [e.id]
    kept = escalation(b, e.id)
    assert (kept.priority, kept.step, kept.deadline) == ("medium", 2, e.deadline), "a lower level never lowers it"


def test_a_different_condition_on_the_same_participant_opens_a_second_escalation(b: SessionBuilder) -> None:
    first = raise_one(b, distress=3)
    second = raise_one(b, rass=3)
    third = the(b.run(c.RecordVitals("p1", {"sbp": 185})), "escalation_raised")
    assert len({first.id, second.id, third.data["escalation_id"]}) == 3
    assert {e.condition for e in b.state.open_escalations} == {"distress", "agitation", "vitals"}
    # ... and the same conditions again change none of them.
    assert kinds(observe(b, distress=3, rass=3)) == ["observation_recorded"]
    assert kinds(b.run(c.RecordVitals("p1", {"dbp": 115}))) == ["vitals_recorded"]
    assert len(b.state.escalations) == 3


def test_the_same_condition_on_another_participant_is_its_own_escalation() -> None:
    b = journeying(pids=("p1", "p2"))
    one = raise_one(b, "p1", distress=3)
    two = raise_one(b, "p2", distress=3)
    assert one.id != two.id and two.participant_id == "p2"
    assert b.state.open_escalation("p2", "distress") == two


def test_once_resolved_the_same_condition_opens_a_new_escalation(b: SessionBuilder) -> None:
    first = raise_one(b, distress=3)
    b.run(c.ResolveEscalation(first.id, action="sat with her", outcome="settled"), LEE)
    second = raise_one(b, distress=3)
    assert second.id != first.id and not escalation(b, first.id).open
    assert len(b.state.followups) == 2


# ---------------------------------------------------------------- resolving: what was done, with what outcome


@pytest.mark.parametrize(
    ("action", "outcome", "field"),
    [
        ("", "settled", "action"),
        ("   ", "settled", "action"),
        ("sat with her", "", "outcome"),
        ("sat", " \n ", "outcome"),
    ],
)
def test_resolving_needs_both_an_action_and_an_outcome(
    b: SessionBuilder, action: str, outcome: str, field: str
) -> None:
    e = raise_one(b, distress=3)
    err = b.invalid(c.ResolveEscalation(e.id, action=action, outcome=outcome), LEE)
    assert err.details == {"field": field}
    assert escalation(b, e.id).open


def test_a_resolution_records_who_what_and_the_outcome_and_closes_the_escalation(b: SessionBuilder) -> None:
    raised_at = b.now
    e = raise_one(b, distress=3)
    b.advance(seconds=45)
    events = b.run(
        c.ResolveEscalation(e.id, action="  moved her to the quiet room, sat with her  ", outcome=" settled to 1 "), LEE
    )
    assert [(x.kind, x.data, x.participant_id, x.actor) for x in events] == [
        (
            "escalation_resolved",
            {"escalation_id": e.id, "action": "moved her to the quiet room, sat with her", "outcome": "settled to 1"},
            "p1",
            "lee",
        )
    ]
    done = escalation(b, e.id)
    assert not done.open and done.resolved_at == b.now and done.resolved_by == "lee"
    assert (done.action, done.outcome, done.deadline) == (
        "moved her to the quiet room, sat with her",
        "settled to 1",
        None,
    )
    assert b.state.open_escalations == () and b.state.open_escalation("p1", "distress") is None
    assert tick(b, raised_at + timedelta(minutes=5)) == [], "a resolved escalation has no clock"
    assert len(b.state.followups) == 1 and all(f.open for f in b.state.followups.values()), (
        "resolving the alarm does not close its follow-up"
    )


def test_an_escalation_can_be_resolved_without_being_acknowledged_first(b: SessionBuilder) -> None:
    e = raise_one(b, moaa_s=0)
    assert kinds(b.run(c.ResolveEscalation(e.id, action="airway check", outcome="rousable"), DOC)) == [
        "escalation_resolved"
    ]


def test_a_resolved_escalation_cannot_be_resolved_acknowledged_or_muted_again(b: SessionBuilder) -> None:
    e = raise_one(b, distress=3)
    b.run(c.ResolveEscalation(e.id, action="sat with her", outcome="settled"), LEE)
    err = b.refuse(c.ResolveEscalation(e.id, action="again", outcome="again"), FINN, code="already_resolved")
    assert "lee" in err.message and "sat with her" in err.message
    b.refuse(c.AcknowledgeEscalation(e.id), FINN, code="already_resolved")
    b.refuse(c.MuteAlarm(e.id), LEE, code="already_resolved")


def test_an_unknown_escalation_is_not_found(b: SessionBuilder) -> None:
    for command in (c.AcknowledgeEscalation("s1-e999"), c.ResolveEscalation("s1-e999", "a", "b"), c.MuteAlarm("nope")):
        assert b.refuse(command, LEE, code="not_found").details == {"escalation_id": command.escalation_id}


def test_an_admin_can_neither_acknowledge_nor_resolve(b: SessionBuilder) -> None:
    e = raise_one(b, distress=3)
    b.refuse(c.AcknowledgeEscalation(e.id), ADA, code="forbidden")
    b.refuse(c.ResolveEscalation(e.id, action="a", outcome="b"), ADA, code="forbidden")


# ---------------------------------------------------------------- muting


def test_muting_silences_for_a_while_but_neither_acknowledges_nor_stops_the_climb(b: SessionBuilder) -> None:
    raised_at = b.now
    e = raise_one(b, distress=3)
    b.advance(seconds=5)
    events = b.run(c.MuteAlarm(e.id), LEE)
    assert [(x.kind, x.data) for x in events] == [
        ("alarm_muted", {"escalation_id": e.id, "until": (b.now + timedelta(seconds=60)).isoformat()})
    ]
    muted = escalation(b, e.id)
    assert muted.muted_until == b.now + timedelta(seconds=60) and muted.acknowledged_at is None and muted.open
    assert kinds(tick(b, raised_at + MEDIUM_ACK)) == ["escalation_climbed"]


def test_a_higher_priority_ends_a_mute_as_it_ends_an_acknowledgement(b: SessionBuilder) -> None:
    e = raise_one(b, distress=3)
    b.advance(seconds=5).run(c.MuteAlarm(e.id), LEE)
    b.advance(seconds=10)
    observe(b, distress=4)
    now = escalation(b, e.id)
    assert now.priority == "high" and now.acknowledged_at is None
    assert now.muted_until is None or now.muted_until <= b.now, "the worse alarm must sound at once"


# ---------------------------------------------------------------- a restart in the middle of a countdown


def test_a_state_rebuilt_from_the_log_half_way_through_a_countdown_climbs_on_time(b: SessionBuilder) -> None:
    raised_at = b.now
    e = raise_one(b, distress=3)
    b.advance(seconds=30)

    rebuilt = fold(b.state.session_id, b.log)  # the app restarts: nothing but the log survives
    assert rebuilt == b.state
    assert next_deadline(rebuilt, DEFAULT_POLICY) == raised_at + MEDIUM_ACK
    b.state = rebuilt

    assert tick(b, raised_at + MEDIUM_ACK - TICK) == []
    events = tick(b, raised_at + MEDIUM_ACK)
    assert [(x.kind, x.data["escalation_id"], x.data["step"]) for x in events] == [("escalation_climbed", e.id, 3)]

    # ... and again half-way through the step-3 countdown.
    b.advance(seconds=15)
    b.state = fold(b.state.session_id, b.log)
    assert tick(b, raised_at + MEDIUM_ACK + HIGH_ACK - TICK) == []
    assert kinds(tick(b, raised_at + MEDIUM_ACK + HIGH_ACK)) == ["escalation_resounded"]


def test_an_acknowledgement_survives_a_restart(b: SessionBuilder) -> None:
    raised_at = b.now
    e = raise_one(b, distress=4)
    b.advance(seconds=10).run(c.AcknowledgeEscalation(e.id), LEE)
    b.state = fold(b.state.session_id, b.log)
    assert escalation(b, e.id).acknowledged_by == "lee" and escalation(b, e.id).deadline is None
    assert tick(b, raised_at + 4 * HIGH_ACK) == []


def test_a_vitals_check_due_survives_a_restart(ready_session: SessionBuilder) -> None:
    b = ready_session.dosed()
    dosed_at = b.now
    b.advance(minutes=7)
    b.state = fold(b.state.session_id, b.log)
    assert b.p().vitals_due_at == dosed_at + VITALS_EVERY
    assert tick(b, dosed_at + VITALS_EVERY - TICK) == []
    assert [x.data["condition"] for x in tick(b, dosed_at + VITALS_EVERY)] == ["vitals_due"]


# ---------------------------------------------------------------- vitals that are due


def test_a_vitals_check_due_and_not_taken_raises_one_low_reminder_that_vitals_resolve(
    ready_session: SessionBuilder,
) -> None:
    b = ready_session.dosed()
    dosed_at = b.now
    due = dosed_at + VITALS_EVERY
    assert b.p().vitals_due_at == due and next_deadline(b.state, DEFAULT_POLICY) == due

    assert tick(b, due - TICK) == []
    events = tick(b, due)
    assert kinds(events) == ["escalation_raised"], "a low reminder opens no follow-up"
    reminder = events[0]
    assert reminder.actor == "system" and reminder.participant_id == "p1"
    assert {k: reminder.data[k] for k in ("condition", "priority", "step", "deadline")} == {
        "condition": "vitals_due",
        "priority": "low",
        "step": 1,
        "deadline": None,
    }
    assert "vitals check due at 09:15" in reminder.data["reason"]

    # Only one at a time, however long the vitals stay untaken.
    assert tick(b, due + timedelta(minutes=1)) == []
    assert tick(b, due + timedelta(minutes=4)) == []
    assert [e.condition for e in b.state.open_escalations] == ["vitals_due"]
    assert next_deadline(b.state, DEFAULT_POLICY) == b.p().checkin_due_at + timedelta(minutes=5)

    b.advance(minutes=1)
    events = b.run(c.RecordVitals("p1", GOOD_VITALS), FINN)
    assert kinds(events) == ["vitals_recorded", "escalation_resolved"]
    assert events[0].data["next_vitals_due_at"] == (b.now + VITALS_EVERY).isoformat()
    assert events[1].data == {
        "escalation_id": reminder.data["escalation_id"],
        "action": "Vitals recorded",
        "outcome": "SBP 124, DBP 80, HR 72, SPO2 98",
        "automatic": True,
    }
    resolved = escalation(b, reminder.data["escalation_id"])
    assert not resolved.open and resolved.resolved_by == "finn"
    assert b.p().vitals_due_at == b.now + VITALS_EVERY

    # The next check comes due an interval after these vitals, and raises a new reminder then.
    b.run(c.AnswerCheckin("p1", ok=True))  # (so that only the vitals clock speaks below)
    next_due = b.now + VITALS_EVERY
    assert tick(b, next_due - TICK) == []
    again = tick(b, next_due)
    assert [(x.kind, x.data["condition"]) for x in again] == [("escalation_raised", "vitals_due")]
    assert again[0].data["escalation_id"] != reminder.data["escalation_id"]


def test_a_dose_recorded_late_sets_the_first_vitals_check_from_when_it_was_given(ready_session: SessionBuilder) -> None:
    b = ready_session.advance(minutes=20)
    given = b.now - timedelta(minutes=12)
    b.run(c.AdministerDose("p1", "sublingual", 50.0, administered_at=given), DOC)
    assert b.p().vitals_due_at == given + VITALS_EVERY
    assert [x.data["condition"] for x in tick(b, given + VITALS_EVERY)] == ["vitals_due"]


def test_a_late_entry_moves_the_vitals_clock_only_forward(b: SessionBuilder) -> None:
    due = b.p().vitals_due_at
    b.advance(minutes=3)
    events = b.run(c.RecordVitals("p1", GOOD_VITALS, observed_at=b.now - timedelta(minutes=10)))
    assert "next_vitals_due_at" not in events[0].data
    assert b.p().vitals_due_at == due


def test_vitals_before_the_dose_set_no_clock(session: SessionBuilder) -> None:
    events = session.run(c.RecordVitals("p1", GOOD_VITALS))
    assert "next_vitals_due_at" not in events[0].data
    assert session.p().vitals_due_at is None and next_deadline(session.state, DEFAULT_POLICY) is None


def test_vitals_that_resolve_a_reminder_can_raise_their_own_alarm(ready_session: SessionBuilder) -> None:
    b = ready_session.dosed()
    tick(b, b.p().vitals_due_at)
    events = b.run(c.RecordVitals("p1", {"spo2": 89}))
    assert kinds(events) == ["vitals_recorded", "escalation_resolved", "escalation_raised", "followup_opened"]
    assert [e.condition for e in b.state.open_escalations] == ["vitals"]


def test_the_vitals_interval_comes_from_the_policy() -> None:
    policy = Policy(vitals_interval_minutes=10)
    b = SessionBuilder(policy=policy).opened().checked_in("fay").with_participant("p1").ready("p1").dosed("p1")
    assert b.p().vitals_due_at == b.now + timedelta(minutes=10)


def test_someone_who_has_left_has_no_vitals_due(b: SessionBuilder) -> None:
    b.run(c.Transfer("p1", reason="chest pain", destination="City ED"))
    assert b.p().vitals_due_at is None
    assert tick(b, b.now + timedelta(hours=2)) == []


# ---------------------------------------------------------------- follow-up (repair) items


def test_a_stop_opens_a_follow_up_for_the_lead(ready_session: SessionBuilder) -> None:
    b = ready_session.to_phase("p1", "journeying")
    events = b.run(c.Stop("p1", requested_by="participant", reason="too much"), FINN)
    assert kinds(events) == ["stopped", "followup_opened"]
    opened = events[1]
    assert opened.participant_id == "p1" and opened.actor == "finn"
    assert opened.data == {
        "followup_id": f"s1-f{opened.seq}",
        "reason": "Participant p1 stopped the medicine phase (they asked)",
        "owner": "lee",
        "due_at": (b.now + FOLLOWUP_DUE).isoformat(),
        "source_seq": events[0].seq,
    }
    f = b.state.followups[opened.data["followup_id"]]
    assert (f.participant_id, f.owner, f.opened_at, f.due_at, f.source_seq, f.open) == (
        "p1",
        "lee",
        b.now,
        b.now + FOLLOWUP_DUE,
        events[0].seq,
        True,
    )


def test_a_stop_staff_propose_opens_a_follow_up_only_if_it_happens(ready_session: SessionBuilder) -> None:
    b = ready_session.to_phase("p1", "journeying")
    declined = b.run(c.Stop("p1", requested_by="staff", participant_response="declines"))
    assert kinds(declined) == ["pause_or_stop_declined"] and b.state.followups == {}
    agreed = b.run(c.Stop("p1", requested_by="staff", participant_response="agrees"))
    assert kinds(agreed) == ["stopped", "followup_opened"]
    assert "staff proposed it" in agreed[1].data["reason"]


def test_a_pause_opens_no_follow_up(ready_session: SessionBuilder) -> None:
    b = ready_session.to_phase("p1", "journeying")
    assert kinds(b.run(c.Pause("p1", requested_by="participant"))) == ["paused"]
    assert b.state.followups == {}


def test_an_emergency_handover_opens_a_follow_up(ready_session: SessionBuilder) -> None:
    b = ready_session.checked_in("finn").to_phase("p1", "journeying")
    events = b.run(c.HandOverSupport("p1", replacement=staff("finn"), reason="fay is unwell"), LEE)
    assert kinds(events) == ["support_handed_over", "followup_opened"]
    (f,) = followups_from(b, events[0].seq)
    assert (f.participant_id, f.owner, f.due_at) == ("p1", "lee", b.now + FOLLOWUP_DUE)
    assert "fay is unwell" in f.reason


def test_an_attempt_to_break_a_dyad_lock_opens_a_follow_up_for_the_journeyer(dyad: SessionBuilder) -> None:
    dyad.to_phase("p1", "journeying")
    events = dyad.refused_on_record(c.RemoveSupport("p1", "p2"), FAY, code="dyad_locked")
    refused = events[0]
    assert refused.kind == "command_refused" and refused.data["code"] == "dyad_locked"
    (f,) = followups_from(dyad, refused.seq)
    assert (f.participant_id, f.owner, f.due_at, f.open) == ("p1", "lee", dyad.now + FOLLOWUP_DUE, True)
    assert "fay" in f.reason and "dyad lock" in f.reason
    assert dyad.p("p1").support == (partner("p2"),), "the attempt changed nothing"


def test_a_partner_who_tries_to_leave_a_journeyer_opens_a_follow_up_for_the_journeyer(dyad: SessionBuilder) -> None:
    dyad.to_phase("p1", "journeying")
    events = dyad.refused_on_record(c.Discharge("p2"), FAY, code="dyad_locked")
    assert [f.participant_id for f in followups_from(dyad, events[0].seq)] == ["p1"]


def test_other_refusals_open_no_follow_up(b: SessionBuilder) -> None:
    b.refused_on_record(c.Discharge("p1"), FAY, code="invalid_transition")
    b.refused_on_record(c.CheckOut("nobody"), FAY, code="not_checked_in")
    assert len(b.state.refusals) == 2 and b.state.followups == {}


def test_a_dyad_lock_on_several_journeyers_opens_a_follow_up_for_each_of_them() -> None:
    b = SessionBuilder().opened().checked_in("fay").checked_in("finn").with_participant("p1").with_participant("p2")
    b.ready("p1").ready("p2").dosed("p1").dosed("p2")  # fay is the only support of both
    events = b.refused_on_record(c.CheckOut("fay"), FAY, code="dyad_locked")
    assert sorted(f.participant_id for f in followups_from(b, events[0].seq)) == ["p1", "p2"]


def test_the_follow_up_due_time_comes_from_the_policy() -> None:
    b = journeying(policy=Policy(followup_due_hours=24))
    raise_one(b, distress=3)
    (f,) = b.state.followups.values()
    assert f.due_at == b.now + timedelta(hours=24)


def test_closing_a_follow_up_needs_a_note_of_the_contact(b: SessionBuilder) -> None:
    raise_one(b, distress=3)
    (f,) = b.state.followups.values()
    for note in ("", "   "):
        assert b.invalid(c.CloseFollowup(f.id, contact_note=note), LEE).details == {"field": "contact_note"}
    assert b.state.followups[f.id].open

    b.advance(hours=20)
    events = b.run(c.CloseFollowup(f.id, contact_note="  called her; sleeping well, integration booked  "), LEE)
    assert [(x.kind, x.data, x.participant_id) for x in events] == [
        (
            "followup_closed",
            {"followup_id": f.id, "contact_note": "called her; sleeping well, integration booked"},
            "p1",
        )
    ]
    closed = b.state.followups[f.id]
    assert not closed.open and (closed.closed_at, closed.closed_by) == (b.now, "lee")
    assert closed.contact_note == "called her; sleeping well, integration booked"
    err = b.refuse(c.CloseFollowup(f.id, contact_note="again"), LEE, code="already_closed")
    assert "lee" in err.message
    assert b.refuse(c.CloseFollowup("s1-f999", contact_note="x"), LEE, code="not_found").details == {
        "followup_id": "s1-f999"
    }


def test_a_follow_up_can_be_closed_after_the_session_closed(ready_session: SessionBuilder) -> None:
    b = ready_session.to_phase("p1", "journeying")
    b.run(c.Stop("p1", requested_by="participant"))
    (f,) = b.state.followups.values()
    b.run(c.Transfer("p1", reason="could not settle", destination="City ED"))
    b.run(c.CloseSession(), LEE)
    b.advance(days=1)
    assert kinds(b.run(c.CloseFollowup(f.id, contact_note="called; home and safe"), LEE)) == ["followup_closed"]
    b.refuse(c.AcknowledgeEscalation("s1-e1"), LEE, code="session_closed")


# ---------------------------------------------------------------- nobody leaves with an alarm open


def test_discharge_is_refused_while_the_participant_has_an_open_escalation(ready_session: SessionBuilder) -> None:
    b = ready_session.to_phase("p1", "journeying")
    e = raise_one(b, distress=3)
    b.run(c.AcknowledgeEscalation(e.id), LEE)
    b.advance(minutes=10).run(c.ChangePhase("p1", "re_entry"))
    b.advance(minutes=10).run(c.ChangePhase("p1", "grounding"))
    b.now = max(b.now, b.p().dosed_at + timedelta(minutes=120))
    b.run(c.RecordVitals("p1", GOOD_VITALS))
    b.run(c.RecordObservation("p1", distress=0, moaa_s=5, rass=0))
    for item in (
        "oriented",
        "steady_gait",
        "nausea_settled",
        "transport_confirmed",
        "followup_scheduled",
        "belongings_returned",
    ):
        b.run(c.TickChecklistItem("p1", item))

    err = b.refuse(c.Discharge("p1"), LEE, code="escalations_open")
    assert err.details == {"escalations": [e.id]}
    assert "Distress 3" in err.message, "an acknowledged escalation is still open"

    b.run(c.ResolveEscalation(e.id, action="sat with her through re-entry", outcome="settled, distress 0"), LEE)
    assert kinds(b.run(c.Discharge("p1"), LEE)) == ["discharged"]


def test_another_participants_escalation_does_not_hold_back_a_discharge() -> None:
    b = journeying(pids=("p1",))
    b.with_participant("p2", name="Participant p2")
    raise_one(b, "p1", distress=3)
    assert kinds(b.run(c.Discharge("p2"))) == ["discharged"]


def test_the_session_closes_only_when_every_escalation_is_resolved(b: SessionBuilder) -> None:
    e = raise_one(b, moaa_s=0)
    b.run(c.Transfer("p1", reason="unrousable", destination="City ED"), LEE)
    assert escalation(b, e.id).open, "leaving does not resolve an escalation"
    err = b.refuse(c.CloseSession(), LEE, code="escalations_open")
    assert err.details == {"escalations": [e.id]}
    b.run(c.ResolveEscalation(e.id, action="called 911, handed over to paramedics", outcome="transferred"), LEE)
    assert kinds(b.run(c.CloseSession(), LEE)) == ["session_closed"]


def test_open_follow_ups_do_not_hold_back_closing_the_session(ready_session: SessionBuilder) -> None:
    b = ready_session.to_phase("p1", "journeying")
    b.run(c.Stop("p1", requested_by="participant"))
    b.run(c.Transfer("p1", reason="could not settle", destination="City ED"))
    assert any(f.open for f in b.state.followups.values())
    assert kinds(b.run(c.CloseSession(), LEE)) == ["session_closed"]


# ---------------------------------------------------------------- a disrupted group


def test_in_a_group_a_participant_at_distress_3_or_more_disrupts_the_room() -> None:
    b = journeying(kind="group", pids=("p1", "p2", "p3"))
    assert b.state.disrupted_by == ()
    observe(b, "p1", distress=2)
    assert b.state.disrupted_by == ()
    observe(b, "p1", distress=3)
    assert [p.id for p in b.state.disrupted_by] == ["p1"]
    observe(b, "p2", distress=4)
    assert [p.id for p in b.state.disrupted_by] == ["p1", "p2"]
    # Settling ends the disruption even while the escalation stays open until resolved.
    observe(b, "p1", distress=1)
    assert [p.id for p in b.state.disrupted_by] == ["p2"]
    assert b.state.open_escalation("p1", "distress") is not None


def test_a_participant_out_of_the_room_or_gone_no_longer_disrupts_it() -> None:
    b = journeying(kind="group", pids=("p1", "p2"))
    observe(b, "p1", distress=3)
    observe(b, "p2", distress=4)
    b.run(c.StepOut("p1", accompanied_by="finn"))
    assert [p.id for p in b.state.disrupted_by] == ["p2"]
    b.run(c.Transfer("p2", reason="emergency", destination="City ED"), LEE)
    assert b.state.disrupted_by == ()


@pytest.mark.parametrize("kind", ["dyad_training", "individual"])
def test_only_a_group_is_disrupted(kind: str) -> None:
    b = journeying(kind=kind)
    observe(b, "p1", distress=4)
    assert b.state.disrupted_by == ()


def test_a_dedicated_facilitator_stays_with_a_disrupting_participant_as_their_support() -> None:
    b = journeying(kind="group", pids=("p1", "p2"))  # fay supports p1, finn supports p2
    observe(b, "p1", distress=3)
    events = b.run(c.AssignDedicatedFacilitator("p1", "finn"), LEE)
    assert [(x.kind, x.data) for x in events] == [
        ("dedicated_facilitator_assigned", {"username": "finn"}),
        ("support_assigned", {"support": {"kind": "staff", "id": "finn"}}),
    ]
    assert b.p("p1").dedicated_facilitator == "finn"
    assert b.p("p1").support == (staff("fay"), staff("finn"))


def test_a_dedicated_facilitator_who_already_supports_is_not_assigned_twice() -> None:
    b = journeying(kind="group", pids=("p1", "p2"))
    events = b.run(c.AssignDedicatedFacilitator("p1", "fay"), LEE)
    assert kinds(events) == ["dedicated_facilitator_assigned"]
    assert b.p("p1").support == (staff("fay"),)


def test_a_dedicated_facilitator_must_be_a_facilitator_in_the_room() -> None:
    b = journeying(kind="group", pids=("p1", "p2"))
    b.checked_in("doc")
    for username in ("lee", "doc", "stranger"):  # lee is not checked in; a prescriber is not a facilitator
        err = b.refuse(c.AssignDedicatedFacilitator("p1", username), LEE, code="not_checked_in")
        assert err.details == {"username": username}
    b.run(c.StepOut("p2", accompanied_by="finn"))
    b.refuse(c.AssignDedicatedFacilitator("p1", "finn"), LEE, code="not_checked_in")


def test_nobody_is_dedicated_to_someone_who_has_left() -> None:
    b = journeying(kind="group", pids=("p1", "p2"))
    b.run(c.Transfer("p1", reason="emergency", destination="City ED"), LEE)
    b.refuse(c.AssignDedicatedFacilitator("p1", "finn"), LEE, code="participant_inactive")


# ---------------------------------------------------------------- the whole story, refolded


def test_the_room_nobody_held_is_held_and_the_record_refolds(b: SessionBuilder) -> None:
    start = b.now
    e = raise_one(b, distress=3)
    assert kinds(tick(b, start + MEDIUM_ACK)) == ["escalation_climbed"]
    assert kinds(tick(b, start + MEDIUM_ACK + HIGH_ACK)) == ["escalation_resounded"]
    b.advance(seconds=5).run(c.AcknowledgeEscalation(e.id), LEE)
    b.advance(minutes=3).run(c.ResolveEscalation(e.id, action="lead sat with her", outcome="settled to 1"), LEE)
    (f,) = b.state.followups.values()
    b.advance(days=1).run(c.CloseFollowup(f.id, contact_note="called; she felt heard"), LEE)

    assert fold(b.state.session_id, b.log) == b.state
    history = [h.kind for h in escalation(b, e.id).history]
    assert history == [
        "escalation_raised",
        "escalation_climbed",
        "escalation_resounded",
        "escalation_acknowledged",
        "escalation_resolved",
    ]
    assert b.phase() is Phase.JOURNEYING


# ---------------------------------------------------------------- the clock's own entries


def test_a_missed_vitals_reminder_is_raised_by_the_system_not_by_a_person(b: SessionBuilder) -> None:
    due = b.p().vitals_due_at
    assert due is not None
    raised = the(tick(b, due), "escalation_raised")
    assert (raised.actor, raised.data["condition"]) == ("system", "vitals_due")


def test_a_late_entry_taken_just_before_the_due_time_answers_the_reminder_and_sets_the_next(b: SessionBuilder) -> None:
    due = b.p().vitals_due_at
    assert due is not None
    tick(b, due + timedelta(minutes=2))
    taken = due - timedelta(minutes=1)
    events = b.run(c.RecordVitals("p1", GOOD_VITALS, observed_at=taken))
    assert the(events, "escalation_resolved").data["automatic"] is True
    assert b.p().vitals_due_at == taken + VITALS_EVERY
    assert of_kind(tick(b, taken + VITALS_EVERY - timedelta(seconds=1)), "escalation_raised") == []


def test_climbing_to_step_3_ends_a_mute_so_the_new_audience_hears_it(b: SessionBuilder) -> None:
    e = raise_one(b, distress=3)
    b.advance(seconds=5)
    b.run(c.MuteAlarm(e.id), LEE)
    assert escalation(b, e.id).muted_until is not None
    tick(b, e.raised_at + MEDIUM_ACK)
    climbed = escalation(b, e.id)
    assert (climbed.step, climbed.muted_until) == (3, None)


@pytest.mark.parametrize(
    "step, role, reached",
    [
        (3, "lead", True),
        (3, "prescriber", True),
        (3, "facilitator", False),
        (3, "admin", False),
        (2, "lead", False),
        (1, "prescriber", False),
    ],
)
def test_only_step_3_reaches_leads_and_the_medical_on_call_beyond_the_room(step: int, role: str, reached: bool) -> None:
    from app.domain.escalation import reaches_beyond_the_room

    assert reaches_beyond_the_room(step, role) is reached
