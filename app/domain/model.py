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


SESSION_KINDS = ("individual", "group", "dyad_training")
STAFF_ROLES = ("facilitator", "lead", "prescriber", "admin")
# Roles that count as a facilitator in the room (room coverage, dosing presence).
COVERING_ROLES = frozenset({"facilitator", "lead"})


@dataclass(frozen=True)
class Actor:
    username: str
    role: str


@dataclass(frozen=True)
class SupportRef:
    kind: str  # "staff" or "participant"
    id: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "id": self.id}


@dataclass(frozen=True)
class Event:
    """One immutable fact on a session's log."""

    session_id: str
    seq: int
    kind: str
    at: datetime
    actor: str
    data: Mapping[str, Any]
    participant_id: str | None = None
    device: str | None = None


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
    history: tuple[Mapping[str, Any], ...] = ()

    @property
    def open(self) -> bool:
        return self.resolved_at is None

    @property
    def rank(self) -> int:
        return PRIORITY_RANK[self.priority]


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
class ParticipantState:
    id: str
    display_name: str
    chart_id: str
    added_at: datetime
    phase: Phase = Phase.ARRIVED
    paused_from: Phase | None = None
    support: tuple[SupportRef, ...] = ()
    screening: Mapping[str, Any] | None = None
    screening_flags: tuple[str, ...] = ()
    screening_cleared_by: str | None = None
    # When the screening was done and the agreement signed (the observed times, which a late entry
    # gives), and when each was typed in.
    screened_at: datetime | None = None
    screening_recorded_at: datetime | None = None
    consented_at: datetime | None = None
    consent_recorded_at: datetime | None = None
    consent: Mapping[str, Any] | None = None
    consent_withdrawn: frozenset[str] = frozenset()
    dose: Mapping[str, Any] | None = None
    dosed_at: datetime | None = None
    vitals: Mapping[str, Reading] = field(default_factory=dict)
    vitals_history: tuple[tuple[datetime, Mapping[str, float]], ...] = ()
    scales: Mapping[str, Reading] = field(default_factory=dict)
    stopped_by: str | None = None
    away_with: str | None = None  # out of the room, accompanied by this facilitator
    dedicated_facilitator: str | None = None
    notes: tuple[Mapping[str, Any], ...] = ()
    amendments: Mapping[int, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)
    vitals_due_at: datetime | None = None
    checklist_ticks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    checkin_due_at: datetime | None = None
    last_checkin: Mapping[str, Any] | None = None
    ended_at: datetime | None = None
    outcome: Mapping[str, Any] | None = None

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
    def active_consent(self) -> Mapping[str, Any] | None:
        """The agreement as it stands now: what was signed, less what was withdrawn since."""
        if self.consent is None:
            return None
        agreement = dict(self.consent)
        withdrawn = self.consent_withdrawn
        if "touch" in withdrawn:
            agreement["touch"] = []
        else:
            agreement["touch"] = [t for t in agreement.get("touch", []) if f"touch:{t}" not in withdrawn]
        for item in ("music", "eyeshades"):
            if item in withdrawn:
                agreement[item] = False
        return agreement


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
        return tuple(sorted(found, key=lambda e: (-e.rank, e.raised_at)))

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


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _observed(data: Mapping[str, Any], at: datetime) -> datetime:
    """The time an entry was observed: its own `observed_at`, or (older entries) when it was recorded."""
    value = data.get("observed_at")
    return parse_time(value) if value else at


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
    data = event.data
    state = replace(state, seq=event.seq, last_event_at=event.at)
    kind = event.kind
    if kind == "session_opened":
        return replace(
            state,
            room_id=data["room_id"],
            kind=data["kind"],
            lead=data["lead"],
            facilitators=tuple(data["facilitators"]),
            opened_at=event.at,
        )
    if kind == "session_closed":
        return replace(state, closed_at=event.at)
    if kind == "facilitator_checked_in":
        present = dict(state.present)
        present[data["username"]] = data["role"]
        # Older events carry no attestation: only a check-in made by the person's own sign-in counts.
        attested = "attested_by" in data or event.actor == data["username"]
        unattested = state.unattested - {data["username"]} if attested else state.unattested | {data["username"]}
        return replace(state, present=present, unattested=unattested)
    if kind == "facilitator_checked_out":
        present = dict(state.present)
        present.pop(data["username"], None)
        return replace(state, present=present, unattested=state.unattested - {data["username"]})
    if kind == "command_refused":
        refusal = Refusal(
            seq=event.seq,
            at=event.at,
            actor=event.actor,
            command=data["command"],
            code=data["code"],
            message=data["message"],
            participant_id=event.participant_id,
        )
        state = replace(state, refusals=state.refusals + (refusal,))
        if data.get("followup"):
            followups = dict(state.followups)
            items = [data["followup"], *data.get("more_followups", [])]
            for index, opened in enumerate(items):
                fid = f"{state.session_id}-f{event.seq}" + (f".{index}" if index else "")
                followups[fid] = Followup(
                    id=fid,
                    participant_id=opened["participant_id"],
                    reason=opened["reason"],
                    owner=opened["owner"],
                    due_at=parse_time(opened["due_at"]),
                    opened_at=event.at,
                    source_seq=event.seq,
                )
            state = replace(state, followups=followups)
        return state
    if kind == "participant_added":
        participant = ParticipantState(
            id=event.participant_id or data["id"],
            display_name=data["display_name"],
            chart_id=data["chart_id"],
            added_at=event.at,
        )
        return _with_participant(state, participant)
    if kind.startswith("escalation_") or kind == "alarm_muted":
        return _evolve_escalation(state, event)
    if kind == "followup_opened":
        followup = Followup(
            id=data["followup_id"],
            participant_id=event.participant_id or "",
            reason=data["reason"],
            owner=data["owner"],
            due_at=parse_time(data["due_at"]),
            opened_at=event.at,
            source_seq=int(data["source_seq"]),
        )
        followups = dict(state.followups)
        followups[followup.id] = followup
        return replace(state, followups=followups)
    if kind == "followup_closed":
        followups = dict(state.followups)
        followups[data["followup_id"]] = replace(
            followups[data["followup_id"]], closed_at=event.at, closed_by=event.actor, contact_note=data["contact_note"]
        )
        return replace(state, followups=followups)
    if event.participant_id is None or event.participant_id not in state.participants:
        raise ValueError(f"event {event.seq} ({kind}) names no participant of this session")
    return _with_participant(state, _evolve_participant(state.participants[event.participant_id], event))


