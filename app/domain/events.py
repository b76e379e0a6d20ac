"""Every kind of fact on a session's log, as one frozen dataclass.

`decide` builds these; `evolve`, the read models and the chart record read them by type. Each
payload knows its `KIND` (the name on the log) and its `SCHEMA` (the version of its stored
shape). `to_data()` gives the JSON-ready fields (what the API shows as an event's `data`);
`stored()` adds the schema version for the event table.

Payloads written before they carried a version, or in an older version, are brought up to date
in one place, `upcast`, which the store calls when it reads an event. Events already stored keep
their bytes (the hash chain covers them); only their reading is upcast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from .codec import SCHEMA_KEY, decode, decode_fields, encode, encode_fields, omitted, wire
from .codec import UnreadablePayload as UnreadablePayload  # re-exported: what the store raises on a bad payload

P = TypeVar("P", bound="Payload")


# ---------------------------------------------------------------- values inside payloads


@dataclass(frozen=True)
class SupportRef:
    kind: str  # "staff" or "participant"
    id: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "id": self.id}


@dataclass(frozen=True)
class BloodPressure:
    sbp: int
    dbp: int


@dataclass(frozen=True)
class Agreement:
    """The pre-session agreement, as signed (or as it stands after withdrawals)."""

    touch: tuple[str, ...]
    pause_signal: str
    stop_signal: str
    music: bool
    eyeshades: bool
    emergency_contact: str
    transport_plan: str
    signed_by_participant: bool
    if_stop_requested: str = ""

    def to_data(self) -> dict[str, Any]:
        return encode_fields(self)


@dataclass(frozen=True)
class ItemResult:
    """One item of the grounding checklist as evaluated (kept on the discharge record)."""

    key: str
    label: str
    required: bool
    done: bool
    automatic: bool
    detail: str = ""
    by: str | None = None
    at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return encode_fields(self)


@dataclass(frozen=True)
class FollowupItem:
    """A follow-up that a refused attempt opens for one participant."""

    participant_id: str
    reason: str
    owner: str
    due_at: datetime


# ---------------------------------------------------------------- the payloads


@dataclass(frozen=True)
class Payload:
    """Base of every event payload."""

    KIND: ClassVar[str] = ""
    SCHEMA: ClassVar[int] = 1

    def to_data(self) -> dict[str, Any]:
        """The payload's fields, JSON-ready (an event's `data` in the API and the stream)."""
        return encode_fields(self)

    def stored(self) -> dict[str, Any]:
        """What the event table holds: the fields and the schema version they are written in."""
        return {**self.to_data(), SCHEMA_KEY: self.SCHEMA}

    @classmethod
    def from_data(cls: type[P], data: Mapping[str, Any]) -> P:
        """Read fields in the current schema (see `upcast` for anything older)."""
        return decode_fields(cls, data, cls.KIND)


@dataclass(frozen=True)
class SessionOpened(Payload):
    KIND: ClassVar[str] = "session_opened"
    room_id: str
    kind: str
    facilitators: tuple[str, ...]
    lead: str


@dataclass(frozen=True)
class SessionClosed(Payload):
    KIND: ClassVar[str] = "session_closed"


@dataclass(frozen=True)
class FacilitatorCheckedIn(Payload):
    KIND: ClassVar[str] = "facilitator_checked_in"
    username: str
    role: str
    # How the person showed it was them (sign_in, pin, password); None in records written before
    # presence had to be attested (evolve then counts only a check-in made from their own sign-in).
    attested_by: str | None = omitted(None)


@dataclass(frozen=True)
class FacilitatorCheckedOut(Payload):
    KIND: ClassVar[str] = "facilitator_checked_out"
    username: str
    # How the person showed it was them, or "colleague" when someone checked in recorded that they
    # left; None in records written before presence had to be attested.
    attested_by: str | None = omitted(None)


@dataclass(frozen=True)
class CommandRefused(Payload):
    """A refused attempt: who tried what (`attempt`), and which rule said no. An attempt to break a
    dyad lock also opens one follow-up per journeyer whose support was at stake."""

    KIND: ClassVar[str] = "command_refused"
    command: str
    code: str
    message: str
    attempt: Mapping[str, Any] = field(default_factory=dict)
    followups: tuple[FollowupItem, ...] = ()

    def to_data(self) -> dict[str, Any]:
        # Stored as it always was: the first follow-up as `followup`, any others as `more_followups`.
        data: dict[str, Any] = {
            "command": self.command,
            "code": self.code,
            "message": self.message,
            "attempt": encode(self.attempt),
        }
        if self.followups:
            data["followup"] = encode(self.followups[0])
        if self.followups[1:]:
            data["more_followups"] = encode(self.followups[1:])
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> CommandRefused:
        items = [data["followup"]] if data.get("followup") else []
        items += list(data.get("more_followups") or [])
        base = {k: v for k, v in data.items() if k not in ("followup", "more_followups")}
        refused = decode_fields(cls, base, cls.KIND)
        followups = tuple(decode(FollowupItem, item, f"{cls.KIND}.followup") for item in items)
        return CommandRefused(refused.command, refused.code, refused.message, refused.attempt, followups)


@dataclass(frozen=True)
class ParticipantAdded(Payload):
    KIND: ClassVar[str] = "participant_added"
    id: str
    display_name: str
    chart_id: str


@dataclass(frozen=True)
class ScreeningRecorded(Payload):
    KIND: ClassVar[str] = "screening_recorded"
    contraindications: Mapping[str, bool]
    bp: BloodPressure
    concomitant_sedatives: tuple[str, ...] = ()
    notes: str = ""
    flags: tuple[str, ...] = ()
    # When the screening was done (a late entry says so; older records hold only when it was typed in).
    observed_at: datetime | None = omitted(None)
    late: bool = False


@dataclass(frozen=True)
class ScreeningCleared(Payload):
    KIND: ClassVar[str] = "screening_cleared"
    note: str
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConsentRecorded(Payload):
    KIND: ClassVar[str] = "consent_recorded"
    agreement: Agreement
    attested_by: str | None = None
    # When the agreement was signed (a late entry says so; older records hold only when it was typed in).
    observed_at: datetime | None = omitted(None)
    late: bool = False


@dataclass(frozen=True)
class ConsentWithdrawn(Payload):
    KIND: ClassVar[str] = "consent_withdrawn"
    items: tuple[str, ...]


@dataclass(frozen=True)
class SupportAssigned(Payload):
    KIND: ClassVar[str] = "support_assigned"
    support: SupportRef


@dataclass(frozen=True)
class SupportRemoved(Payload):
    KIND: ClassVar[str] = "support_removed"
    support_id: str


@dataclass(frozen=True)
class SupportHandedOver(Payload):
    KIND: ClassVar[str] = "support_handed_over"
    replacement: SupportRef
    released: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class DoseAdministered(Payload):
    KIND: ClassVar[str] = "dose_administered"
    route: str
    dose_mg: float
    administered_at: datetime
    prescriber: str
    checkin_due_at: datetime
    infusion_minutes: int | None = None
    vitals_due_at: datetime | None = None


@dataclass(frozen=True)
class PhaseChanged(Payload):
    KIND: ClassVar[str] = "phase_changed"
    from_: str = wire("from")
    to: str = wire("to")


@dataclass(frozen=True)
class Paused(Payload):
    KIND: ClassVar[str] = "paused"
    from_: str = wire("from")
    requested_by: str = wire("requested_by")
    reason: str = ""
    participant_response: str | None = omitted(None)


@dataclass(frozen=True)
class Resumed(Payload):
    KIND: ClassVar[str] = "resumed"
    to: str
    participant_wishes_to_continue: bool = True
    reason: str = ""


@dataclass(frozen=True)
class Stopped(Payload):
    KIND: ClassVar[str] = "stopped"
    from_: str = wire("from")
    requested_by: str = wire("requested_by")
    reason: str = ""
    participant_response: str | None = omitted(None)


@dataclass(frozen=True)
class PauseOrStopDeclined(Payload):
    KIND: ClassVar[str] = "pause_or_stop_declined"
    from_: str = wire("from")
    requested_by: str = wire("requested_by")
    proposal: str = wire("proposal")
    reason: str = ""
    participant_response: str | None = None


@dataclass(frozen=True)
class ConsentCheckinAnswered(Payload):
    KIND: ClassVar[str] = "consent_checkin_answered"
    ok: bool
    next_due_at: datetime
    note: str = ""
    due_at: datetime | None = None
    # Sent late by a tablet that was offline: when it was asked, kept beside when it arrived.
    observed_at: datetime | None = omitted(None)
    late: bool = omitted(False)


@dataclass(frozen=True)
class ConsentCheckinMissed(Payload):
    KIND: ClassVar[str] = "consent_checkin_missed"
    due_at: datetime
    next_due_at: datetime


@dataclass(frozen=True)
class VitalsRecorded(Payload):
    KIND: ClassVar[str] = "vitals_recorded"
    vitals: Mapping[str, float]
    observed_at: datetime
    late: bool = False
    next_vitals_due_at: datetime | None = omitted(None)


@dataclass(frozen=True)
class ObservationRecorded(Payload):
    KIND: ClassVar[str] = "observation_recorded"
    observed_at: datetime
    distress: int | None = omitted(None)
    moaa_s: int | None = omitted(None)
    rass: int | None = omitted(None)
    suds: int | None = omitted(None)
    signs: tuple[str, ...] = ()
    note: str = ""
    parts: tuple[str, ...] = ()
    late: bool = False

    @property
    def scales(self) -> dict[str, int]:
        """The scales this observation recorded (name -> value)."""
        found = {"distress": self.distress, "moaa_s": self.moaa_s, "rass": self.rass, "suds": self.suds}
        return {name: value for name, value in found.items() if value is not None}


@dataclass(frozen=True)
class ChecklistItemTicked(Payload):
    KIND: ClassVar[str] = "checklist_item_ticked"
    item: str
    note: str = ""
    # Sent late by a tablet that was offline: when it was ticked, kept beside when it arrived.
    observed_at: datetime | None = omitted(None)
    late: bool = omitted(False)


@dataclass(frozen=True)
class NoteRecorded(Payload):
    KIND: ClassVar[str] = "note_recorded"
    kind: str
    text: str
    observed_at: datetime
    parts: tuple[str, ...] = ()
    somatic: str = ""
    late: bool = False


@dataclass(frozen=True)
class Amended(Payload):
    KIND: ClassVar[str] = "amended"
    event_seq: int
    correction: str
    reason: str


@dataclass(frozen=True)
class DedicatedFacilitatorAssigned(Payload):
    KIND: ClassVar[str] = "dedicated_facilitator_assigned"
    username: str


@dataclass(frozen=True)
class ParticipantSteppedOut(Payload):
    KIND: ClassVar[str] = "participant_stepped_out"
    accompanied_by: str


@dataclass(frozen=True)
class ParticipantReturned(Payload):
    KIND: ClassVar[str] = "participant_returned"
    accompanied_by: str


@dataclass(frozen=True)
class Discharged(Payload):
    KIND: ClassVar[str] = "discharged"
    from_: str = wire("from")
    # The grounding checklist as evaluated at discharge (only after a dose).
    checklist: tuple[ItemResult, ...] | None = omitted(None)


@dataclass(frozen=True)
class Transferred(Payload):
    KIND: ClassVar[str] = "transferred"
    from_: str = wire("from")
    reason: str = wire("reason")
    destination: str = wire("destination")


@dataclass(frozen=True)
class EscalationPayload(Payload):
    """Base of every event about one escalation."""

    escalation_id: str


@dataclass(frozen=True)
class EscalationRaised(EscalationPayload):
    KIND: ClassVar[str] = "escalation_raised"
    condition: str
    priority: str
    step: int
    reason: str
    deadline: datetime | None = None


@dataclass(frozen=True)
class EscalationUpdated(EscalationPayload):
    """A more urgent finding raised an open escalation's priority."""

    KIND: ClassVar[str] = "escalation_updated"
    priority: str
    step: int
    reason: str
    deadline: datetime | None = None


