"""The journey: phases, the participant's own pause and stop (invariant 3), and consent check-ins."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from .. import commands as c
from ..errors import InvalidInput
from ..escalation import open_followup
from ..events import ConsentCheckinAnswered, Paused, PauseOrStopDeclined, PhaseChanged, Resumed, Stopped
from ..model import ParticipantState, Phase, SessionState, entered_late
from ..vocabulary import FORWARD_PHASES, PARTICIPANT_RESPONSES, REQUESTERS
from .base import Decision, active_participant, check_move, client_time, refuse


def _change_phase(state: SessionState, cmd: c.ChangePhase, ev: Decision) -> None:
    p = active_participant(state, cmd.participant_id)
    if cmd.to not in FORWARD_PHASES:
        raise InvalidInput(
            f"to must be one of {', '.join(FORWARD_PHASES)}; other moves have their own commands.", {"field": "to"}
        )
    check_move(p, Phase(cmd.to))
    ev.add(PhaseChanged(from_=p.phase.value, to=cmd.to), p.id)


def _requester(value: str, response: str | None) -> None:
    if value not in REQUESTERS:
        raise InvalidInput("requested_by is participant or staff.", {"field": "requested_by"})
    if value == "staff" and response not in PARTICIPANT_RESPONSES:
        raise InvalidInput(
            "A pause or stop that staff propose needs the participant's answer: "
            f"participant_response is one of {', '.join(PARTICIPANT_RESPONSES)}.",
            {"field": "participant_response"},
        )


def _proposal_answer(cmd: c.Pause | c.Stop) -> tuple[str | None, str]:
    """The participant's answer to a pause or stop staff proposed (None when they asked), and the reason."""
    return (cmd.participant_response if cmd.requested_by == "staff" else None), cmd.reason.strip()


def _record_declined(ev: Decision, p: ParticipantState, requested_by: str, proposal: str, reason: str) -> None:
    """The participant declined what staff proposed: recorded, and nothing else changes."""
    ev.add(
        PauseOrStopDeclined(
            from_=p.phase.value,
            requested_by=requested_by,
            proposal=proposal,
            reason=reason,
            participant_response="declines",
        ),
        p.id,
    )


def _pause(state: SessionState, cmd: c.Pause, ev: Decision) -> None:
    p = active_participant(state, cmd.participant_id)
    _requester(cmd.requested_by, cmd.participant_response)
    check_move(p, Phase.PAUSED)
    response, reason = _proposal_answer(cmd)
    if response == "declines":
        _record_declined(ev, p, cmd.requested_by, "pause", reason)
        return
    ev.add(
        Paused(from_=p.phase.value, requested_by=cmd.requested_by, reason=reason, participant_response=response), p.id
    )


def _resume(state: SessionState, cmd: c.Resume, ev: Decision) -> None:
    p = active_participant(state, cmd.participant_id)
    if p.phase is not Phase.PAUSED or p.paused_from is None:
        raise refuse("invalid_transition", f"{p.display_name} is not paused.", current=p.phase.value)
    if not cmd.participant_wishes_to_continue:
        raise refuse(
            "wish_to_continue_required",
            f"Resuming needs {p.display_name}'s own recorded wish to continue. If they do not wish to continue, "
            "record a stop instead.",
        )
    ev.add(Resumed(to=p.paused_from.value, participant_wishes_to_continue=True, reason=cmd.reason.strip()), p.id)


def _stop(state: SessionState, cmd: c.Stop, ev: Decision) -> None:
    p = active_participant(state, cmd.participant_id)
    _requester(cmd.requested_by, cmd.participant_response)
    check_move(p, Phase.STOPPED)
    response, reason = _proposal_answer(cmd)
    if response == "declines":
        _record_declined(ev, p, cmd.requested_by, "stop", reason)
        return
    ev.add(
        Stopped(from_=p.phase.value, requested_by=cmd.requested_by, reason=reason, participant_response=response), p.id
    )
    who = "they asked" if cmd.requested_by == "participant" else "staff proposed it"
    open_followup(ev, p.id, f"{p.display_name} stopped the medicine phase ({who})", ev.next_seq() - 1)


def _answer_checkin(state: SessionState, cmd: c.AnswerCheckin, ev: Decision) -> None:
    p = active_participant(state, cmd.participant_id)
    if not p.altered:
        raise refuse("invalid_transition", "Consent check-ins happen from the dose until discharge.")
    observed = client_time(cmd.observed_at, state, ev.ctx, "observed_at")
    due = ev.ctx.now + timedelta(minutes=ev.ctx.policy.checkin_interval_minutes)
    late_entry: dict[str, Any] = {}
    if cmd.observed_at is not None:
        # Answered on a tablet that was offline: when it was asked is kept beside when it arrived.
        late_entry = {"observed_at": observed, "late": entered_late(observed, ev.ctx.now)}
    ev.add(
        ConsentCheckinAnswered(
            ok=cmd.ok, note=cmd.note.strip(), due_at=p.checkin_due_at, next_due_at=due, **late_entry
        ),
        p.id,
    )


HANDLERS: dict[type, Callable[[SessionState, Any, Decision], None]] = {
    c.ChangePhase: _change_phase,
    c.Pause: _pause,
    c.Resume: _resume,
    c.Stop: _stop,
    c.AnswerCheckin: _answer_checkin,
}
