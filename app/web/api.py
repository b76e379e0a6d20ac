"""The JSON API of API.md. Handlers only translate: body -> command, outcome -> response."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
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

from app.domain import SessionState, SupportRef
from app.domain import commands as c
from app.domain import vocabulary as v
from app.domain.escalation import reaches_beyond_the_room
from app.domain.followups import reached_admins
from app.services import Idempotency, Outcome, Services
from app.store import people
from app.store.db import unit_of_work
from app.store.tables import User
from app.web.attempts import AttemptThrottle
from app.web.deps import (
    CurrentUser,
    IdempotencyDep,
    ServicesDep,
    actor_of,
    attempt_sign_in,
    check_csrf,
    device_of,
    record_chart_access,
    room_for,
    sign_out,
    visible_session,
)
from app.web.errors import ApiError
from app.web.live import step_three_elsewhere
from app.web.views import (
    escalation_view,
    event_view,
    followup_view,
    participant_view,
    session_view,
    sort_alarms,
)

router = APIRouter(prefix="/api/v1", dependencies=[Depends(check_csrf)])
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
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

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


def _text(name: str, required: bool = True) -> Any:
    """A free-text field as long as the domain lets it be."""
    if required:
        return Field(min_length=1, max_length=v.TEXT_LIMITS[name])
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
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class SessionBody(Body):
    room_id: str = Field(min_length=1, max_length=40)
    kind: SessionKind
    facilitators: list[str] = Field(default_factory=list, max_length=20)
    lead: str = Field(min_length=1, max_length=64)


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
    id: str = Field(min_length=1, max_length=64)


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
    username: str = Field(min_length=1, max_length=64)


class SessionNoteBody(Body):
    kind: NoteKind
    text: str = _text("note_text")
    parts: list[ProtectivePart] = Field(default_factory=list)
    somatic: str = Field(default="", max_length=2000)
    observed_at: ClientTime | None = None


class StepOutBody(Body):
    accompanied_by: str = Field(min_length=1, max_length=64)


class AmendBody(Body):
    event_seq: _whole_in(1, 2**62)  # type: ignore[valid-type]
    correction: str = _text("correction")
    reason: str = _text("reason")


def _respond(outcome: Outcome) -> JSONResponse:
    headers = {"Idempotent-Replay": "true"} if outcome.replayed else None
    return JSONResponse(outcome.body, status_code=outcome.status, headers=headers)


def _participant_answer(services: Services, participant_id: str, status: int = 200):  # type: ignore[no-untyped-def]
    def answer(state: SessionState, _events: list[Any]) -> tuple[int, dict[str, Any]]:
        participant = state.participants[participant_id]
        return status, participant_view(state, participant, services.policy, services.clock())

    return answer


def _session_answer(services: Services, status: int = 200):  # type: ignore[no-untyped-def]
    def answer(state: SessionState, _events: list[Any]) -> tuple[int, dict[str, Any]]:
        return status, session_view(state, services.policy, services.clock())

    return answer


def run(
    request: Request,
    services: Services,
    user: User,
    session_id: str,
    command: c.Command,
    idem: Any,
    answer: Any = None,
) -> JSONResponse:
    visible_session(services, user, session_id)
    outcome = services.execute(
        session_id,
        command,
        actor_of(user),
        device=device_of(request),
        idempotency=idem,
        answer=answer or _session_answer(services),
    )
    return _respond(outcome)


def run_for_participant(
    request: Request,
    services: Services,
    user: User,
    session_id: str,
    participant_id: str,
    command: c.Command,
    idem: Any,
    status: int = 200,
) -> JSONResponse:
    answer = _participant_answer(services, participant_id, status)
    return run(request, services, user, session_id, command, idem, answer)


# ------------------------------------------------------------------ auth


@router.post("/auth/login")
async def login(body: LoginBody, request: Request, services: ServicesDep) -> dict[str, str]:
    user = await attempt_sign_in(request, services, body.username, body.password)
    return {"username": user.username, "role": user.role}


@router.post("/auth/logout")
def logout(request: Request, services: ServicesDep) -> dict[str, bool]:
    sign_out(request, services)
    return {"signed_out": True}


@router.get("/me")
def me(user: CurrentUser) -> dict[str, str]:
    return {"username": user.username, "role": user.role}


# ------------------------------------------------------------------ rooms and sessions


@router.get("/rooms")
def rooms(user: CurrentUser, services: ServicesDep) -> list[dict[str, Any]]:
    with unit_of_work(services.engine) as db:
        visible = people.rooms_for(db, user)
        return [
            {
                "id": room.id,
                "name": room.name,
                "lead": room.lead,
                "live_session_id": (live.id if (live := people.live_session(db, room.id)) else None),
            }
            for room in visible
        ]


@router.post("/sessions", status_code=201)
def create_session(
    body: SessionBody, request: Request, user: CurrentUser, services: ServicesDep, idem: IdempotencyDep
) -> JSONResponse:
    with unit_of_work(services.engine) as db:
        room = room_for(db, user, body.room_id)
        lead = people.get_user(db, body.lead)
        if lead is None or lead.role != "lead" or not people.works_in(db, room, lead):
            raise ApiError(
                422, "validation_error", f"{body.lead} is not a lead who oversees this room.", {"field": "lead"}
            )
        staff = {u.username for u in people.room_staff(db, room)}
        unknown = [f for f in body.facilitators if f not in staff]
        if unknown:
            raise ApiError(
                422,
                "validation_error",
                f"Not assigned to this room: {', '.join(unknown)}.",
                {"field": "facilitators", "unknown": unknown},
            )
    outcome = services.open_session(
        actor_of(user),
        room,
        body.kind,
        [f.lower() for f in body.facilitators],
        lead.username,
        idempotency=idem,
        answer=_session_answer(services, 201),
        device=device_of(request),
    )
    return _respond(outcome)


@router.get("/sessions/{session_id}")
def get_session(session_id: str, user: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    visible_session(services, user, session_id)
    return session_view(services.state(session_id), services.policy, services.clock())


@router.get("/sessions/{session_id}/events")
def get_events(
    session_id: str,
    user: CurrentUser,
    services: ServicesDep,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> list[dict[str, Any]]:
    visible_session(services, user, session_id)
    return [event_view(e) for e in services.events(session_id, after=after, limit=limit)]


@router.post("/sessions/{session_id}/close")
def close_session(
    session_id: str, request: Request, user: CurrentUser, services: ServicesDep, idem: IdempotencyDep
) -> JSONResponse:
    return run(request, services, user, session_id, c.CloseSession(), idem)


class PresenceBody(Body):
    """On a shared room tablet, the person checking in or out shows it is them: their PIN or password."""

    pin: str | None = Field(default=None, min_length=1, max_length=32)
    password: str | None = Field(default=None, min_length=1, max_length=256)

    @model_validator(mode="after")
    def _one_secret(self) -> PresenceBody:
        if self.pin is not None and self.password is not None:
            raise ValueError("give a PIN or a password, not both")
        return self


class TooManyAttempts(Exception):
    def __init__(self, username: str, retry_after: int) -> None:
        super().__init__(username)
        self.username = username
        self.retry_after = retry_after


def _too_many(err: TooManyAttempts) -> JSONResponse:
    minutes = max(1, round(err.retry_after / 60))
    body = {
        "error": {
            "code": "too_many_attempts",
            "message": f"Too many wrong tries for {err.username}. Try again in about {minutes} min, "
            "or check in from their own sign-in.",
            "details": {"username": err.username, "retry_after": err.retry_after},
        }
    }
    return JSONResponse(body, status_code=429, headers={"Retry-After": str(err.retry_after)})


def _attestation(request: Request, staff: User, body: PresenceBody | None) -> tuple[str, bool]:
    """How the person showed it is them: the tablet's own sign-in, or their PIN or password typed
    on it (checked here; the domain judges the result). Repeated wrong tries are throttled."""
    if body is None or (body.pin is None and body.password is None):
        return "sign_in", False
    throttle: AttemptThrottle = request.app.state.presence_attempts
    wait = throttle.retry_after(staff.username)
    if wait is not None:
        raise TooManyAttempts(staff.username, wait)
    if body.pin is not None:
        if staff.pin_hash is None:
            raise ApiError(
                409,
                "no_pin",
                f"{staff.username} has no PIN yet: use their password, or set one with 'holdspace user pin'.",
                {"username": staff.username},
            )
        how, matched = "pin", people.pin_matches(staff, body.pin)
    else:
        how, matched = "password", people.password_matches(staff, body.password or "")
    if matched:
        throttle.succeeded(staff.username)
    else:
        throttle.failed(staff.username)
    return how, matched


def _secret_free(idem: Idempotency | None, request: Request, how: str, matched: bool) -> Idempotency | None:
    """The idempotency fingerprint is a hash of the request body; with a 4-digit PIN in it, that
    hash would give the PIN away to anyone reading the table. Fingerprint the outcome instead."""
    if idem is None:
        return None
    digest = hashlib.sha256(f"{request.method} {request.url.path}\n{how} {matched}".encode()).hexdigest()
    return replace(idem, fingerprint=digest)


def _room_staff(services: Services, user: User, session_id: str, username: str) -> User | None:
    _, room = visible_session(services, user, session_id)
    with unit_of_work(services.engine) as db:
        staff = people.get_user(db, username)
        if staff is None or not people.works_in(db, room, staff):
            return None
        return staff


@router.post("/sessions/{session_id}/facilitators/{username}/check-in")
def check_in(
    session_id: str,
    username: str,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
    body: PresenceBody | None = None,
) -> JSONResponse:
    """Only `username` themselves: from their own sign-in, or on a shared tablet with their PIN or password."""
    staff = _room_staff(services, user, session_id, username)
    if staff is None:
        raise ApiError(404, "not_found", f"{username} does not work in this room.")
    try:
        how, matched = _attestation(request, staff, body)
    except TooManyAttempts as err:
        return _too_many(err)
    command = c.CheckIn(staff.username, staff.role, attested_by=how, credential_matched=matched)
    return run(request, services, user, session_id, command, _secret_free(idem, request, how, matched))


@router.post("/sessions/{session_id}/facilitators/{username}/check-out")
def check_out(
    session_id: str,
    username: str,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
    body: PresenceBody | None = None,
) -> JSONResponse:
    """`username` themselves (as for check-in), or a colleague checked in to the room recording that
    they have left."""
    how, matched = "sign_in", False
    if body is not None and (body.pin is not None or body.password is not None):
        staff = _room_staff(services, user, session_id, username)
        if staff is None:
            raise ApiError(404, "not_found", f"{username} does not work in this room.")
        try:
            how, matched = _attestation(request, staff, body)
        except TooManyAttempts as err:
            return _too_many(err)
    command = c.CheckOut(username.lower(), attested_by=how, credential_matched=matched)
    return run(request, services, user, session_id, command, _secret_free(idem, request, how, matched))


# ------------------------------------------------------------------ participants

P = "/sessions/{session_id}/participants/{participant_id}"


@router.post("/sessions/{session_id}/participants", status_code=201)
def add_participant(
    session_id: str,
    body: ParticipantBody,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    import secrets

    participant_id = secrets.token_hex(6)
    command = c.AddParticipant(participant_id, body.display_name, body.chart_id)
    return run_for_participant(request, services, user, session_id, participant_id, command, idem, status=201)


@router.get(P)
def get_participant(
    session_id: str, participant_id: str, request: Request, user: CurrentUser, services: ServicesDep
) -> dict[str, Any]:
    visible_session(services, user, session_id)
    state = services.state(session_id)
    participant = state.participant(participant_id)
    if participant is None:
        raise ApiError(404, "not_found", "There is no such participant in this session.")
    record_chart_access(request, services, user, "chart_view", session_id, [participant_id], "api")
    return participant_view(state, participant, services.policy, services.clock())


@router.put(P + "/screening")
def record_screening(
    session_id: str,
    participant_id: str,
    body: ScreeningBody,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    command = c.RecordScreening(
        participant_id,
        body.contraindications,
        body.bp.sbp,
        body.bp.dbp,
        tuple(body.concomitant_sedatives),
        body.notes,
        body.observed_at,
    )
    return run_for_participant(request, services, user, session_id, participant_id, command, idem)


@router.post(P + "/screening/clear")
def clear_screening(
    session_id: str,
    participant_id: str,
    body: NoteBody,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    command = c.ClearScreening(participant_id, body.note)
    return run_for_participant(request, services, user, session_id, participant_id, command, idem)


@router.put(P + "/consent")
def record_consent(
    session_id: str,
    participant_id: str,
    body: ConsentBody,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    command = c.RecordConsent(
        participant_id,
        tuple(body.touch),
        body.pause_signal,
        body.stop_signal,
        body.music,
        body.eyeshades,
        body.emergency_contact,
        body.transport_plan,
        body.signed_by_participant,
        body.if_stop_requested,
        body.observed_at,
    )
    return run_for_participant(request, services, user, session_id, participant_id, command, idem)


@router.post(P + "/consent/withdraw")
def withdraw_consent(
    session_id: str,
    participant_id: str,
    body: WithdrawBody,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    command = c.WithdrawConsent(participant_id, tuple(body.items))
    return run_for_participant(request, services, user, session_id, participant_id, command, idem)


@router.post(P + "/consent/checkin")
def consent_checkin(
    session_id: str,
    participant_id: str,
    body: CheckinBody,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    command = c.AnswerCheckin(participant_id, body.ok, body.note, body.observed_at)
    return run_for_participant(request, services, user, session_id, participant_id, command, idem)


@router.post(P + "/support")
def assign_support(
    session_id: str,
    participant_id: str,
    body: SupportBody,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    ref = SupportRef(body.kind, body.id.lower() if body.kind == "staff" else body.id)
    command = c.AssignSupport(participant_id, ref)
    return run_for_participant(request, services, user, session_id, participant_id, command, idem)


@router.delete(P + "/support/{support_id}")
def remove_support(
    session_id: str,
    participant_id: str,
    support_id: str,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    command = c.RemoveSupport(participant_id, support_id)
    return run_for_participant(request, services, user, session_id, participant_id, command, idem)


@router.post(P + "/support/handover")
def hand_over(
    session_id: str,
    participant_id: str,
    body: HandoverBody,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    replacement = SupportRef(body.replacement.kind, body.replacement.id)
    command = c.HandOverSupport(participant_id, replacement, body.reason, body.replaces)
    return run_for_participant(request, services, user, session_id, participant_id, command, idem)


@router.post(P + "/dose")
def dose(
    session_id: str,
    participant_id: str,
    body: DoseBody,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    command = c.AdministerDose(participant_id, body.route, body.dose_mg, body.administered_at, body.infusion_minutes)
    return run_for_participant(request, services, user, session_id, participant_id, command, idem)


@router.post(P + "/phase")
def change_phase(
    session_id: str,
    participant_id: str,
    body: PhaseBody,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    command = c.ChangePhase(participant_id, body.to)
    return run_for_participant(request, services, user, session_id, participant_id, command, idem)


@router.post(P + "/pause")
def pause(
    session_id: str,
    participant_id: str,
    body: PauseStopBody,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    command = c.Pause(participant_id, body.requested_by, body.reason, body.participant_response)
    return run_for_participant(request, services, user, session_id, participant_id, command, idem)


@router.post(P + "/resume")
def resume(
    session_id: str,
    participant_id: str,
    body: PauseStopBody,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    command = c.Resume(participant_id, bool(body.participant_wishes_to_continue), body.requested_by, body.reason)
    return run_for_participant(request, services, user, session_id, participant_id, command, idem)


@router.post(P + "/stop")
def stop(
    session_id: str,
    participant_id: str,
    body: PauseStopBody,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    command = c.Stop(participant_id, body.requested_by, body.reason, body.participant_response)
    return run_for_participant(request, services, user, session_id, participant_id, command, idem)


@router.post(P + "/vitals")
def vitals(
    session_id: str,
    participant_id: str,
    body: VitalsBody,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    values = {k: v for k, v in body.model_dump(exclude={"observed_at"}).items() if v is not None}
    command = c.RecordVitals(participant_id, values, body.observed_at)
    return run_for_participant(request, services, user, session_id, participant_id, command, idem)


@router.post(P + "/observations")
def observations(
    session_id: str,
    participant_id: str,
    body: ObservationBody,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    command = c.RecordObservation(
        participant_id,
        body.distress,
        body.moaa_s,
        body.rass,
        body.suds,
        tuple(body.signs),
        body.note,
        tuple(body.parts),
        body.observed_at,
    )
    return run_for_participant(request, services, user, session_id, participant_id, command, idem)


@router.post(P + "/checklist/{item}")
def tick_checklist(
    session_id: str,
    participant_id: str,
    item: str,
    body: ChecklistBody,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    command = c.TickChecklistItem(participant_id, item, body.note, body.observed_at)
    return run_for_participant(request, services, user, session_id, participant_id, command, idem)


@router.post(P + "/discharge")
def discharge(
    session_id: str,
    participant_id: str,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    return run_for_participant(request, services, user, session_id, participant_id, c.Discharge(participant_id), idem)


@router.post(P + "/transfer")
def transfer(
    session_id: str,
    participant_id: str,
    body: TransferBody,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    command = c.Transfer(participant_id, body.reason, body.destination)
    return run_for_participant(request, services, user, session_id, participant_id, command, idem)


@router.post(P + "/amend")
def amend(
    session_id: str,
    participant_id: str,
    body: AmendBody,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    visible_session(services, user, session_id)
    target = services.events(session_id, after=body.event_seq - 1, limit=1)
    target_pid = target[0].participant_id if target and target[0].seq == body.event_seq else None
    command = c.Amend(participant_id, body.event_seq, body.correction, body.reason, target_pid)
    return run_for_participant(request, services, user, session_id, participant_id, command, idem)


@router.post(P + "/step-out")
def step_out(
    session_id: str,
    participant_id: str,
    body: StepOutBody,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    command = c.StepOut(participant_id, body.accompanied_by.lower())
    return run_for_participant(request, services, user, session_id, participant_id, command, idem)


@router.post(P + "/return")
def return_to_room(
    session_id: str,
    participant_id: str,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    return run_for_participant(
        request, services, user, session_id, participant_id, c.ReturnToRoom(participant_id), idem
    )


@router.post(P + "/dedicated-facilitator")
def dedicated_facilitator(
    session_id: str,
    participant_id: str,
    body: DedicatedBody,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    command = c.AssignDedicatedFacilitator(participant_id, body.username.lower())
    return run_for_participant(request, services, user, session_id, participant_id, command, idem)


# ------------------------------------------------------------------ escalations and follow-ups


def _visible_states(services: Services, user: User, live_only: bool) -> list[SessionState]:
    with unit_of_work(services.engine) as db:
        room_ids = [room.id for room in people.rooms_for(db, user)]
    return [services.state(row.id) for row in services.sessions_in_rooms(room_ids, live_only=live_only)]


def _session_of(item_id: str, marker: str) -> str:
    session_id, sep, rest = item_id.rpartition(f"-{marker}")
    if not sep or not session_id or not rest.replace(".", "", 1).isdigit():
        raise ApiError(404, "not_found", "There is no such item.")
    return session_id


Status = Literal["open", "resolved", "closed", "all"]


@router.get("/escalations")
def list_escalations(user: CurrentUser, services: ServicesDep, status: Status = "open") -> list[dict[str, Any]]:
    now = services.clock()
    out = []
    for state in _visible_states(services, user, live_only=status == "open"):
        for escalation in state.escalations.values():
            if status == "all" or (status == "open") == escalation.open:
                out.append(escalation_view(state, escalation, now))
    if status == "open":
        out.extend(step_three_elsewhere(services, user, now))
    return sort_alarms(out)


def _escalation_command(
    request: Request, services: Services, user: User, escalation_id: str, command: c.Command, idem: Any
) -> JSONResponse:
    session_id = _session_of(escalation_id, "e")
    try:
        visible_session(services, user, session_id)
    except ApiError:
        row = services.care_session(session_id)
        escalation = services.state(session_id).escalations.get(escalation_id) if row and row.live_room_id else None
        if escalation is None or not escalation.open or not reaches_beyond_the_room(escalation.step, user.role):
            raise

    def answer(state: SessionState, _events: list[Any]) -> tuple[int, dict[str, Any]]:
        return 200, escalation_view(state, state.escalations[escalation_id], services.clock())

    outcome = services.execute(
        session_id, command, actor_of(user), device=device_of(request), idempotency=idem, answer=answer
    )
    return _respond(outcome)


@router.post("/escalations/{escalation_id}/ack")
def acknowledge(
    escalation_id: str, request: Request, user: CurrentUser, services: ServicesDep, idem: IdempotencyDep
) -> JSONResponse:
    return _escalation_command(request, services, user, escalation_id, c.AcknowledgeEscalation(escalation_id), idem)


@router.post("/escalations/{escalation_id}/resolve")
def resolve(
    escalation_id: str,
    body: ResolveBody,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    command = c.ResolveEscalation(escalation_id, body.action, body.outcome)
    return _escalation_command(request, services, user, escalation_id, command, idem)


@router.post("/escalations/{escalation_id}/mute")
def mute(
    escalation_id: str, request: Request, user: CurrentUser, services: ServicesDep, idem: IdempotencyDep
) -> JSONResponse:
    return _escalation_command(request, services, user, escalation_id, c.MuteAlarm(escalation_id), idem)


@router.get("/followups")
def list_followups(user: CurrentUser, services: ServicesDep, status: Status = "open") -> list[dict[str, Any]]:
    now = services.clock()
    out = []
    if user.role == "admin":
        # The clinic's admins see the follow-ups that are theirs: about a lead's own conduct, or
        # overdue long enough to have climbed past the session's lead.
        states = [services.state(row.id) for row in services.all_sessions()]
    else:
        states = _visible_states(services, user, live_only=False)
    for state in states:
        for followup in state.followups.values():
            if user.role == "admin" and not reached_admins(followup, now, services.policy):
                continue
            if status == "all" or (status == "open") == followup.open:
                out.append(followup_view(state, followup, now, services.policy))
    return sorted(out, key=lambda f: (f["status"] != "open", f["due_at"]))


@router.post("/followups/{followup_id}/close")
def close_followup(
    followup_id: str,
    body: ContactNoteBody,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    session_id = _session_of(followup_id, "f")

    def answer(state: SessionState, _events: list[Any]) -> tuple[int, dict[str, Any]]:
        return 200, followup_view(state, state.followups[followup_id], services.clock(), services.policy)

    command = c.CloseFollowup(followup_id, body.contact_note)
    if user.role == "admin":
        # An admin closes only a follow-up that is theirs (the domain says which); others stay hidden.
        followup = services.state(session_id).followups.get(followup_id) if services.care_session(session_id) else None
        if followup is None or not reached_admins(followup, services.clock(), services.policy):
            raise ApiError(404, "not_found", "There is no such item.")
        outcome = services.execute(
            session_id, command, actor_of(user), device=device_of(request), idempotency=idem, answer=answer
        )
        return _respond(outcome)
    return run(request, services, user, session_id, command, idem, answer)


@router.post(P + "/notes", status_code=201)
def record_note(
    session_id: str,
    participant_id: str,
    body: SessionNoteBody,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    command = c.RecordNote(participant_id, body.kind, body.text, tuple(body.parts), body.somatic, body.observed_at)
    return run_for_participant(request, services, user, session_id, participant_id, command, idem, status=201)
