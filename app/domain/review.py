"""The session review and replay: every figure folded from the session's log, with `now` as input.

Nothing here is typed in by hand. The review walks the log once, folding each event into the
session's state with `evolve` (the same fold the screens use) and, between one event and the next,
adds the time that passed to whichever figures the state at that moment makes true: a participant
at distress 2 or more whose alarm nobody has acknowledged, a journeyer without an available support
person, a room without a facilitator or under the clinic's ratio. The last stretch runs to the
session's close, or to `now` while it is still open.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from .coverage import facilitators_needed
from .events import (
    CommandRefused,
    ConsentCheckinMissed,
    EscalationAcknowledged,
    EscalationClimbed,
    EscalationRaised,
    EscalationUpdated,
)
from .evolve import evolve
from .followups import climbs_at, followup_state
from .model import Escalation, Event, Followup, SessionState, Sighting
from .policy import Policy
from .rules.support import support_available

# The distress level from which a participant needs an answer (PRODUCT.md: 2 distressed and up).
DISTRESS_NEEDS_ANSWER = 2
DYAD_LOCK_CODE = "dyad_locked"


class ResponseTimes:
    """The times from an alarm's raise to its first sighting, acknowledgement and resolution: one
    rule for the session review and the clinic's report (the dataclasses give the four times)."""

    raised_at: datetime
    first_seen_at: datetime | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None

    @property
    def seconds_to_first_seen(self) -> float | None:
        return seconds_between(self.raised_at, self.first_seen_at)

    @property
    def seconds_to_acknowledge(self) -> float | None:
        return seconds_between(self.raised_at, self.acknowledged_at)

    @property
    def seconds_to_resolve(self) -> float | None:
        return seconds_between(self.raised_at, self.resolved_at)


@dataclass(frozen=True)
class AlarmStep:
    """One thing that happened to an alarm: raised, raised in priority, climbed, sounded again,
    acknowledged, muted, resolved."""

    kind: str
    at: datetime
    by: str
    priority: str
    step: int


@dataclass(frozen=True)
class AlarmReview(ResponseTimes):
    id: str
    participant_id: str
    participant_name: str
    condition: str
    reason: str
    raised_priority: str
    priority: str
    raised_at: datetime
    raised_by: str
    highest_step: int
    steps: tuple[AlarmStep, ...]
    seen: tuple[Sighting, ...]
    first_seen_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    action: str | None
    outcome: str | None

    @property
    def first_sighting(self) -> Sighting | None:
        """Who first had the alarm on a visible screen, when, and on which device."""
        return min(self.seen, key=lambda s: s.at, default=None)


@dataclass(frozen=True)
class Stretch:
    """A stretch of time with one value (a distress level, a phase) for the timeline chart."""

    start: datetime
    end: datetime
    value: str


@dataclass(frozen=True)
class ParticipantReview:
    id: str
    display_name: str
    phase: str
    unattended_distress_seconds: float
    without_support_seconds: float
    distress: tuple[Stretch, ...]
    phases: tuple[Stretch, ...]


@dataclass(frozen=True)
class RoomReview:
    room_id: str
    uncovered_seconds: float
    under_ratio_seconds: float


@dataclass(frozen=True)
class RefusedAttempt:
    seq: int
    at: datetime
    actor: str
    device: str | None
    command: str
    code: str
    message: str
    participant_id: str | None


@dataclass(frozen=True)
class MissedCheckin:
    participant_id: str
    due_at: datetime
    recorded_at: datetime


@dataclass(frozen=True)
class FollowupReview:
    followup: Followup
    state: str
    climbs_at: datetime


@dataclass(frozen=True)
class SessionReview:
    session_id: str
    room_id: str
    kind: str
    lead: str
    facilitators: tuple[str, ...]
    opened_at: datetime | None
    closed_at: datetime | None
    until: datetime
    seq: int
    alarms: tuple[AlarmReview, ...]
    participants: tuple[ParticipantReview, ...]
    room: RoomReview
    refusals: tuple[RefusedAttempt, ...]
    missed_checkins: tuple[MissedCheckin, ...]
    followups: tuple[FollowupReview, ...]

    @property
    def unattended_distress_seconds(self) -> float:
        return sum(p.unattended_distress_seconds for p in self.participants)

    @property
    def dyad_lock_refusals(self) -> int:
        return sum(1 for r in self.refusals if r.code == DYAD_LOCK_CODE)


