"""The clock: what the passing of time records (missed check-ins, alarms that climb, vitals due),
and when that next happens."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from .. import commands as c
from ..escalation import escalation_deadlines, tick_escalations, tick_vitals_due
from ..events import ConsentCheckinMissed
from ..model import SessionState
from ..policy import Policy
from .base import Decision


def _tick(state: SessionState, cmd: c.Tick, ev: Decision) -> None:
    policy = ev.ctx.policy
    grace = timedelta(minutes=policy.checkin_grace_minutes)
    interval = timedelta(minutes=policy.checkin_interval_minutes)
    for p in state.participants.values():
        due = p.checkin_due_at
        if not p.altered or due is None:
            continue
        missed = 0
        while due + grace <= ev.ctx.now and missed < 50:
            next_due = due + interval
            ev.add(ConsentCheckinMissed(due_at=due, next_due_at=next_due), p.id, actor="system")
            due = next_due
            missed += 1
    tick_escalations(ev)
    tick_vitals_due(ev)


def next_deadline(state: SessionState, policy: Policy) -> datetime | None:
    """The earliest moment at which a Tick would yield something, or None."""
    grace = timedelta(minutes=policy.checkin_grace_minutes)
    deadlines = [p.checkin_due_at + grace for p in state.participants.values() if p.altered and p.checkin_due_at]
    deadlines += escalation_deadlines(state)
    return min(deadlines) if deadlines else None


HANDLERS: dict[type, Callable[[SessionState, Any, Decision], None]] = {
    c.Tick: _tick,
}
