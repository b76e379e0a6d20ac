"""The rules: from the current state, a command, the time and the clinic policy, decide which
events follow, or refuse with a RuleViolation. Every invariant of PRODUCT.md lives in the domain;
each command's rule is in the module of `app.domain.rules` for its concern."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from . import commands as c
from .errors import RuleViolation
from .events import CommandRefused, FollowupItem
from .model import Event, SessionState
from .rules import clock, discharge, dosing, escalations, journey, notes, observations, room, support
from .rules.base import Context, Decision, refuse, time_window
from .rules.clock import next_deadline
from .rules.dosing import Gate, consent_missing, dose_gates_unmet
from .rules.escalations import repair_owner
from .rules.support import support_available
from .vocabulary import WITHDRAWABLE

__all__ = [
    "WITHDRAWABLE",
    "Context",
    "Gate",
    "consent_missing",
    "decide",
    "dose_gates_unmet",
    "next_deadline",
    "refusal",
    "repair_owner",
    "support_available",
    "time_window",
]

_HANDLERS: dict[type, Callable[[SessionState, Any, Decision], None]] = {
    **room.HANDLERS,
    **dosing.HANDLERS,
    **support.HANDLERS,
    **journey.HANDLERS,
    **observations.HANDLERS,
    **discharge.HANDLERS,
    **notes.HANDLERS,
    **escalations.HANDLERS,
    **clock.HANDLERS,
}

# Commands the session accepts once it is closed (withdrawing consent is always accepted).
_AFTER_CLOSE = (c.WithdrawConsent, c.Tick, c.Amend, c.CloseFollowup, c.RecordNote, c.OpenFollowup, c.MarkAlarmsSeen)
# What the clinic's admins may do on a session's record: open a follow-up and close one that is theirs.
_ADMIN_COMMANDS = (c.Tick, c.OpenFollowup, c.CloseFollowup)


def decide(state: SessionState, command: c.Command, ctx: Context) -> list[Event]:
    """The events that follow from `command`, or a RuleViolation / InvalidInput saying why not."""
    if not isinstance(command, c.OpenSession):
        if not state.opened:
            raise refuse("not_found", "There is no such session.")
        if state.closed_at is not None and not isinstance(command, _AFTER_CLOSE):
            raise refuse("session_closed", "This session is closed; its record can no longer change.")
    if ctx.actor.role == "admin" and not isinstance(command, _ADMIN_COMMANDS):
        raise refuse("forbidden", "Admins manage users and rooms, not clinical records.")
    ev = Decision(state, ctx)
    _HANDLERS[type(command)](state, command, ev)
    return ev.items


def refusal(state: SessionState, command: c.Command, violation: RuleViolation, ctx: Context) -> list[Event]:
    """The record of a refused attempt: who tried what, and which rule said no. An attempt to
    break a dyad lock also opens a follow-up item, so it reaches someone who must answer it."""
    ev = Decision(state, ctx)
    participant_id = command.target if command.target in state.participants else None
    followups: tuple[FollowupItem, ...] = ()
    if violation.code == "dyad_locked":
        # The follow-ups are part of this one record (so a refusal still appends a single event):
        # one per journeyer whose support was at stake.
        affected = list(violation.details.get("participants") or ([participant_id] if participant_id else []))
        due = ctx.now + timedelta(hours=ctx.policy.followup_due_hours)
        reason = f"Attempt to break a dyad lock by {ctx.actor.username}: {violation.message}"
        followups = tuple(
            FollowupItem(participant_id=pid, reason=reason, owner=repair_owner(state, ctx.actor.username), due_at=due)
            for pid in affected
        )
    refused = CommandRefused(
        command=command.name,
        code=violation.code,
        message=violation.message,
        attempt=command.summary(),
        followups=followups,
    )
    ev.add(refused, participant_id)
    return ev.items