def seconds_between(start: datetime, end: datetime | None) -> float | None:
    """The seconds from `start` to `end` (None while `end` has not happened): how every response
    time of the review and the report is measured."""
    return None if end is None else (end - start).total_seconds()


def minutes(seconds: float | None) -> float | None:
    """Seconds as minutes, to a tenth (how the review shows durations)."""
    return None if seconds is None else round(seconds / 60, 1)


# ---------------------------------------------------------------- what is true between two events


def _answered(state: SessionState, participant_id: str, episode_start: datetime) -> bool:
    """Whether distress has had an acknowledged response: a distress alarm of the participant that
    is acknowledged at its present priority, or one resolved since this stretch of distress began."""
    for escalation in state.escalations.values():
        if escalation.participant_id != participant_id or escalation.condition != "distress":
            continue
        if escalation.open and escalation.acknowledged_at is not None:
            return True
        if escalation.resolved_at is not None and escalation.resolved_at >= episode_start:
            return True
    return False


def _without_support(state: SessionState, participant_id: str) -> bool:
    p = state.participants[participant_id]
    return p.altered and not any(support_available(state, ref) for ref in p.support)


def _uncovered(state: SessionState) -> bool:
    return state.altered_in_room and not state.covering_present


def _under_ratio(state: SessionState, policy: Policy) -> bool:
    present = len(state.covering_present)
    return state.anyone_altered and 0 < present < facilitators_needed(state, policy)


class _Walk:
    """The running totals of one walk through the log."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.unattended: dict[str, float] = {}
        self.unsupported: dict[str, float] = {}
        self.uncovered = 0.0
        self.under_ratio = 0.0
        self.episode_start: dict[str, datetime] = {}
        self.distress: dict[str, list[Stretch]] = {}
        self.phases: dict[str, list[Stretch]] = {}

    def elapse(self, state: SessionState, start: datetime, end: datetime) -> None:
        """Add the time from `start` to `end`, during which the session stood as `state`."""
        seconds = (end - start).total_seconds()
        if seconds <= 0:
            return
        for pid, p in state.participants.items():
            _extend(self.phases.setdefault(pid, []), start, end, p.phase.value)
            if p.phase.final:
                continue
            level = p.distress
            if level is not None:
                _extend(self.distress.setdefault(pid, []), start, end, str(level))
            if level is not None and level >= DISTRESS_NEEDS_ANSWER:
                began = self.episode_start.get(pid, start)
                if not _answered(state, pid, began):
                    self.unattended[pid] = self.unattended.get(pid, 0.0) + seconds
            if _without_support(state, pid):
                self.unsupported[pid] = self.unsupported.get(pid, 0.0) + seconds
        if _uncovered(state):
            self.uncovered += seconds
        elif _under_ratio(state, self.policy):
            self.under_ratio += seconds

    def after(self, state: SessionState, at: datetime) -> None:
        """Note when each stretch of distress 2 or more began (an answer must come within it)."""
        for pid, p in state.participants.items():
            level = p.distress
            if level is not None and level >= DISTRESS_NEEDS_ANSWER and not p.phase.final:
                self.episode_start.setdefault(pid, at)
            else:
                self.episode_start.pop(pid, None)


def _extend(stretches: list[Stretch], start: datetime, end: datetime, value: str) -> None:
    if stretches and stretches[-1].value == value and stretches[-1].end == start:
        stretches[-1] = replace(stretches[-1], end=end)
    else:
        stretches.append(Stretch(start, end, value))


# ---------------------------------------------------------------- the review


def _alarm(state: SessionState, escalation: Escalation, raised_by: str) -> AlarmReview:
    steps: list[AlarmStep] = []
    priority, step = escalation.raised_priority, 0
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    for event in escalation.history:
        payload = event.payload
        if isinstance(payload, (EscalationRaised, EscalationUpdated)):
            priority = payload.priority
        if isinstance(payload, (EscalationRaised, EscalationUpdated, EscalationClimbed, EscalationAcknowledged)):
            step = payload.step
        kind = event.kind.removeprefix("escalation_")
        steps.append(AlarmStep(kind, event.at, event.actor, priority, step))
        if isinstance(payload, EscalationAcknowledged) and acknowledged_at is None:
            acknowledged_at, acknowledged_by = event.at, event.actor
    participant = state.participants.get(escalation.participant_id)
    return AlarmReview(
        id=escalation.id,
        participant_id=escalation.participant_id,
        participant_name=participant.display_name if participant else "",
        condition=escalation.condition,
        reason=escalation.reason,
        raised_priority=escalation.raised_priority,
        priority=escalation.priority,
        raised_at=escalation.raised_at,
        raised_by=raised_by,
        highest_step=max((s.step for s in steps), default=escalation.step),
        steps=tuple(steps),
        seen=escalation.seen,
        first_seen_at=min((s.at for s in escalation.seen), default=None),
        acknowledged_at=acknowledged_at,
        acknowledged_by=acknowledged_by,
        resolved_at=escalation.resolved_at,
        resolved_by=escalation.resolved_by,
        action=escalation.action,
        outcome=escalation.outcome,
    )


def fold_to(session_id: str, events: Iterable[Event], at_seq: int | None = None) -> SessionState:
    """The session as it stood after event `at_seq` (all of it with None): replay's one rule."""
    state = SessionState(session_id=session_id)
    for event in events:
        if at_seq is not None and event.seq > at_seq:
            break
        state = evolve(state, event)
    return state


