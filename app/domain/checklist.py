"""The grounding checklist: items the record decides, and items a person ticks."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from .escalation import vitals_alarms
from .events import ItemResult
from .model import ParticipantState
from .policy import AUTO_CHECKLIST_KEYS, Policy

VITALS_FOR_DISCHARGE = ("sbp", "dbp", "hr", "spo2")


def earliest_discharge(p: ParticipantState, policy: Policy) -> datetime | None:
    """When the minimum observation time after the dose will have passed."""
    if p.dosed_at is None or p.dose is None:
        return None
    minutes = policy.observation_minutes.for_route(p.dose.route)
    return p.dosed_at + timedelta(minutes=minutes)


def vitals_out_of_range(values: Mapping[str, float], policy: Policy) -> list[str]:
    """Which of the given vitals would raise an alarm (medium or high) under the policy."""
    return list(vitals_alarms(values, policy))


def _auto(key: str, p: ParticipantState, policy: Policy, now: datetime) -> tuple[bool, str]:
    if key == "observation_time":
        ready = earliest_discharge(p, policy)
        if ready is None:
            return False, "no dose recorded"
        shown = ready.astimezone(policy.time_zone)
        if now >= ready:
            return True, f"since {shown:%H:%M}"
        left = int((ready - now).total_seconds() // 60) + 1
        return False, f"{left} min to go (at {shown:%H:%M})"
    if key == "vitals_in_range":
        window = timedelta(minutes=policy.vitals_interval_minutes)
        stale = [v for v in VITALS_FOR_DISCHARGE if v not in p.vitals or now - p.vitals[v].observed_at > window]
        if stale:
            return False, "needs " + ", ".join(stale).upper() + f" from the last {policy.vitals_interval_minutes} min"
        out = vitals_out_of_range({k: p.vitals[k].value for k in VITALS_FOR_DISCHARGE}, policy)
        if out:
            return False, "out of range: " + ", ".join(out).upper()
        return True, "recent and in range"
    if key == "sedation_clear":
        moaa_s, rass = p.scales.get("moaa_s"), p.scales.get("rass")
        if moaa_s is None or rass is None:
            return False, "needs MOAA/S and RASS"
        ok = moaa_s.value == 5 and rass.value == 0
        rass_text = f"{int(rass.value):+d}" if rass.value else "0"
        return ok, f"MOAA/S {int(moaa_s.value)}, RASS {rass_text}"
    if key == "distress_settled":
        distress = p.distress
        if distress is None:
            return False, "no distress level recorded"
        return distress <= 1, f"distress {distress}"
    raise KeyError(key)


def evaluate_checklist(p: ParticipantState, policy: Policy, now: datetime) -> list[ItemResult]:
    results = []
    for item in policy.checklist:
        if item.key in AUTO_CHECKLIST_KEYS:
            done, detail = _auto(item.key, p, policy, now)
            results.append(ItemResult(item.key, item.label, item.required, done, True, detail))
            continue
        tick = p.checklist_ticks.get(item.key)
        results.append(
            ItemResult(
                item.key,
                item.label,
                item.required,
                tick is not None,
                False,
                tick.note if tick else "",
                by=tick.by if tick else None,
                at=tick.at if tick else None,
            )
        )
    return results


def missing_items(results: list[ItemResult]) -> list[str]:
    """The keys of the required items not yet done: what stands between a dosed participant and
    discharge. The discharge rule and every summary of the checklist (the chart record) use this."""
    return [r.key for r in results if r.required and not r.done]
