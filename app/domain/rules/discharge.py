"""Leaving: the grounding checklist and discharge (invariant 6), or a transfer to emergency care."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import commands as c
from ..checklist import evaluate_checklist, missing_items
from ..errors import InvalidInput
from ..events import ChecklistItemTicked, Discharged, ItemResult, Transferred
from ..model import Phase, SessionState, entered_late
from ..policy import AUTO_CHECKLIST_KEYS
from ..vocabulary import TEXT_LIMITS
from .base import Decision, active_participant, check_move, client_time, refuse, required_text
from .support import dyad_locked, locked_dependants


def _tick_checklist(state: SessionState, cmd: c.TickChecklistItem, ev: Decision) -> None:
    p = active_participant(state, cmd.participant_id)
    items = {item.key: item for item in ev.ctx.policy.checklist}
    if cmd.item not in items:
        raise refuse("not_found", f"There is no checklist item {cmd.item!r}.", item=cmd.item)
    if cmd.item in AUTO_CHECKLIST_KEYS:
        raise InvalidInput(f"'{items[cmd.item].label}' is decided by the record, not ticked.", {"field": "item"})
    if not p.altered:
        raise refuse("invalid_transition", "The grounding checklist applies after the dose.")
    observed = client_time(cmd.observed_at, state, ev.ctx, "observed_at")
    late_entry: dict[str, Any] = {}
    if cmd.observed_at is not None:
        late_entry = {"observed_at": observed, "late": entered_late(observed, ev.ctx.now)}
    ev.add(ChecklistItemTicked(item=cmd.item, note=cmd.note.strip(), **late_entry), p.id)


def _discharge(state: SessionState, cmd: c.Discharge, ev: Decision) -> None:
    p = active_participant(state, cmd.participant_id)
    check_move(p, Phase.DISCHARGED)
    if locked_dependants(state, p.id):
        raise dyad_locked(state, p.id, p.display_name)
    open_alarms = [e for e in state.open_escalations if e.participant_id == p.id]
    if open_alarms:
        raise refuse(
            "escalations_open",
            f"{p.display_name} has an open escalation ({open_alarms[0].reason}); resolve it with what was done first.",
            escalations=[e.id for e in open_alarms],
        )
    checklist: tuple[ItemResult, ...] | None = None
    if p.dosed_at is not None:
        results = evaluate_checklist(p, ev.ctx.policy, ev.ctx.now)
        missing = missing_items(results)
        if missing:
            labels = [r.label for r in results if r.key in missing]
            raise refuse(
                "checklist_incomplete",
                f"{p.display_name} cannot leave yet. Still missing: " + "; ".join(labels) + ".",
                missing=missing,
            )
        checklist = tuple(results)
    ev.add(Discharged(from_=p.phase.value, checklist=checklist), p.id)


def _transfer(state: SessionState, cmd: c.Transfer, ev: Decision) -> None:
    p = active_participant(state, cmd.participant_id)
    reason = required_text(cmd.reason, "reason", TEXT_LIMITS["reason"])
    destination = required_text(cmd.destination, "destination", TEXT_LIMITS["destination"])
    check_move(p, Phase.TRANSFERRED)
    if locked_dependants(state, p.id):
        raise dyad_locked(state, p.id, p.display_name)
    ev.add(Transferred(from_=p.phase.value, reason=reason, destination=destination), p.id)


HANDLERS: dict[type, Callable[[SessionState, Any, Decision], None]] = {
    c.TickChecklistItem: _tick_checklist,
    c.Discharge: _discharge,
    c.Transfer: _transfer,
}
