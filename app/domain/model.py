"""A session's state, its events, and the fold that derives one from the other.

State is never written directly: `evolve(state, event)` returns a new state and shares the
unchanged parts with the old one, so a cached state can be handed to many readers safely.
Containers inside states are tuples, frozensets or dicts that are replaced, never mutated.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from .events import (
    Agreement,
    AlarmMuted,
    Amended,
    ChecklistItemTicked,
    CommandRefused,
    ConsentCheckinAnswered,
    ConsentCheckinMissed,
    ConsentRecorded,
    ConsentWithdrawn,
    DedicatedFacilitatorAssigned,
    Discharged,
    DoseAdministered,
    EscalationAcknowledged,
    EscalationClimbed,
    EscalationPayload,
    EscalationRaised,
    EscalationResolved,
    EscalationResounded,
    EscalationUpdated,
    FacilitatorCheckedIn,
    FacilitatorCheckedOut,
    FollowupClosed,
    FollowupOpened,
    NoteRecorded,
    ObservationRecorded,
    ParticipantAdded,
    ParticipantReturned,
    ParticipantSteppedOut,
    Paused,
    PauseOrStopDeclined,
    Payload,
    PhaseChanged,
    Resumed,
    ScreeningCleared,
    ScreeningRecorded,
    SessionClosed,
    SessionOpened,
    Stopped,
    SupportAssigned,
    SupportHandedOver,
    SupportRef,
    SupportRemoved,
    Transferred,
    VitalsRecorded,
)


class Phase(str, enum.Enum):  # noqa: UP042 - str() of a phase stays its enum name in logs
    ARRIVED = "arrived"
    SCREENED = "screened"
    DOSED = "dosed"
    JOURNEYING = "journeying"
    PAUSED = "paused"
    RE_ENTRY = "re_entry"
    GROUNDING = "grounding"
    STOPPED = "stopped"
    DISCHARGED = "discharged"
    TRANSFERRED = "transferred"

    @property
    def altered(self) -> bool:
        return self in ALTERED_PHASES

    @property
    def final(self) -> bool:
        return self in (Phase.DISCHARGED, Phase.TRANSFERRED)

    @property
    def label(self) -> str:
        return PHASE_LABELS[self]


ALTERED_PHASES = frozenset(
    {Phase.DOSED, Phase.JOURNEYING, Phase.PAUSED, Phase.RE_ENTRY, Phase.GROUNDING, Phase.STOPPED}
)

PHASE_LABELS = {
    Phase.ARRIVED: "Arrived",
    Phase.SCREENED: "Screened",
    Phase.DOSED: "Dosed",
    Phase.JOURNEYING: "Journeying",
    Phase.PAUSED: "Paused",
    Phase.RE_ENTRY: "Re-entry",
    Phase.GROUNDING: "Grounding",
    Phase.STOPPED: "Stopped",
    Phase.DISCHARGED: "Discharged",
    Phase.TRANSFERRED: "Transferred",
}

# Every legal move of the phase machine; anything else is `invalid_transition`.
TRANSITIONS: Mapping[Phase, frozenset[Phase]] = {
    Phase.ARRIVED: frozenset({Phase.SCREENED, Phase.DISCHARGED, Phase.TRANSFERRED}),
    Phase.SCREENED: frozenset({Phase.SCREENED, Phase.DOSED, Phase.DISCHARGED, Phase.TRANSFERRED}),
    Phase.DOSED: frozenset({Phase.JOURNEYING, Phase.RE_ENTRY, Phase.PAUSED, Phase.STOPPED, Phase.TRANSFERRED}),
    Phase.JOURNEYING: frozenset({Phase.RE_ENTRY, Phase.PAUSED, Phase.STOPPED, Phase.TRANSFERRED}),
    # Only the participant's own wish to continue (Resume) leads back out of a pause.
    Phase.PAUSED: frozenset({Phase.STOPPED, Phase.TRANSFERRED}),
    Phase.RE_ENTRY: frozenset({Phase.GROUNDING, Phase.PAUSED, Phase.STOPPED, Phase.TRANSFERRED}),
    Phase.STOPPED: frozenset({Phase.GROUNDING, Phase.TRANSFERRED}),
    Phase.GROUNDING: frozenset({Phase.DISCHARGED, Phase.TRANSFERRED}),
    Phase.DISCHARGED: frozenset(),
    Phase.TRANSFERRED: frozenset(),
}

# A clock on a tablet may run a little ahead; beyond this an observation "from the future" is refused.
CLOCK_SKEW = timedelta(minutes=2)


def entered_late(observed: datetime, recorded: datetime) -> bool:
    """Whether an entry was typed in after the fact: observed before it was recorded (beyond the skew)."""
    return observed < recorded - CLOCK_SKEW


# Roles that count as a facilitator in the room (room coverage, dosing presence).
COVERING_ROLES = frozenset({"facilitator", "lead"})


@dataclass(frozen=True)
class Actor:
    username: str
    role: str


@dataclass(frozen=True)
class Event:
    """One immutable fact on a session's log: who, when, and what (a typed payload)."""

    session_id: str
    seq: int
    at: datetime
    actor: str
    payload: Payload
    participant_id: str | None = None
    device: str | None = None

    @property
    def kind(self) -> str:
        return self.payload.KIND

    @property
    def data(self) -> dict[str, Any]:
        """The payload's fields, JSON-ready (as the API and the live stream show them)."""
        return self.payload.to_data()


