"""The fold: a session's state derived from its events, one event at a time.

`evolve(state, event)` returns a new state and shares the unchanged parts with the old one, so a
cached state can be handed to many readers safely; the given state is never changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from .events import (
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
    EscalationSeen,
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
    PhaseChanged,
    Resumed,
    ScreeningCleared,
    ScreeningRecorded,
    SessionClosed,
    SessionOpened,
    Stopped,
    SupportAssigned,
    SupportHandedOver,
    SupportRemoved,
    Transferred,
    VitalsRecorded,
)
from .model import (
    AmendmentEntry,
    ChecklistTick,
    Escalation,
    Event,
    Followup,
    NoteEntry,
    ParticipantState,
    Phase,
    Reading,
    Refusal,
    SessionState,
    Sighting,
)


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
                opened_by=event.actor,
                account=opened_followup.account,
                concerns_lead=opened_followup.concerns_lead,
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
    if isinstance(payload, EscalationSeen):
        # Who saw it is not a step of the alarm: it stays out of the alarm's history.
        escalations[eid] = replace(current, seen=current.seen + (Sighting(event.actor, event.at, event.device),))
        return replace(state, escalations=escalations)
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