@dataclass(frozen=True)
class EscalationClimbed(EscalationPayload):
    KIND: ClassVar[str] = "escalation_climbed"
    step: int
    deadline: datetime | None = None


@dataclass(frozen=True)
class EscalationResounded(EscalationPayload):
    KIND: ClassVar[str] = "escalation_resounded"
    deadline: datetime | None = None


@dataclass(frozen=True)
class EscalationAcknowledged(EscalationPayload):
    KIND: ClassVar[str] = "escalation_acknowledged"
    step: int


@dataclass(frozen=True)
class EscalationResolved(EscalationPayload):
    KIND: ClassVar[str] = "escalation_resolved"
    action: str
    outcome: str
    # Resolved by the record itself (a due vitals check taken), not by a person.
    automatic: bool = omitted(False)


@dataclass(frozen=True)
class EscalationSeen(EscalationPayload):
    """The first time one person had this alarm on a visible screen (the screen is the event's
    device). Not a step of the alarm: it stays out of the alarm's history."""

    KIND: ClassVar[str] = "escalation_seen"


@dataclass(frozen=True)
class AlarmMuted(EscalationPayload):
    KIND: ClassVar[str] = "alarm_muted"
    until: datetime


@dataclass(frozen=True)
class FollowupOpened(Payload):
    KIND: ClassVar[str] = "followup_opened"
    followup_id: str
    reason: str
    owner: str
    due_at: datetime
    source_seq: int
    # The participant's own account in their words, and whether the follow-up is about the lead's
    # own conduct (then never owned by that lead). Left out of the stored payload when empty.
    account: str = omitted("")
    concerns_lead: bool = omitted(False)