@dataclass(frozen=True)
class Reading:
    value: float
    observed_at: datetime
    recorded_at: datetime


@dataclass(frozen=True)
class Refusal:
    seq: int
    at: datetime
    actor: str
    command: str
    code: str
    message: str
    participant_id: str | None


PRIORITY_RANK = {"low": 1, "medium": 2, "high": 3}
# Medium and high alarms sound until acknowledged (or briefly muted); a low one is shown, silent.
SOUNDING_PRIORITIES = frozenset({"medium", "high"})


def alarm_order(is_open: bool, priority: str, raised_at: datetime) -> tuple[bool, int, datetime]:
    """How alarms are listed everywhere: open before resolved, most urgent first, then oldest first."""
    return (not is_open, -PRIORITY_RANK[priority], raised_at)


@dataclass(frozen=True)
class Escalation:
    """An alarm that stays open until someone records what was done and with what outcome."""

    id: str
    participant_id: str
    condition: str
    priority: str
    step: int
    reason: str
    raised_at: datetime
    deadline: datetime | None = None
    # When it became the priority it has now (a low alarm raised to medium is a new medium alarm in
    # all but history), and the priority it was first raised with.
    priority_since: datetime | None = None
    raised_priority: str = ""
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    sounded_at: datetime | None = None
    muted_until: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    action: str | None = None
    outcome: str | None = None
    history: tuple[Event, ...] = ()  # every event about this escalation, in order

    @property
    def open(self) -> bool:
        return self.resolved_at is None

    @property
    def rank(self) -> int:
        return PRIORITY_RANK[self.priority]

    @property
    def order(self) -> tuple[bool, int, datetime]:
        return alarm_order(self.open, self.priority, self.raised_at)

    def muted(self, now: datetime) -> bool:
        return self.muted_until is not None and self.muted_until > now

    def sounding(self, now: datetime) -> bool:
        """Whether the alarm sounds now: open, not acknowledged, medium or high, and not muted."""
        return (
            self.open and self.acknowledged_at is None and self.priority in SOUNDING_PRIORITIES and not self.muted(now)
        )


@dataclass(frozen=True)
class Followup:
    """A repair item: someone must contact the participant and record it."""

    id: str
    participant_id: str
    reason: str
    owner: str
    due_at: datetime
    opened_at: datetime
    source_seq: int
    closed_at: datetime | None = None
    closed_by: str | None = None
    contact_note: str | None = None

    @property
    def open(self) -> bool:
        return self.closed_at is None


@dataclass(frozen=True)
class NoteEntry:
    """A session note as it stands on the record: what was written, when and by whom."""

    seq: int
    recorded_at: datetime
    by: str
    note: NoteRecorded


@dataclass(frozen=True)
class AmendmentEntry:
    seq: int
    at: datetime
    by: str
    amendment: Amended


@dataclass(frozen=True)
class ChecklistTick:
    by: str
    at: datetime
    note: str = ""


