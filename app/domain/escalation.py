"""Alarms and their escalation: which observations raise which priority, the steps an alarm climbs
while nobody acknowledges it, and the follow-up (repair) items that serious events open.

Priorities follow IEC 60601-1-8 (high: respond immediately; medium: promptly; low: be aware).
Steps: 1 the room's facilitators; 2 also the session's lead; 3 also every lead on duty and the
medical on-call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from .events import (
    EscalationClimbed,
    EscalationRaised,
    EscalationResounded,
    EscalationUpdated,
    FollowupOpened,
    Payload,
)
from .model import PRIORITY_RANK, Escalation, ParticipantState, SessionState
from .policy import Policy

START_STEP = {"low": 1, "medium": 2, "high": 3}
DISTRESS_PRIORITY = {2: "low", 3: "medium", 4: "high"}
DISTRESS_WORDS = {2: "distressed", 3: "acute distress", 4: "emergency"}
# Step 3 reaches every lead on duty and the medical on-call, whatever room the alarm comes from.
REACHED_AT_STEP_3 = frozenset({"lead", "prescriber"})


def reaches_beyond_the_room(step: int, role: str) -> bool:
    """Whether an alarm at `step` reaches someone of `role` who does not work in its room."""
    return step >= 3 and role in REACHED_AT_STEP_3


STEP_WORDS = {
    1: "room facilitators",
    2: "room facilitators and the session's lead",
    3: "every lead on duty and the medical on-call",
}


class EventSink(Protocol):
    state: SessionState

    def add(self, payload: Payload, participant_id: str | None = None, actor: str | None = None) -> None: ...

    def next_seq(self) -> int: ...

    @property
    def now(self) -> datetime: ...

    @property
    def policy(self) -> Policy: ...


@dataclass(frozen=True)
class Alarm:
    condition: str
    priority: str
    reason: str


def _worse(a: Alarm | None, b: Alarm) -> Alarm:
    return b if a is None or PRIORITY_RANK[b.priority] > PRIORITY_RANK[a.priority] else a


def observation_alarms(scales: Mapping[str, int | None]) -> list[Alarm]:
    """Alarms from staff-observed scales: distress level, MOAA/S sedation, RASS agitation."""
    alarms = []
    distress = scales.get("distress")
    if distress is not None and distress >= 2:
        alarms.append(
            Alarm("distress", DISTRESS_PRIORITY[distress], f"Distress {distress}: {DISTRESS_WORDS[distress]}")
        )
    moaa_s = scales.get("moaa_s")
    if moaa_s is not None and moaa_s <= 2:
        priority = "high" if moaa_s == 0 else "medium"
        alarms.append(Alarm("sedation", priority, f"Deep sedation: MOAA/S {moaa_s}"))
    rass = scales.get("rass")
    if rass is not None and rass >= 3:
        priority = "high" if rass == 4 else "medium"
        alarms.append(Alarm("agitation", priority, f"Agitation: RASS +{rass}"))
    return alarms


def vitals_alarms(vitals: Mapping[str, float], policy: Policy) -> dict[str, Alarm]:
    """Each vital sign outside the clinic's thresholds, with the alarm it raises (medium or high).
    The one home of the vitals thresholds: alarms and the discharge checklist both read them here."""
    medium, high = policy.vitals.medium, policy.vitals.high
    found: dict[str, Alarm] = {}
    sbp, dbp, spo2, hr = vitals.get("sbp"), vitals.get("dbp"), vitals.get("spo2"), vitals.get("hr")
    if sbp is not None and sbp > high.sbp_above:
        found["sbp"] = Alarm("vitals", "high", f"Systolic BP {sbp:g} above {high.sbp_above}")
    elif sbp is not None and sbp > medium.sbp_above:
        found["sbp"] = Alarm("vitals", "medium", f"Systolic BP {sbp:g} above {medium.sbp_above}")
    if dbp is not None and dbp > high.dbp_above:
        found["dbp"] = Alarm("vitals", "high", f"Diastolic BP {dbp:g} above {high.dbp_above}")
    elif dbp is not None and dbp > medium.dbp_above:
        found["dbp"] = Alarm("vitals", "medium", f"Diastolic BP {dbp:g} above {medium.dbp_above}")
    if spo2 is not None and spo2 < high.spo2_below:
        found["spo2"] = Alarm("vitals", "high", f"SpO2 {spo2:g}% below {high.spo2_below}%")
    if hr is not None and hr > high.hr_above:
        found["hr"] = Alarm("vitals", "high", f"Heart rate {hr:g} above {high.hr_above}")
    elif hr is not None and hr < high.hr_below:
        found["hr"] = Alarm("vitals", "high", f"Heart rate {hr:g} below {high.hr_below}")
    return found


def vitals_alarm(vitals: Mapping[str, float], policy: Policy) -> Alarm | None:
    """The most urgent alarm the given vitals raise under the clinic's thresholds, if any."""
    worst: Alarm | None = None
    for alarm in vitals_alarms(vitals, policy).values():
        worst = _worse(worst, alarm)
    return worst


def vitals_flags(vitals: Mapping[str, float | None], policy: Policy) -> dict[str, str]:
    """Each reading that on its own would raise an alarm, with that alarm's priority: what a screen
    or an export marks as out of range. Derived from `vitals_alarm`, so the thresholds have one home."""
    flags = {}
    for name, value in vitals.items():
        if value is None:
            continue
        alarm = vitals_alarm({name: value}, policy)
        if alarm is not None:
            flags[name] = alarm.priority
    return flags