@dataclass(frozen=True)
class FollowupClosed(Payload):
    KIND: ClassVar[str] = "followup_closed"
    followup_id: str
    contact_note: str


PAYLOAD_TYPES: Mapping[str, type[Payload]] = {
    cls.KIND: cls
    for cls in (
        SessionOpened,
        SessionClosed,
        FacilitatorCheckedIn,
        FacilitatorCheckedOut,
        CommandRefused,
        ParticipantAdded,
        ScreeningRecorded,
        ScreeningCleared,
        ConsentRecorded,
        ConsentWithdrawn,
        SupportAssigned,
        SupportRemoved,
        SupportHandedOver,
        DoseAdministered,
        PhaseChanged,
        Paused,
        Resumed,
        Stopped,
        PauseOrStopDeclined,
        ConsentCheckinAnswered,
        ConsentCheckinMissed,
        VitalsRecorded,
        ObservationRecorded,
        ChecklistItemTicked,
        NoteRecorded,
        Amended,
        DedicatedFacilitatorAssigned,
        ParticipantSteppedOut,
        ParticipantReturned,
        Discharged,
        Transferred,
        EscalationRaised,
        EscalationUpdated,
        EscalationClimbed,
        EscalationResounded,
        EscalationAcknowledged,
        EscalationResolved,
        AlarmMuted,
        EscalationSeen,
        FollowupOpened,
        FollowupClosed,
    )
}