@dataclass(frozen=True)
class ParticipantState:
    id: str
    display_name: str
    chart_id: str
    added_at: datetime
    phase: Phase = Phase.ARRIVED
    paused_from: Phase | None = None
    support: tuple[SupportRef, ...] = ()
    screening: ScreeningRecorded | None = None
    screening_flags: tuple[str, ...] = ()
    screening_cleared_by: str | None = None
    # When the screening was done and the agreement signed (the observed times, which a late entry
    # gives), and when each was typed in.
    screened_at: datetime | None = None
    screening_recorded_at: datetime | None = None
    consented_at: datetime | None = None
    consent_recorded_at: datetime | None = None
    consent: Agreement | None = None
    consent_withdrawn: frozenset[str] = frozenset()
    dose: DoseAdministered | None = None
    dosed_at: datetime | None = None
    vitals: Mapping[str, Reading] = field(default_factory=dict)
    vitals_history: tuple[tuple[datetime, Mapping[str, float]], ...] = ()
    scales: Mapping[str, Reading] = field(default_factory=dict)
    stopped_by: str | None = None
    away_with: str | None = None  # out of the room, accompanied by this facilitator
    dedicated_facilitator: str | None = None
    notes: tuple[NoteEntry, ...] = ()
    amendments: Mapping[int, tuple[AmendmentEntry, ...]] = field(default_factory=dict)
    vitals_due_at: datetime | None = None
    checklist_ticks: Mapping[str, ChecklistTick] = field(default_factory=dict)
    checkin_due_at: datetime | None = None
    last_checkin: ConsentCheckinAnswered | ConsentCheckinMissed | None = None
    ended_at: datetime | None = None
    outcome: Discharged | Transferred | None = None

    @property
    def altered(self) -> bool:
        return self.phase.altered

    @property
    def distress(self) -> int | None:
        reading = self.scales.get("distress")
        return None if reading is None else int(reading.value)

    @property
    def screening_late(self) -> bool:
        return (
            self.screened_at is not None
            and self.screening_recorded_at is not None
            and entered_late(self.screened_at, self.screening_recorded_at)
        )

    @property
    def consent_late(self) -> bool:
        return (
            self.consented_at is not None
            and self.consent_recorded_at is not None
            and entered_late(self.consented_at, self.consent_recorded_at)
        )

    @property
    def screening_cleared(self) -> bool:
        return self.screening is not None and (not self.screening_flags or self.screening_cleared_by is not None)

    @property
    def active_consent(self) -> Agreement | None:
        """The agreement as it stands now: what was signed, less what was withdrawn since."""
        if self.consent is None:
            return None
        withdrawn = self.consent_withdrawn
        touch = () if "touch" in withdrawn else tuple(t for t in self.consent.touch if f"touch:{t}" not in withdrawn)
        return replace(
            self.consent,
            touch=touch,
            music=self.consent.music and "music" not in withdrawn,
            eyeshades=self.consent.eyeshades and "eyeshades" not in withdrawn,
        )


