"""A session's state and its events (the fold that derives one from the other is in `evolve.py`).

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
    Amended,
    ConsentCheckinAnswered,
    ConsentCheckinMissed,
    Discharged,
    DoseAdministered,
    NoteRecorded,
    Payload,
    ScreeningRecorded,
    SupportRef,
    Transferred,
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


# The owner of a follow-up that must not rest with the session's lead (one about the lead's own
# conduct), and whom an overdue follow-up climbs to: the clinic's admins.
CLINIC_ADMINS = "@admins"


@dataclass(frozen=True)
class Sighting:
    """The first time one person had an alarm on a visible screen, and which screen it was."""

    username: str
    at: datetime
    device: str | None = None


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
    history: tuple[Event, ...] = ()  # every event about this escalation, in order (but sightings)
    seen: tuple[Sighting, ...] = ()

    @property
    def open(self) -> bool:
        return self.resolved_at is None

    def seen_by(self, username: str) -> bool:
        return any(s.username == username for s in self.seen)

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
    opened_by: str = ""
    # The participant's own account in their words (a concern raised after the session), and
    # whether the follow-up is about the lead's own conduct (then the lead never owns it).
    account: str = ""
    concerns_lead: bool = False

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