# Payloads stored before they carried a schema version are version 0: the fields of version 1,
# some of which were added over time (they take their defaults when absent). A later change of
# shape adds its step here, keyed by (kind, the version it reads).
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
UPCASTERS: Mapping[tuple[str, int], Upcaster] = {(kind, 0): dict for kind in PAYLOAD_TYPES}


def upcast(kind: str, stored: Mapping[str, Any]) -> Payload:
    """The typed payload of an event as stored, whatever schema version it was written in."""
    cls = PAYLOAD_TYPES.get(kind)
    if cls is None:
        raise UnreadablePayload(f"unknown event kind {kind!r}")
    if not isinstance(stored, Mapping):
        raise UnreadablePayload(f"{kind} is not a mapping")
    data = dict(stored)
    version = data.pop(SCHEMA_KEY, 0)
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version <= cls.SCHEMA:
        raise UnreadablePayload(f"{kind} has schema {version!r}; this version reads up to {cls.SCHEMA}")
    while version < cls.SCHEMA:
        data = UPCASTERS[(kind, version)](data)
        version += 1
    return cls.from_data(data)


def observed(payload: Payload) -> tuple[datetime | None, bool]:
    """When an entry says it was observed, and whether it was recorded late (None, False for an
    event that records only the moment it was written)."""
    if isinstance(payload, (VitalsRecorded, ObservationRecorded, NoteRecorded, ScreeningRecorded, ConsentRecorded)):
        return payload.observed_at, payload.late
    if isinstance(payload, (ConsentCheckinAnswered, ChecklistItemTicked)) and payload.observed_at is not None:
        return payload.observed_at, payload.late
    return None, False