@dataclass(frozen=True)
class SessionState:
    session_id: str
    room_id: str = ""
    kind: str = "individual"
    lead: str = ""
    facilitators: tuple[str, ...] = ()
    opened_at: datetime | None = None
    present: Mapping[str, str] = field(default_factory=dict)  # username -> role, checked into the room
    # Checked in by someone else (only in logs written before presence had to be attested): on the
    # record as present, but never counted as covering the room.
    unattested: frozenset[str] = frozenset()
    participants: Mapping[str, ParticipantState] = field(default_factory=dict)
    refusals: tuple[Refusal, ...] = ()
    escalations: Mapping[str, Escalation] = field(default_factory=dict)
    followups: Mapping[str, Followup] = field(default_factory=dict)
    closed_at: datetime | None = None
    seq: int = 0
    last_event_at: datetime | None = None

    @property
    def opened(self) -> bool:
        return self.opened_at is not None

    @property
    def staff(self) -> frozenset[str]:
        return frozenset(self.facilitators) | {self.lead} | frozenset(self.present)

    @property
    def escorting(self) -> frozenset[str]:
        """Facilitators who are out of the room accompanying a participant."""
        return frozenset(p.away_with for p in self.participants.values() if p.away_with)

    @property
    def covering_present(self) -> tuple[str, ...]:
        """Facilitators (or leads) checked in and in the room now."""
        away = self.escorting
        return tuple(
            sorted(
                u
                for u, role in self.present.items()
                if role in COVERING_ROLES and u not in away and u not in self.unattested
            )
        )

    @property
    def altered_in_room(self) -> bool:
        return any(p.altered and p.away_with is None for p in self.participants.values())

    @property
    def anyone_altered(self) -> bool:
        return any(p.altered for p in self.participants.values())

    @property
    def active_participants(self) -> tuple[ParticipantState, ...]:
        return tuple(p for p in self.participants.values() if not p.phase.final)

    @property
    def open_escalations(self) -> tuple[Escalation, ...]:
        """Open alarms, most urgent first, then oldest first."""
        found = [e for e in self.escalations.values() if e.open]
        return tuple(sorted(found, key=lambda e: e.order))

    def open_escalation(self, participant_id: str, condition: str) -> Escalation | None:
        for escalation in self.escalations.values():
            if escalation.open and escalation.participant_id == participant_id and escalation.condition == condition:
                return escalation
        return None

    @property
    def disrupted_by(self) -> tuple[ParticipantState, ...]:
        """In a group, participants in the room at distress 3 or more disrupt it."""
        if self.kind != "group":
            return ()
        return tuple(
            p
            for p in self.participants.values()
            if not p.phase.final and p.away_with is None and (p.distress or 0) >= 3
        )

    def participant(self, participant_id: str) -> ParticipantState | None:
        return self.participants.get(participant_id)

    def supported_by(self, support_id: str) -> tuple[ParticipantState, ...]:
        """Participants whose support person is `support_id` (a username or participant id)."""
        return tuple(p for p in self.participants.values() if any(s.id == support_id for s in p.support))


def _with_participant(state: SessionState, participant: ParticipantState) -> SessionState:
    participants = dict(state.participants)
    participants[participant.id] = participant
    return replace(state, participants=participants)


def _phase_change(participant: ParticipantState, to: Phase, at: datetime) -> ParticipantState:
    changes: dict[str, Any] = {"phase": to}
    if to.final:
        changes["ended_at"] = at
        changes["away_with"] = None
        changes["vitals_due_at"] = None
        changes["checkin_due_at"] = None
    return replace(participant, **changes)


def evolve(state: SessionState, event: Event) -> SessionState:
    """Fold one event into the state. Pure: the given state is left as it was."""
    state = replace(state, seq=event.seq, last_event_at=event.at)
    match event.payload:
        case SessionOpened() as opened:
            return replace(
                state,
                room_id=opened.room_id,
                kind=opened.kind,
                lead=opened.lead,
                facilitators=opened.facilitators,
                opened_at=event.at,
            )
        case SessionClosed():
            return replace(state, closed_at=event.at)
        case FacilitatorCheckedIn() as checked_in:
            present = dict(state.present)
            present[checked_in.username] = checked_in.role
            # Older events carry no attestation: only a check-in made by the person's own sign-in counts.
            who = checked_in.username
            attested = checked_in.attested_by is not None or event.actor == who
            unattested = state.unattested - {who} if attested else state.unattested | {who}
            return replace(state, present=present, unattested=unattested)
        case FacilitatorCheckedOut() as checked_out:
            present = dict(state.present)
            present.pop(checked_out.username, None)
            return replace(state, present=present, unattested=state.unattested - {checked_out.username})
        case CommandRefused() as refused:
            return _refused(state, event, refused)
        case ParticipantAdded() as added:
            participant = ParticipantState(
                id=event.participant_id or added.id,
                display_name=added.display_name,
                chart_id=added.chart_id,
                added_at=event.at,
            )
            return _with_participant(state, participant)
        case EscalationPayload() as about_escalation:
            return _evolve_escalation(state, event, about_escalation)
        case FollowupOpened() as opened_followup:
            followup = Followup(
                id=opened_followup.followup_id,
                participant_id=event.participant_id or "",
                reason=opened_followup.reason,
                owner=opened_followup.owner,
                due_at=opened_followup.due_at,
                opened_at=event.at,
                source_seq=opened_followup.source_seq,
            )
            followups = dict(state.followups)
            followups[followup.id] = followup
            return replace(state, followups=followups)
        case FollowupClosed() as closed:
            followups = dict(state.followups)
            followups[closed.followup_id] = replace(
                followups[closed.followup_id],
                closed_at=event.at,
                closed_by=event.actor,
                contact_note=closed.contact_note,
            )
            return replace(state, followups=followups)
    if event.participant_id is None or event.participant_id not in state.participants:
        raise ValueError(f"event {event.seq} ({event.kind}) names no participant of this session")
    return _with_participant(state, _evolve_participant(state.participants[event.participant_id], event))


