"""Commands: what someone asks the session to do. Small frozen values; `decide` judges them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .events import SupportRef


@dataclass(frozen=True)
class Command:
    """Base of every command. `participant_id` is None for session-wide commands."""

    @property
    def name(self) -> str:
        out: list[str] = []
        for ch in type(self).__name__:
            if ch.isupper() and out:
                out.append("_")
            out.append(ch.lower())
        return "".join(out)

    @property
    def target(self) -> str | None:
        return getattr(self, "participant_id", None)

    def summary(self) -> dict[str, Any]:
        """The command's fields, for the record of a refused attempt."""
        out: dict[str, Any] = {}
        for key, value in vars(self).items():
            if isinstance(value, SupportRef):
                value = value.as_dict()
            elif isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, (tuple, frozenset)):
                value = list(value)
            out[key] = value
        return out


@dataclass(frozen=True)
class OpenSession(Command):
    room_id: str
    kind: str
    facilitators: tuple[str, ...]
    lead: str


@dataclass(frozen=True)
class CloseSession(Command):
    pass


# How a person showed that it is they who check in or out: their own sign-in, or their own PIN or
# password typed on a shared room tablet that someone else is signed in to.
ATTESTATIONS = ("sign_in", "pin", "password")


@dataclass(frozen=True)
class CheckIn(Command):
    """`username` checks themselves in. `attested_by` says how they showed it is them; for "pin" and
    "password" the edge has checked the credential and says in `credential_matched` whether it was
    theirs (the domain reads no credentials)."""

    username: str
    role: str
    attested_by: str = "sign_in"
    credential_matched: bool = False


@dataclass(frozen=True)
class CheckOut(Command):
    """`username` leaves the room: attested as a check-in is, or recorded by a colleague who is
    checked in to the room themselves (someone left without checking out)."""

    username: str
    attested_by: str = "sign_in"
    credential_matched: bool = False


@dataclass(frozen=True)
class AddParticipant(Command):
    participant_id: str
    display_name: str
    chart_id: str


@dataclass(frozen=True)
class RecordScreening(Command):
    participant_id: str
    contraindications: Mapping[str, bool]
    sbp: int
    dbp: int
    concomitant_sedatives: tuple[str, ...] = ()
    notes: str = ""
    # When the screening was done, if it is typed in later (from paper); otherwise now.
    observed_at: datetime | None = None


@dataclass(frozen=True)
class ClearScreening(Command):
    participant_id: str
    note: str


@dataclass(frozen=True)
class RecordConsent(Command):
    participant_id: str
    touch: tuple[str, ...]
    pause_signal: str
    stop_signal: str
    music: bool
    eyeshades: bool
    emergency_contact: str
    transport_plan: str
    signed_by_participant: bool
    if_stop_requested: str = ""
    # When the agreement was signed, if it is typed in later (from paper); otherwise now.
    observed_at: datetime | None = None


@dataclass(frozen=True)
class WithdrawConsent(Command):
    participant_id: str
    items: tuple[str, ...]


@dataclass(frozen=True)
class AssignSupport(Command):
    participant_id: str
    support: SupportRef


@dataclass(frozen=True)
class RemoveSupport(Command):
    participant_id: str
    support_id: str


@dataclass(frozen=True)
class HandOverSupport(Command):
    participant_id: str
    replacement: SupportRef
    reason: str
    replaces: str | None = None


@dataclass(frozen=True)
class AdministerDose(Command):
    participant_id: str
    route: str
    dose_mg: float
    administered_at: datetime | None = None
    # Intravenous only: how long the infusion runs (vitals are due more often meanwhile).
    infusion_minutes: int | None = None


@dataclass(frozen=True)
class ChangePhase(Command):
    participant_id: str
    to: str


@dataclass(frozen=True)
class Pause(Command):
    participant_id: str
    requested_by: str
    reason: str = ""
    participant_response: str | None = None


@dataclass(frozen=True)
class Resume(Command):
    participant_id: str
    participant_wishes_to_continue: bool
    requested_by: str = "participant"
    reason: str = ""


@dataclass(frozen=True)
class Stop(Command):
    participant_id: str
    requested_by: str
    reason: str = ""
    participant_response: str | None = None


@dataclass(frozen=True)
class AnswerCheckin(Command):
    participant_id: str
    ok: bool
    note: str = ""
    observed_at: datetime | None = None


@dataclass(frozen=True)
class RecordVitals(Command):
    participant_id: str
    vitals: Mapping[str, float]
    observed_at: datetime | None = None


@dataclass(frozen=True)
class RecordObservation(Command):
    participant_id: str
    distress: int | None = None
    moaa_s: int | None = None
    rass: int | None = None
    suds: int | None = None
    signs: tuple[str, ...] = ()
    note: str = ""
    parts: tuple[str, ...] = ()
    observed_at: datetime | None = None


@dataclass(frozen=True)
class TickChecklistItem(Command):
    participant_id: str
    item: str
    note: str = ""
    observed_at: datetime | None = None


@dataclass(frozen=True)
class Discharge(Command):
    participant_id: str


@dataclass(frozen=True)
class Transfer(Command):
    participant_id: str
    reason: str
    destination: str


@dataclass(frozen=True)
class Amend(Command):
    participant_id: str
    event_seq: int
    correction: str
    reason: str
    # The participant the amended entry belongs to, as the log says (None if no such entry).
    target_participant_id: str | None = None


@dataclass(frozen=True)
class Tick(Command):
    """The clock: whatever has come due by `now` follows from it."""


@dataclass(frozen=True)
class StepOut(Command):
    """The participant leaves the room (a quieter space, the bathroom), accompanied."""

    participant_id: str
    accompanied_by: str


@dataclass(frozen=True)
class ReturnToRoom(Command):
    participant_id: str


@dataclass(frozen=True)
class AcknowledgeEscalation(Command):
    """Someone has seen the alarm and is answering it: stops this step's clock, closes nothing."""

    escalation_id: str


@dataclass(frozen=True)
class ResolveEscalation(Command):
    escalation_id: str
    action: str
    outcome: str


@dataclass(frozen=True)
class MuteAlarm(Command):
    """Silence a sounding alarm briefly; it stays open and on screen."""

    escalation_id: str


@dataclass(frozen=True)
class MarkAlarmsSeen(Command):
    """A visible screen reports the alarms it shows: the first sighting per person is recorded."""

    escalation_ids: tuple[str, ...]


@dataclass(frozen=True)
class OpenFollowup(Command):
    """A follow-up opened by hand, during or after the session (a concern the participant raised)."""

    participant_id: str
    reason: str
    account: str = ""
    owner: str | None = None
    concerns_lead: bool = False


@dataclass(frozen=True)
class CloseFollowup(Command):
    followup_id: str
    contact_note: str


@dataclass(frozen=True)
class AssignDedicatedFacilitator(Command):
    """In a disrupted group: one facilitator stays with this participant."""

    participant_id: str
    username: str


@dataclass(frozen=True)
class RecordNote(Command):
    """A session note: an intention before, an observation during, an integration theme after."""

    participant_id: str
    kind: str
    text: str
    parts: tuple[str, ...] = ()
    somatic: str = ""
    observed_at: datetime | None = None
