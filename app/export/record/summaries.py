"""One line in words for each event on the timeline."""

from __future__ import annotations

from collections.abc import Mapping

from app.domain import ALTERED_PHASES, Event
from app.domain import events as ev
from app.domain.checklist import missing_items
from app.domain.events import SupportRef

from .formatting import at_text, fmt, scales_text, vitals_text, words
from .snapshot import PARTNER


def support_label(ref: SupportRef | None) -> str:
    if ref is None:
        return "-"
    if ref.kind == "participant":
        return PARTNER
    return ref.id


def person(value: str, others: Mapping[str, str]) -> str:
    """A support person named by id: staff by username, another participant by role."""
    return others.get(value, value)


def discharge_summary(discharged: ev.Discharged) -> str:
    """A discharge, in what it was: leaving before any dose, or leaving after grounding (with the
    checklist as the domain evaluated it at the time)."""
    phase = discharged.from_
    if not discharged.checklist:
        if phase in {ph.value for ph in ALTERED_PHASES}:
            return f"Discharged from {words(phase)} (no grounding checklist on the record)"
        return f"Left before dosing (discharged from {words(phase or 'the session')})"
    missing = missing_items(list(discharged.checklist))
    if missing:
        return "Discharged after grounding; checklist at discharge missing: " + ", ".join(words(m) for m in missing)
    return "Discharged after grounding (grounding checklist complete)"


def summarize(event: Event, others: Mapping[str, str] | None = None) -> str:
    """One line of plain words for an event. `others` maps other participants' ids to their role
    in this record; a structured reference to one of them is said by that role, never by id."""
    others = others or {}
    match event.payload:
        case ev.SessionOpened() as d:
            return f"Session opened ({words(d.kind)}), lead {d.lead}, facilitators " + (
                ", ".join(d.facilitators) or "none"
            )
        case ev.SessionClosed():
            return "Session closed"
        case ev.FacilitatorCheckedIn() as d:
            return f"{d.username} ({d.role}) checked in to the room"
        case ev.FacilitatorCheckedOut() as d:
            return f"{d.username} checked out of the room"
        case ev.CommandRefused() as d:
            return f"Refused: {words(d.command)} ({d.code}): {d.message}"
        case ev.ParticipantAdded() as d:
            return f"Arrived: {d.display_name} (chart {d.chart_id})"
        case ev.ScreeningRecorded() as d:
            flags = ", ".join(d.flags) or "none"
            sedatives = ", ".join(d.concomitant_sedatives) or "none"
            return f"Screening: BP {d.bp.sbp}/{d.bp.dbp} mmHg; flags: {flags}; concomitant sedatives: {sedatives}"
        case ev.ScreeningCleared() as d:
            return f"Screening cleared by prescriber: {d.note}"
        case ev.ConsentRecorded() as d:
            touch = ", ".join(d.agreement.touch) or "none"
            return f"Pre-session agreement signed (touch: {touch}), attested by {d.attested_by}"
        case ev.ConsentWithdrawn() as d:
            return "Consent withdrawn: " + ", ".join(d.items)
        case ev.ConsentCheckinAnswered() as d:
            answer = "all right to continue" if d.ok else "NOT all right"
            note = f": {d.note}" if d.note else ""
            return f"Consent check-in answered, {answer}{note}"
        case ev.ConsentCheckinMissed() as d:
            return f"Consent check-in due {at_text(d.due_at)} missed"
        case ev.SupportAssigned() as d:
            return f"Support person assigned: {support_label(d.support)}"
        case ev.SupportRemoved() as d:
            return f"Support person removed: {person(d.support_id, others)}"
        case ev.SupportHandedOver() as d:
            return f"Emergency handover of support to {support_label(d.replacement)}: {d.reason}"
        case ev.DoseAdministered() as d:
            return (
                f"Ketamine {fmt(d.dose_mg)} mg {d.route} administered at {at_text(d.administered_at)} "
                f"(prescriber {d.prescriber})"
            )
        case ev.PhaseChanged() as d:
            return f"Phase: {words(d.from_)} to {words(d.to)}"
        case ev.Paused() as d:
            reason = f": {d.reason}" if d.reason else ""
            return f"Paused at the {d.requested_by}'s request{reason}"
        case ev.Resumed() as d:
            return f"Resumed ({words(d.to)}) at the participant's wish to continue"
        case ev.Stopped() as d:
            reason = f": {d.reason}" if d.reason else ""
            return f"Stopped at the {d.requested_by}'s request{reason}"
        case ev.PauseOrStopDeclined() as d:
            return f"Staff proposed a {d.proposal}; the participant declined"
        case ev.VitalsRecorded() as d:
            return "Vitals: " + vitals_text(d.vitals)
        case ev.ObservationRecorded() as d:
            parts = [scales_text(d.scales)]
            if d.signs:
                parts.append("signs: " + ", ".join(d.signs))
            if d.parts:
                parts.append("parts: " + ", ".join(d.parts))
            if d.note:
                parts.append(d.note)
            return "Observation: " + "; ".join(p for p in parts if p)
        case ev.ChecklistItemTicked() as d:
            note = f" ({d.note})" if d.note else ""
            return f"Checklist: {words(d.item)} done{note}"
        case ev.NoteRecorded() as d:
            return f"{(d.kind or 'note').capitalize()} note: {d.text}"
        case ev.Amended() as d:
            return f"Amends entry {d.event_seq}: {d.correction} (reason: {d.reason})"
        case ev.DedicatedFacilitatorAssigned() as d:
            return f"Dedicated facilitator: {d.username}"
        case ev.ParticipantSteppedOut() as d:
            return f"Stepped out of the room with {d.accompanied_by}"
        case ev.ParticipantReturned() as d:
            return f"Returned to the room with {d.accompanied_by}"
        case ev.Discharged() as d:
            return discharge_summary(d)
        case ev.Transferred() as d:
            return f"Transferred to {d.destination}: {d.reason}"
        case ev.EscalationRaised() as d:
            return f"Escalation raised ({d.priority}, step {d.step}): {d.reason}"
        case ev.EscalationUpdated() as d:
            return f"Escalation raised to {d.priority} (step {d.step}): {d.reason}"
        case ev.EscalationClimbed() as d:
            return f"Escalation climbed to step {d.step} (not acknowledged in time)"
        case ev.EscalationResounded():
            return "Escalation sounded again (not acknowledged)"
        case ev.EscalationAcknowledged() as d:
            return f"Escalation acknowledged at step {d.step}"
        case ev.EscalationResolved() as d:
            return f"Escalation resolved. Action: {d.action}. Outcome: {d.outcome}"
        case ev.AlarmMuted() as d:
            return f"Alarm muted until {at_text(d.until)}"
        case ev.FollowupOpened() as d:
            return f"Follow-up opened for {d.owner}, due {at_text(d.due_at)}: {d.reason}"
        case ev.FollowupClosed() as d:
            return f"Follow-up closed: {d.contact_note}"
        case ev.EscalationSeen():
            return "Alarm on a visible screen (first time for this person)"
    shown = ", ".join(f"{k} {v}" for k, v in event.data.items() if isinstance(v, (str, int, float, bool)))
    return words(event.kind).capitalize() + (f": {shown}" if shown else "")