def seq_at(events: Sequence[Event], moment: datetime) -> int:
    """The last event recorded at or before `moment` (0 before the first)."""
    found = 0
    for event in events:
        if event.at > moment:
            break
        found = event.seq
    return found


def review(session_id: str, events: Sequence[Event], now: datetime, policy: Policy) -> SessionReview:
    """Every figure of the session review, folded from the log up to `now`."""
    state = SessionState(session_id=session_id)
    walk = _Walk(policy)
    raised_by: dict[str, str] = {}
    refusals: list[RefusedAttempt] = []
    missed: list[MissedCheckin] = []
    previous: datetime | None = None
    for event in events:
        if previous is not None and state.closed_at is None:
            walk.elapse(state, previous, event.at)
        state = evolve(state, event)
        previous = event.at if previous is None else max(previous, event.at)
        walk.after(state, event.at)
        match event.payload:
            case EscalationRaised() as raised:
                raised_by[raised.escalation_id] = event.actor
            case CommandRefused() as refused:
                refusals.append(
                    RefusedAttempt(
                        event.seq,
                        event.at,
                        event.actor,
                        event.device,
                        refused.command,
                        refused.code,
                        refused.message,
                        event.participant_id,
                    )
                )
            case ConsentCheckinMissed() as missed_checkin:
                missed.append(MissedCheckin(event.participant_id or "", missed_checkin.due_at, event.at))
    until = state.closed_at or now
    if previous is not None and state.closed_at is None and now > previous:
        walk.elapse(state, previous, now)
    alarms = tuple(
        _alarm(state, e, raised_by.get(e.id, "")) for e in sorted(state.escalations.values(), key=lambda e: e.raised_at)
    )
    participants = tuple(
        ParticipantReview(
            id=p.id,
            display_name=p.display_name,
            phase=p.phase.value,
            unattended_distress_seconds=walk.unattended.get(p.id, 0.0),
            without_support_seconds=walk.unsupported.get(p.id, 0.0),
            distress=tuple(walk.distress.get(p.id, ())),
            phases=tuple(walk.phases.get(p.id, ())),
        )
        for p in sorted(state.participants.values(), key=lambda p: p.added_at)
    )
    followups = tuple(
        FollowupReview(f, followup_state(f, now, policy), climbs_at(f, policy))
        for f in sorted(state.followups.values(), key=lambda f: f.opened_at)
    )
    return SessionReview(
        session_id=session_id,
        room_id=state.room_id,
        kind=state.kind,
        lead=state.lead,
        facilitators=state.facilitators,
        opened_at=state.opened_at,
        closed_at=state.closed_at,
        until=until,
        seq=state.seq,
        alarms=alarms,
        participants=participants,
        room=RoomReview(state.room_id, walk.uncovered, walk.under_ratio),
        refusals=tuple(refusals),
        missed_checkins=tuple(missed),
        followups=followups,
    )