def _evolve_escalation(state: SessionState, event: Event) -> SessionState:
    data = event.data
    kind = event.kind
    eid = data["escalation_id"]
    deadline = parse_time(data["deadline"]) if data.get("deadline") else None
    escalations = dict(state.escalations)
    step_record = {
        "kind": kind,
        "at": event.at,
        "by": event.actor,
        **{k: v for k, v in data.items() if k != "escalation_id"},
    }
    if kind == "escalation_raised":
        escalations[eid] = Escalation(
            id=eid,
            participant_id=event.participant_id or "",
            condition=data["condition"],
            priority=data["priority"],
            step=int(data["step"]),
            reason=data["reason"],
            raised_at=event.at,
            deadline=deadline,
            priority_since=event.at,
            raised_priority=data["priority"],
            sounded_at=event.at,
            history=(step_record,),
        )
        return replace(state, escalations=escalations)
    current = escalations[eid]
    changes: dict[str, Any] = {"history": current.history + (step_record,)}
    if kind == "escalation_updated":
        if data["priority"] != current.priority:
            changes["priority_since"] = event.at
        changes.update(
            priority=data["priority"],
            step=int(data["step"]),
            reason=data["reason"],
            deadline=deadline,
            acknowledged_at=None,
            acknowledged_by=None,
            muted_until=None,
            sounded_at=event.at,
        )
    elif kind == "escalation_climbed":
        # A climb reaches people who have not heard it yet: it ends any mute.
        changes.update(step=int(data["step"]), deadline=deadline, sounded_at=event.at, muted_until=None)
    elif kind == "escalation_resounded":
        changes.update(deadline=deadline, sounded_at=event.at)
    elif kind == "escalation_acknowledged":
        changes.update(acknowledged_at=event.at, acknowledged_by=event.actor, deadline=None)
    elif kind == "alarm_muted":
        changes.update(muted_until=parse_time(data["until"]))
    elif kind == "escalation_resolved":
        changes.update(
            resolved_at=event.at,
            resolved_by=event.actor,
            action=data["action"],
            outcome=data["outcome"],
            deadline=None,
        )
    else:
        raise ValueError(f"unknown event kind {kind!r}")
    escalations[eid] = replace(current, **changes)
    return replace(state, escalations=escalations)


