"""What the JSON API accepts: one pydantic model per request body, its words and ranges taken
from the domain's vocabulary (so the API and the rules accept the same values)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    model_validator,
)

from app.domain import vocabulary as v

MAX_UNKNOWN_FIELDS = 20


def _whole(value: Any) -> Any:
    """JSON has one kind of number: 72.0 is the whole number 72 (the schema's "integer"); 72.5,
    "72" and true stay refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _whole_in(low: int, high: int) -> Any:
    """A whole number in the domain's range (the range travels into the OpenAPI document)."""
    return Annotated[StrictInt, Field(ge=low, le=high), BeforeValidator(_whole)]


class Body(BaseModel):
    # Text is checked as it arrives (its length, a character that is not a space), as the OpenAPI
    # document says; the domain trims it when it records it.
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _few_unknown_fields(cls, data: Any) -> Any:
        """A body with unknown fields is refused whatever else it holds: keep only the first few,
        so thousands of them cost no more than one (and the answer names at most these)."""
        if isinstance(data, dict) and len(data) > len(cls.model_fields):
            unknown = [key for key in data if key not in cls.model_fields]
            if len(unknown) > MAX_UNKNOWN_FIELDS:
                drop = set(unknown[MAX_UNKNOWN_FIELDS:])
                return {key: value for key, value in data.items() if key not in drop}
        return data


# A time a client sends is an ISO 8601 text with its offset, nothing else: no number (a JSON `0` is
# not 1970), no bare date, no digits read as seconds since 1970. Whether the time is plausible for
# the session (not in the future, not long before the session) is the domain's rule.
_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})")


def _iso_time_text(value: Any) -> Any:
    if not isinstance(value, str) or not _ISO_TIME.fullmatch(value):
        raise ValueError("must be a date and time in ISO 8601 with an offset, e.g. 2026-03-14T09:30:00+01:00")
    return value


ClientTime = Annotated[AwareDatetime, BeforeValidator(_iso_time_text)]


