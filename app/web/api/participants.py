"""A participant's care, one route per command: screening, agreement, support, dose, phases, vitals,
observations, checklist, leaving, amendments and notes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.domain import SupportRef
from app.domain import commands as c
from app.web.deps import CurrentUser, IdempotencyDep, ServicesDep, record_chart_access, visible_session
from app.web.errors import ApiError
from app.web.views import participant_view

from .bodies import (
    AmendBody,
    CheckinBody,
    ChecklistBody,
    ConsentBody,
    DedicatedBody,
    DoseBody,
    HandoverBody,
    NoteBody,
    ObservationBody,
    ParticipantBody,
    PauseStopBody,
    PhaseBody,
    ScreeningBody,
    SessionNoteBody,
    StepOutBody,
    SupportBody,
    TransferBody,
    VitalsBody,
    WithdrawBody,
)
from .running import PREFIX, run_for_participant

router = APIRouter(prefix=PREFIX)

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