def followup_id(session_id: str, source_seq: int, index: int = 0) -> str:
    """The id of a follow-up opened by a refused attempt (the `index`-th it opened)."""
    return f"{session_id}-f{source_seq}" + (f".{index}" if index else "")


def _refused(state: SessionState, event: Event, refused: CommandRefused) -> SessionState:
    refusal = Refusal(
        seq=event.seq,
        at=event.at,
        actor=event.actor,
        command=refused.command,
        code=refused.code,
        message=refused.message,
        participant_id=event.participant_id,
    )
    state = replace(state, refusals=state.refusals + (refusal,))
    if refused.followups:
        followups = dict(state.followups)
        for index, opened in enumerate(refused.followups):
            fid = followup_id(state.session_id, event.seq, index)
            followups[fid] = Followup(
                id=fid,
                participant_id=opened.participant_id,
                reason=opened.reason,
                owner=opened.owner,
                due_at=opened.due_at,
                opened_at=event.at,
                source_seq=event.seq,
            )
        state = replace(state, followups=followups)
    return state


def _evolve_escalation(state: SessionState, event: Event, payload: EscalationPayload) -> SessionState:
    escalations = dict(state.escalations)
    eid = payload.escalation_id
    if isinstance(payload, EscalationRaised):
        escalations[eid] = Escalation(
            id=eid,
            participant_id=event.participant_id or "",
            condition=payload.condition,
            priority=payload.priority,
            step=payload.step,
            reason=payload.reason,
            raised_at=event.at,
            deadline=payload.deadline,
            priority_since=event.at,
            raised_priority=payload.priority,
            sounded_at=event.at,
            history=(event,),
        )
        return replace(state, escalations=escalations)
    current = escalations[eid]
    changes: dict[str, Any] = {"history": current.history + (event,)}
    match payload:
        case EscalationUpdated():
            if payload.priority != current.priority:
                changes["priority_since"] = event.at
            changes.update(
                priority=payload.priority,
                step=payload.step,
                reason=payload.reason,
                deadline=payload.deadline,
                acknowledged_at=None,
                acknowledged_by=None,
                muted_until=None,
                sounded_at=event.at,
            )
        case EscalationClimbed():
            # A climb reaches people who have not heard it yet: it ends any mute.
            changes.update(step=payload.step, deadline=payload.deadline, sounded_at=event.at, muted_until=None)
        case EscalationResounded():
            changes.update(deadline=payload.deadline, sounded_at=event.at)
        case EscalationAcknowledged():
            changes.update(acknowledged_at=event.at, acknowledged_by=event.actor, deadline=None)
        case AlarmMuted():
            changes.update(muted_until=payload.until)
        case EscalationResolved():
            changes.update(
                resolved_at=event.at,
                resolved_by=event.actor,
                action=payload.action,
                outcome=payload.outcome,
                deadline=None,
            )
        case _:
            raise ValueError(f"unknown event kind {event.kind!r}")
    escalations[eid] = replace(current, **changes)
    return replace(state, escalations=escalations)


def _newer(
    readings: Mapping[str, Reading], values: Mapping[str, float], observed: datetime, at: datetime
) -> dict[str, Reading]:
    """The latest reading of each name: a late entry does not replace a later observation."""
    out = dict(readings)
    for name, value in values.items():
        current = out.get(name)
        if current is None or current.observed_at <= observed:
            out[name] = Reading(float(value), observed, at)
    return out