def _evolve_participant(p: ParticipantState, event: Event) -> ParticipantState:
    data = event.data
    kind = event.kind
    at = event.at
    if kind == "screening_recorded":
        return replace(
            _phase_change(p, Phase.SCREENED, at),
            screening=data,
            screening_flags=tuple(data.get("flags", ())),
            screening_cleared_by=None,
            screened_at=_observed(data, at),
            screening_recorded_at=at,
        )
    if kind == "screening_cleared":
        return replace(p, screening_cleared_by=event.actor)
    if kind == "consent_recorded":
        return replace(
            p,
            consent=data["agreement"],
            consent_withdrawn=frozenset(),
            consented_at=_observed(data, at),
            consent_recorded_at=at,
        )
    if kind == "consent_withdrawn":
        return replace(p, consent_withdrawn=p.consent_withdrawn | frozenset(data["items"]))
    if kind == "support_assigned":
        ref = SupportRef(**data["support"])
        return replace(p, support=p.support + (ref,))
    if kind == "support_removed":
        return replace(p, support=tuple(s for s in p.support if s.id != data["support_id"]))
    if kind == "support_handed_over":
        released = set(data["released"])
        kept = tuple(s for s in p.support if s.id not in released)
        return replace(p, support=kept + (SupportRef(**data["replacement"]),))
    if kind == "dose_administered":
        dosed_at = parse_time(data["administered_at"])
        return replace(
            _phase_change(p, Phase.DOSED, at),
            dose=data,
            dosed_at=dosed_at,
            checkin_due_at=parse_time(data["checkin_due_at"]),
            vitals_due_at=parse_time(data["vitals_due_at"]) if data.get("vitals_due_at") else None,
        )
    if kind == "phase_changed":
        return _phase_change(p, Phase(data["to"]), at)
    if kind == "paused":
        return replace(_phase_change(p, Phase.PAUSED, at), paused_from=Phase(data["from"]))
    if kind == "resumed":
        return replace(_phase_change(p, Phase(data["to"]), at), paused_from=None)
    if kind == "stopped":
        return replace(_phase_change(p, Phase.STOPPED, at), paused_from=None, stopped_by=data["requested_by"])
    if kind == "pause_or_stop_declined":
        return p
    if kind == "consent_checkin_answered":
        return replace(p, last_checkin=data, checkin_due_at=parse_time(data["next_due_at"]))
    if kind == "consent_checkin_missed":
        return replace(p, last_checkin=data, checkin_due_at=parse_time(data["next_due_at"]))
    if kind == "vitals_recorded":
        observed = parse_time(data["observed_at"])
        readings = {k: float(v) for k, v in data["vitals"].items()}
        vitals = dict(p.vitals)
        for name, value in readings.items():
            current = vitals.get(name)
            if current is None or current.observed_at <= observed:
                vitals[name] = Reading(value, observed, at)
        history = tuple(sorted(p.vitals_history + ((observed, readings),), key=lambda h: h[0]))
        due = parse_time(data["next_vitals_due_at"]) if data.get("next_vitals_due_at") else p.vitals_due_at
        return replace(p, vitals=vitals, vitals_history=history, vitals_due_at=due)
    if kind == "observation_recorded":
        observed = parse_time(data["observed_at"])
        scales = dict(p.scales)
        for name in ("distress", "moaa_s", "rass", "suds"):
            if data.get(name) is not None:
                current = scales.get(name)
                if current is None or current.observed_at <= observed:
                    scales[name] = Reading(float(data[name]), observed, at)
        return replace(p, scales=scales)
    if kind == "checklist_item_ticked":
        ticks = dict(p.checklist_ticks)
        ticks[data["item"]] = {"by": event.actor, "at": at, "note": data.get("note", "")}
        return replace(p, checklist_ticks=ticks)
    if kind == "note_recorded":
        note = {**data, "seq": event.seq, "recorded_at": at, "by": event.actor}
        return replace(p, notes=p.notes + (note,))
    if kind == "amended":
        amendments = dict(p.amendments)
        entry = {**data, "seq": event.seq, "at": at, "by": event.actor}
        amendments[int(data["event_seq"])] = amendments.get(int(data["event_seq"]), ()) + (entry,)
        return replace(p, amendments=amendments)
    if kind == "dedicated_facilitator_assigned":
        return replace(p, dedicated_facilitator=data["username"])
    if kind == "participant_stepped_out":
        return replace(p, away_with=data["accompanied_by"])
    if kind == "participant_returned":
        return replace(p, away_with=None)
    if kind == "discharged":
        return replace(_phase_change(p, Phase.DISCHARGED, at), outcome=data)
    if kind == "transferred":
        return replace(_phase_change(p, Phase.TRANSFERRED, at), outcome=data)
    raise ValueError(f"unknown event kind {kind!r}")


def fold(session_id: str, events: list[Event] | tuple[Event, ...], state: SessionState | None = None) -> SessionState:
    state = state or SessionState(session_id=session_id)
    for event in events:
        state = evolve(state, event)
    return state
