"""What staff see: vitals and observations, and the alarms they raise."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from .. import commands as c
from ..errors import InvalidInput
from ..escalation import next_vitals_due, observation_alarms, raise_alarm, vitals_alarm
from ..events import EscalationResolved, ObservationRecorded, VitalsRecorded
from ..model import SessionState, entered_late
from ..vocabulary import PROTECTIVE_PARTS, SCALE_RANGES, VITAL_RANGES
from .base import Decision, active_participant, client_time


def _record_vitals(state: SessionState, cmd: c.RecordVitals, ev: Decision) -> None:
    p = active_participant(state, cmd.participant_id)
    if not cmd.vitals:
        raise InvalidInput("Record at least one vital sign.", {"field": "vitals"})
    for name, value in cmd.vitals.items():
        if name not in VITAL_RANGES:
            raise InvalidInput(f"Unknown vital sign {name!r}.", {"field": name})
        low, high = VITAL_RANGES[name]
        if not low <= value <= high:
            raise InvalidInput(f"{name} must be between {low} and {high}.", {"field": name})
    observed = client_time(cmd.observed_at, state, ev.ctx, "observed_at")
    next_due: datetime | None = None
    if p.altered and p.dosed_at is not None and p.dose is not None:
        next_due = next_vitals_due(p.dosed_at, p.dose.infusion_minutes, observed, ev.ctx.policy)
        if p.vitals_due_at is not None and next_due <= p.vitals_due_at:
            next_due = None
    ev.add(
        VitalsRecorded(
            vitals=dict(cmd.vitals),
            observed_at=observed,
            late=entered_late(observed, ev.ctx.now),
            next_vitals_due_at=next_due,
        ),
        p.id,
    )
    reminder = state.open_escalation(p.id, "vitals_due")
    if reminder is not None:
        ev.add(
            EscalationResolved(
                escalation_id=reminder.id,
                action="Vitals recorded",
                outcome=_vitals_text(cmd.vitals),
                automatic=True,
            ),
            p.id,
        )
    alarm = vitals_alarm(cmd.vitals, ev.ctx.policy)
    if alarm is not None:
        raise_alarm(ev, p, alarm, state.open_escalation(p.id, alarm.condition))


def _vitals_text(vitals: Any) -> str:
    return ", ".join(f"{name.upper()} {value:g}" for name, value in vitals.items())


def _record_observation(state: SessionState, cmd: c.RecordObservation, ev: Decision) -> None:
    p = active_participant(state, cmd.participant_id)
    scales = {"distress": cmd.distress, "moaa_s": cmd.moaa_s, "rass": cmd.rass, "suds": cmd.suds}
    for name, value in scales.items():
        if value is None:
            continue
        low, high = SCALE_RANGES[name]
        if not low <= value <= high:
            raise InvalidInput(f"{name} must be between {low} and {high}.", {"field": name})
    unknown_parts = [x for x in cmd.parts if x not in PROTECTIVE_PARTS]
    if unknown_parts:
        raise InvalidInput(f"parts are some of {', '.join(PROTECTIVE_PARTS)}.", {"field": "parts"})
    if all(v is None for v in scales.values()) and not cmd.note.strip() and not cmd.signs and not cmd.parts:
        raise InvalidInput("An observation needs a scale, a sign, a part or a note.", {"field": "note"})
    observed = client_time(cmd.observed_at, state, ev.ctx, "observed_at")
    ev.add(
        ObservationRecorded(
            distress=cmd.distress,
            moaa_s=cmd.moaa_s,
            rass=cmd.rass,
            suds=cmd.suds,
            signs=tuple(cmd.signs),
            note=cmd.note.strip(),
            parts=tuple(cmd.parts),
            observed_at=observed,
            late=entered_late(observed, ev.ctx.now),
        ),
        p.id,
    )
    for alarm in observation_alarms(scales):
        raise_alarm(ev, p, alarm, state.open_escalation(p.id, alarm.condition))


HANDLERS: dict[type, Callable[[SessionState, Any, Decision], None]] = {
    c.RecordVitals: _record_vitals,
    c.RecordObservation: _record_observation,
}