def _evolve_participant(p: ParticipantState, event: Event) -> ParticipantState:
    at = event.at
    match event.payload:
        case ScreeningRecorded() as screening:
            return replace(
                _phase_change(p, Phase.SCREENED, at),
                screening=screening,
                screening_flags=screening.flags,
                screening_cleared_by=None,
                screened_at=screening.observed_at or at,
                screening_recorded_at=at,
            )
        case ScreeningCleared():
            return replace(p, screening_cleared_by=event.actor)
        case ConsentRecorded() as consent:
            return replace(
                p,
                consent=consent.agreement,
                consent_withdrawn=frozenset(),
                consented_at=consent.observed_at or at,
                consent_recorded_at=at,
            )
        case ConsentWithdrawn() as withdrawn:
            return replace(p, consent_withdrawn=p.consent_withdrawn | frozenset(withdrawn.items))
        case SupportAssigned() as assigned:
            return replace(p, support=p.support + (assigned.support,))
        case SupportRemoved() as removed:
            return replace(p, support=tuple(s for s in p.support if s.id != removed.support_id))
        case SupportHandedOver() as handover:
            released = set(handover.released)
            kept = tuple(s for s in p.support if s.id not in released)
            return replace(p, support=kept + (handover.replacement,))
        case DoseAdministered() as dose:
            return replace(
                _phase_change(p, Phase.DOSED, at),
                dose=dose,
                dosed_at=dose.administered_at,
                checkin_due_at=dose.checkin_due_at,
                vitals_due_at=dose.vitals_due_at,
            )
        case PhaseChanged() as changed:
            return _phase_change(p, Phase(changed.to), at)
        case Paused() as paused:
            return replace(_phase_change(p, Phase.PAUSED, at), paused_from=Phase(paused.from_))
        case Resumed() as resumed:
            return replace(_phase_change(p, Phase(resumed.to), at), paused_from=None)
        case Stopped() as stopped:
            return replace(_phase_change(p, Phase.STOPPED, at), paused_from=None, stopped_by=stopped.requested_by)
        case PauseOrStopDeclined():
            return p
        case ConsentCheckinAnswered() | ConsentCheckinMissed() as checkin:
            return replace(p, last_checkin=checkin, checkin_due_at=checkin.next_due_at)
        case VitalsRecorded() as recorded:
            observed = recorded.observed_at
            readings = {k: float(v) for k, v in recorded.vitals.items()}
            history = tuple(sorted(p.vitals_history + ((observed, readings),), key=lambda h: h[0]))
            due = recorded.next_vitals_due_at or p.vitals_due_at
            return replace(
                p, vitals=_newer(p.vitals, readings, observed, at), vitals_history=history, vitals_due_at=due
            )
        case ObservationRecorded() as observation:
            scales = {name: float(value) for name, value in observation.scales.items()}
            return replace(p, scales=_newer(p.scales, scales, observation.observed_at, at))
        case ChecklistItemTicked() as ticked:
            ticks = dict(p.checklist_ticks)
            ticks[ticked.item] = ChecklistTick(by=event.actor, at=at, note=ticked.note)
            return replace(p, checklist_ticks=ticks)
        case NoteRecorded() as note:
            return replace(p, notes=p.notes + (NoteEntry(seq=event.seq, recorded_at=at, by=event.actor, note=note),))
        case Amended() as amendment:
            amendments = dict(p.amendments)
            entry = AmendmentEntry(seq=event.seq, at=at, by=event.actor, amendment=amendment)
            amendments[amendment.event_seq] = amendments.get(amendment.event_seq, ()) + (entry,)
            return replace(p, amendments=amendments)
        case DedicatedFacilitatorAssigned() as dedicated:
            return replace(p, dedicated_facilitator=dedicated.username)
        case ParticipantSteppedOut() as stepped_out:
            return replace(p, away_with=stepped_out.accompanied_by)
        case ParticipantReturned():
            return replace(p, away_with=None)
        case Discharged() as discharged:
            return replace(_phase_change(p, Phase.DISCHARGED, at), outcome=discharged)
        case Transferred() as transferred:
            return replace(_phase_change(p, Phase.TRANSFERRED, at), outcome=transferred)
    raise ValueError(f"unknown event kind {event.kind!r}")


def fold(session_id: str, events: list[Event] | tuple[Event, ...], state: SessionState | None = None) -> SessionState:
    state = state or SessionState(session_id=session_id)
    for event in events:
        state = evolve(state, event)
    return state