def _json_bool(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


# `true` is not 1 and `0` is not `false`: numbers and yes/no answers take only their own JSON type.
StrictTrue = Annotated[Literal[True], BeforeValidator(_json_bool)]


# The request models derive their words and ranges from the domain's vocabulary (one home each):
# a value the domain would refuse as malformed is refused here already, with the field named.


def _one_of(words: tuple[str, ...]) -> Any:
    """The type of one word of a domain vocabulary."""
    return Literal[words]


# Text is stripped before it is checked, so a required one needs a character that is not a space:
# the document says so (a pattern), and the validator agrees with it.
NOT_BLANK = r"\S"


def required_text(max_length: int) -> Any:
    """A required text field: at least one character that is not a space, at most `max_length`."""
    return Field(min_length=1, max_length=max_length, pattern=NOT_BLANK)


def _text(name: str, required: bool = True) -> Any:
    """A free-text field as long as the domain lets it be."""
    if required:
        return required_text(v.TEXT_LIMITS[name])
    return Field(default="", max_length=v.TEXT_LIMITS[name])


SessionKind = _one_of(v.SESSION_KINDS)
TouchArea = _one_of(v.TOUCH_AREAS)
SupportKind = _one_of(v.SUPPORT_KINDS)
Route = _one_of(v.ROUTES)
ForwardPhase = _one_of(v.FORWARD_PHASES)
Requester = _one_of(v.REQUESTERS)
ParticipantResponse = _one_of(v.PARTICIPANT_RESPONSES)
ProtectivePart = _one_of(v.PROTECTIVE_PARTS)
NoteKind = _one_of(v.NOTE_KINDS)
Withdrawable = _one_of(v.WITHDRAWABLE)


class LoginBody(Body):
    username: str = required_text(64)
    password: str = required_text(256)


class SessionBody(Body):
    room_id: str = required_text(40)
    kind: SessionKind
    facilitators: list[str] = Field(default_factory=list, max_length=20)
    lead: str = required_text(64)


class ParticipantBody(Body):
    display_name: str = _text("display_name")
    chart_id: str = _text("chart_id")


class BloodPressure(Body):
    sbp: _whole_in(*v.VITAL_RANGES["sbp"])  # type: ignore[valid-type]
    dbp: _whole_in(*v.VITAL_RANGES["dbp"])  # type: ignore[valid-type]


class ScreeningBody(Body):
    contraindications: dict[str, StrictBool] = Field(default_factory=dict, max_length=50)
    bp: BloodPressure
    concomitant_sedatives: list[str] = Field(default_factory=list, max_length=20)
    notes: str = Field(default="", max_length=4000)
    observed_at: ClientTime | None = None


class NoteBody(Body):
    note: str = _text("clearance_note")


class ConsentBody(Body):
    touch: list[TouchArea] = Field(default_factory=list)
    pause_signal: str = Field(default="", max_length=200)
    stop_signal: str = Field(default="", max_length=200)
    music: StrictBool = False
    eyeshades: StrictBool = False
    if_stop_requested: str = Field(default="", max_length=1000)
    emergency_contact: str = Field(default="", max_length=200)
    transport_plan: str = Field(default="", max_length=400)
    signed_by_participant: StrictBool = False
    observed_at: ClientTime | None = None


class WithdrawBody(Body):
    items: list[Withdrawable] = Field(min_length=1, max_length=10)


class SupportBody(Body):
    kind: SupportKind
    id: str = required_text(64)


class HandoverBody(Body):
    replacement: SupportBody
    reason: str = _text("reason")
    replaces: str | None = Field(default=None, max_length=64)


class DoseBody(Body):
    route: Route
    dose_mg: StrictFloat = Field(gt=0, le=v.DOSE_MG_MAX)
    administered_at: ClientTime | None = None
    infusion_minutes: _whole_in(*v.INFUSION_MINUTES) | None = None  # type: ignore[valid-type]


class PhaseBody(Body):
    to: ForwardPhase


class PauseStopBody(Body):
    requested_by: Requester
    reason: str = _text("reason", required=False)
    participant_response: ParticipantResponse | None = None
    participant_wishes_to_continue: StrictBool | None = None


class CheckinBody(Body):
    ok: StrictBool
    note: str = Field(default="", max_length=2000)
    observed_at: ClientTime | None = None


class VitalsBody(Body):
    sbp: _whole_in(*v.VITAL_RANGES["sbp"]) | None = None  # type: ignore[valid-type]
    dbp: _whole_in(*v.VITAL_RANGES["dbp"]) | None = None  # type: ignore[valid-type]
    hr: _whole_in(*v.VITAL_RANGES["hr"]) | None = None  # type: ignore[valid-type]
    spo2: _whole_in(*v.VITAL_RANGES["spo2"]) | None = None  # type: ignore[valid-type]
    rr: _whole_in(*v.VITAL_RANGES["rr"]) | None = None  # type: ignore[valid-type]
    observed_at: ClientTime | None = None


class ObservationBody(Body):
    distress: _whole_in(*v.SCALE_RANGES["distress"]) | None = None  # type: ignore[valid-type]
    moaa_s: _whole_in(*v.SCALE_RANGES["moaa_s"]) | None = None  # type: ignore[valid-type]
    rass: _whole_in(*v.SCALE_RANGES["rass"]) | None = None  # type: ignore[valid-type]
    suds: _whole_in(*v.SCALE_RANGES["suds"]) | None = None  # type: ignore[valid-type]
    signs: list[str] = Field(default_factory=list, max_length=20)
    note: str = Field(default="", max_length=4000)
    parts: list[ProtectivePart] = Field(default_factory=list)
    observed_at: ClientTime | None = None


class ChecklistBody(Body):
    done: StrictTrue = True
    note: str = Field(default="", max_length=2000)
    observed_at: ClientTime | None = None


class TransferBody(Body):
    reason: str = _text("reason")
    destination: str = _text("destination")


class ResolveBody(Body):
    action: str = _text("action")
    outcome: str = _text("outcome")


class ContactNoteBody(Body):
    contact_note: str = _text("contact_note")


class DedicatedBody(Body):
    username: str = required_text(64)


class SessionNoteBody(Body):
    kind: NoteKind
    text: str = _text("note_text")
    parts: list[ProtectivePart] = Field(default_factory=list)
    somatic: str = Field(default="", max_length=2000)
    observed_at: ClientTime | None = None


class StepOutBody(Body):
    accompanied_by: str = required_text(64)


class AmendBody(Body):
    event_seq: _whole_in(1, v.SEQ_MAX)  # type: ignore[valid-type]
    correction: str = _text("correction")
    reason: str = _text("reason")


class PresenceBody(Body):
    """On a shared room tablet, the person checking in or out shows it is them: their PIN or password
    (one of them, never both; neither may be null)."""

    model_config = ConfigDict(json_schema_extra={"not": {"required": ["pin", "password"]}})

    # Typed as text only, so the document and the validator agree that null is no PIN at all.
    pin: str = Field(default=None, min_length=1, max_length=32, pattern=NOT_BLANK)  # type: ignore[assignment]
    password: str = Field(default=None, min_length=1, max_length=256, pattern=NOT_BLANK)  # type: ignore[assignment]

    @model_validator(mode="after")
    def _one_secret(self) -> PresenceBody:
        if self.pin is not None and self.password is not None:
            raise ValueError("give a PIN or a password, not both")
        return self