def _deadline(priority: str, step: int, now: datetime, policy: Policy) -> datetime | None:
    """When an unacknowledged alarm next climbs (medium at step 2) or sounds again (step 3)."""
    if priority == "low":
        return None
    if step == 2:
        return now + timedelta(seconds=policy.ack_timeout_seconds.medium)
    return now + timedelta(seconds=policy.ack_timeout_seconds.high)


def open_followup(sink: EventSink, participant_id: str, reason: str, source_seq: int) -> None:
    due = sink.now + timedelta(hours=sink.policy.followup_due_hours)
    sink.add(
        FollowupOpened(
            followup_id=f"{sink.state.session_id}-f{sink.next_seq()}",
            reason=reason,
            owner=sink.state.lead,
            due_at=due,
            source_seq=source_seq,
        ),
        participant_id,
    )


def raise_alarm(
    sink: EventSink,
    participant: ParticipantState,
    alarm: Alarm,
    open_escalation: Escalation | None,
    actor: str | None = None,
) -> None:
    """Open an escalation, or raise the open one for the same condition if this is more urgent.
    The first time an escalation reaches the lead (step 2 or more) a follow-up item opens."""
    step = START_STEP[alarm.priority]
    deadline = _deadline(alarm.priority, step, sink.now, sink.policy)
    reason = f"{participant.display_name}: {alarm.reason}"
    if open_escalation is None:
        seq = sink.next_seq()
        sink.add(
            EscalationRaised(
                escalation_id=f"{sink.state.session_id}-e{seq}",
                condition=alarm.condition,
                priority=alarm.priority,
                step=step,
                reason=reason,
                deadline=deadline,
            ),
            participant.id,
            actor=actor,
        )
        if step >= 2:
            open_followup(sink, participant.id, f"Escalated to the lead: {reason}", seq)
        return
    if PRIORITY_RANK[alarm.priority] <= open_escalation.rank:
        return
    step = max(step, open_escalation.step)
    deadline = _deadline(alarm.priority, step, sink.now, sink.policy)
    seq = sink.next_seq()
    sink.add(
        EscalationUpdated(
            escalation_id=open_escalation.id, priority=alarm.priority, step=step, reason=reason, deadline=deadline
        ),
        participant.id,
    )
    if open_escalation.step < 2 <= step:
        open_followup(sink, participant.id, f"Escalated to the lead: {reason}", seq)


def tick_escalations(sink: EventSink) -> None:
    """Unacknowledged alarms whose time has come climb (medium: step 2 -> 3) or sound again."""
    now, policy = sink.now, sink.policy
    for escalation in sink.state.open_escalations:
        if escalation.deadline is None or escalation.acknowledged_at is not None or escalation.deadline > now:
            continue
        next_deadline = now + timedelta(seconds=policy.ack_timeout_seconds.high)
        if escalation.step < 3:
            sink.add(
                EscalationClimbed(escalation_id=escalation.id, step=3, deadline=next_deadline),
                escalation.participant_id,
                actor="system",
            )
        else:
            sink.add(
                EscalationResounded(escalation_id=escalation.id, deadline=next_deadline),
                escalation.participant_id,
                actor="system",
            )


def tick_vitals_due(sink: EventSink) -> None:
    """A vitals check that is due and not taken raises a low reminder."""
    for p in sink.state.participants.values():
        if not p.altered or p.vitals_due_at is None or p.vitals_due_at > sink.now:
            continue
        if sink.state.open_escalation(p.id, "vitals_due") is not None:
            continue
        minutes = int((sink.now - p.vitals_due_at).total_seconds() // 60)
        late = f", {minutes} min late" if minutes else ""
        due = p.vitals_due_at.astimezone(sink.policy.time_zone)
        reminder = Alarm("vitals_due", "low", f"vitals check due at {due:%H:%M}{late}")
        raise_alarm(sink, p, reminder, None, actor="system")


def escalation_deadlines(state: SessionState) -> list[datetime]:
    found = [e.deadline for e in state.open_escalations if e.deadline is not None and e.acknowledged_at is None]
    for p in state.participants.values():
        if p.altered and p.vitals_due_at is not None and state.open_escalation(p.id, "vitals_due") is None:
            found.append(p.vitals_due_at)
    return found


def next_vitals_due(dosed_at: datetime, infusion_minutes: int | None, observed: datetime, policy: Policy) -> datetime:
    """When vitals are next due after a reading at `observed`: every vitals interval (shorter while
    an intravenous dose `infusion_minutes` long is infusing), and not later than the blood pressure
    check at about the time BP peaks after dosing, until a reading has been taken near it."""
    infusing_until = dosed_at + timedelta(minutes=int(infusion_minutes)) if infusion_minutes else None
    minutes = policy.vitals_interval_minutes
    if infusing_until is not None and observed < infusing_until:
        minutes = policy.vitals_interval_minutes_infusing
    due = observed + timedelta(minutes=minutes)
    bp_check = bp_check_at(dosed_at, policy)
    if observed < bp_check - BP_CHECK_TAKEN_WITHIN and due > bp_check:
        due = bp_check
    return due


# A reading this close before the blood pressure check after dosing counts as having taken it.
BP_CHECK_TAKEN_WITHIN = timedelta(minutes=5)
# The chart record shows the reading nearest the BP check as that check when it is at most this
# many minutes away from it.
BP_CHECK_REPORT_WINDOW_MINUTES = 20


def bp_check_at(dosed_at: datetime, policy: Policy) -> datetime:
    """When the blood pressure check falls: at about the time BP peaks after dosing."""
    return dosed_at + timedelta(minutes=policy.bp_check_after_dose_minutes)
