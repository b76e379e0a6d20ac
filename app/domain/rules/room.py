"""The session and the room: opening and closing, who is checked in (invariant 4: presence is
real, the last facilitator stays), who is a participant, and leaving the room accompanied."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import commands as c
from ..errors import InvalidInput
from ..events import (
    FacilitatorCheckedIn,
    FacilitatorCheckedOut,
    ParticipantAdded,
    ParticipantReturned,
    ParticipantSteppedOut,
    SessionClosed,
    SessionOpened,
)
from ..model import SessionState
from ..vocabulary import SESSION_KINDS, TEXT_LIMITS
from .base import Decision, active_participant, refuse, required_text
from .support import dyad_locked, locked_dependants


def _open_session(state: SessionState, cmd: c.OpenSession, ev: Decision) -> None:
    if state.opened:
        raise refuse("invalid_transition", "This session is already open.")
    if cmd.kind not in SESSION_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(SESSION_KINDS)}.", {"field": "kind"})
    if not cmd.lead:
        raise InvalidInput("A session needs a lead.", {"field": "lead"})
    ev.add(
        SessionOpened(
            room_id=cmd.room_id, kind=cmd.kind, facilitators=tuple(dict.fromkeys(cmd.facilitators)), lead=cmd.lead
        )
    )


def _close_session(state: SessionState, cmd: c.CloseSession, ev: Decision) -> None:
    active = state.active_participants
    if active:
        raise refuse(
            "participants_active",
            "The session can close only when every participant has been discharged or transferred.",
            participants=[p.id for p in active],
        )
    if state.open_escalations:
        raise refuse(
            "escalations_open",
            "The session can close only when every escalation has been resolved with what was done.",
            escalations=[e.id for e in state.open_escalations],
        )
    ev.add(SessionClosed())


def _attested_by_themselves(
    username: str, attested_by: str, credential_matched: bool, ev: Decision, *, leaving: bool = False
) -> bool:
    """Whether `username` showed it is them (invariant 4: presence is real). A wrong PIN or password
    is refused; a sign-in that is someone else's is not their attestation (False)."""
    if attested_by not in c.ATTESTATIONS:
        raise InvalidInput(f"attested_by must be one of {', '.join(c.ATTESTATIONS)}.", {"field": "attested_by"})
    if attested_by == "sign_in":
        return ev.ctx.actor.username == username
    if not credential_matched:
        what = "PIN" if attested_by == "pin" else "password"
        raise refuse(
            f"wrong_{attested_by}",
            f"That {what} is not {username}'s; nobody was checked {'out' if leaving else 'in'}.",
            username=username,
        )
    return True


def _check_in(state: SessionState, cmd: c.CheckIn, ev: Decision) -> None:
    # Invariant 4: each person checks themselves in; nobody checks in someone else.
    if not _attested_by_themselves(cmd.username, cmd.attested_by, cmd.credential_matched, ev):
        raise refuse(
            "presence_not_attested",
            f"Only {cmd.username} can check themselves in: from their own sign-in, or with their own PIN "
            "or password on this tablet.",
            username=cmd.username,
        )
    if cmd.username in state.present and cmd.username not in state.unattested:
        raise refuse("already_checked_in", f"{cmd.username} is already checked in.")
    ev.add(FacilitatorCheckedIn(username=cmd.username, role=cmd.role, attested_by=cmd.attested_by))


def _check_out(state: SessionState, cmd: c.CheckOut, ev: Decision) -> None:
    if cmd.username not in state.present:
        raise refuse("not_checked_in", f"{cmd.username} is not checked in to this room.")
    attested_by = cmd.attested_by
    if not _attested_by_themselves(cmd.username, cmd.attested_by, cmd.credential_matched, ev, leaving=True):
        # Someone else records that a person has left (they went without checking out): only a
        # colleague who is checked in here and in the room, since it is they who see the room.
        if ev.ctx.actor.username not in state.covering_present:
            raise refuse(
                "presence_not_attested",
                f"Only {cmd.username} can check themselves out, or a facilitator checked in to this room "
                f"can record that {cmd.username} has left.",
                username=cmd.username,
            )
        attested_by = "colleague"
    if cmd.username in state.escorting:
        raise refuse(
            "unaccompanied",
            f"{cmd.username} is accompanying a participant outside the room; they come back together first.",
            username=cmd.username,
        )
    covering_left = [u for u in state.covering_present if u != cmd.username]
    if state.altered_in_room and not covering_left:
        raise refuse(
            "room_uncovered",
            f"{cmd.username} is the last facilitator in a room where someone is in an altered phase. "
            "Another facilitator must check in first.",
            username=cmd.username,
        )
    if locked_dependants(state, cmd.username):
        raise dyad_locked(state, cmd.username, cmd.username)
    ev.add(FacilitatorCheckedOut(username=cmd.username, attested_by=attested_by))


def _add_participant(state: SessionState, cmd: c.AddParticipant, ev: Decision) -> None:
    name = required_text(cmd.display_name, "display_name", TEXT_LIMITS["display_name"])
    chart_id = required_text(cmd.chart_id, "chart_id", TEXT_LIMITS["chart_id"])
    if cmd.participant_id in state.participants:
        raise refuse("already_exists", "That participant is already in this session.")
    if any(p.chart_id == chart_id for p in state.participants.values()):
        raise refuse("already_exists", f"Chart {chart_id} is already in this session.", chart_id=chart_id)
    ev.add(ParticipantAdded(id=cmd.participant_id, display_name=name, chart_id=chart_id), cmd.participant_id)


def _step_out(state: SessionState, cmd: c.StepOut, ev: Decision) -> None:
    p = active_participant(state, cmd.participant_id)
    if p.away_with is not None:
        raise refuse("invalid_transition", f"{p.display_name} is already out of the room with {p.away_with}.")
    if cmd.accompanied_by not in state.covering_present:
        raise refuse(
            "unaccompanied",
            f"{p.display_name} leaves the room only accompanied by a facilitator who is checked in here.",
            accompanied_by=cmd.accompanied_by,
        )
    others_altered = any(q.altered and q.away_with is None and q.id != p.id for q in state.participants.values())
    if others_altered and len(state.covering_present) < 2:
        raise refuse(
            "room_uncovered",
            f"{cmd.accompanied_by} is the last facilitator in the room and others are in an altered phase. "
            f"Another facilitator must check in before they leave with {p.display_name}.",
            accompanied_by=cmd.accompanied_by,
        )
    ev.add(ParticipantSteppedOut(accompanied_by=cmd.accompanied_by), p.id)


def _return_to_room(state: SessionState, cmd: c.ReturnToRoom, ev: Decision) -> None:
    p = active_participant(state, cmd.participant_id)
    if p.away_with is None:
        raise refuse("invalid_transition", f"{p.display_name} is in the room.")
    ev.add(ParticipantReturned(accompanied_by=p.away_with), p.id)


HANDLERS: dict[type, Callable[[SessionState, Any, Decision], None]] = {
    c.OpenSession: _open_session,
    c.CloseSession: _close_session,
    c.CheckIn: _check_in,
    c.CheckOut: _check_out,
    c.AddParticipant: _add_participant,
    c.StepOut: _step_out,
    c.ReturnToRoom: _return_to_room,
}
