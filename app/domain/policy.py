"""Clinic policy: every number of PRODUCT.md's "Clinic policy defaults", overridable per clinic.

The file format is TOML (see API.md); this module validates an already-parsed mapping, so it
stays free of I/O. A key left out keeps its default; an unknown key, a wrong type or an
impossible value raises PolicyError naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, tzinfo
from typing import Any

from .errors import PolicyError
from .vocabulary import ROUTES


@dataclass(frozen=True)
class ChecklistItem:
    key: str
    label: str
    required: bool = True


# Items the record itself can decide; every other item is ticked by a person.
AUTO_CHECKLIST_KEYS = frozenset({"observation_time", "vitals_in_range", "sedation_clear", "distress_settled"})

DEFAULT_CHECKLIST: tuple[ChecklistItem, ...] = (
    ChecklistItem("observation_time", "Minimum observation time since the dose has passed"),
    ChecklistItem("vitals_in_range", "Vitals taken within the last 15 minutes and in range"),
    ChecklistItem("sedation_clear", "MOAA/S 5 and RASS 0"),
    ChecklistItem("oriented", "Oriented to person, place and time"),
    ChecklistItem("steady_gait", "Walks steadily"),
    ChecklistItem("nausea_settled", "Nausea and vomiting settled"),
    ChecklistItem("distress_settled", "Distress level 0 or 1"),
    ChecklistItem("transport_confirmed", "Escort or ride home confirmed; no driving until the next day"),
    ChecklistItem("followup_scheduled", "Integration follow-up scheduled"),
    ChecklistItem("belongings_returned", "Belongings returned"),
)


@dataclass(frozen=True)
class PredoseClearance:
    sbp: int = 140
    dbp: int = 90


@dataclass(frozen=True)
class VitalsMedium:
    sbp_above: int = 180
    dbp_above: int = 110


@dataclass(frozen=True)
class VitalsHigh:
    sbp_above: int = 200
    dbp_above: int = 120
    spo2_below: int = 92
    hr_above: int = 130
    hr_below: int = 50


@dataclass(frozen=True)
class Vitals:
    predose_clearance: PredoseClearance = field(default_factory=PredoseClearance)
    medium: VitalsMedium = field(default_factory=VitalsMedium)
    high: VitalsHigh = field(default_factory=VitalsHigh)


@dataclass(frozen=True)
class ObservationMinutes:
    sublingual: int = 120
    intramuscular: int = 120
    intravenous: int = 120
    intranasal: int = 120

    def for_route(self, route: str) -> int:
        if route not in ROUTES:
            raise KeyError(route)
        return int(getattr(self, route))


@dataclass(frozen=True)
class AckTimeoutSeconds:
    medium: int = 60
    high: int = 30


@dataclass(frozen=True)
class Policy:
    checkin_interval_minutes: int = 20
    # How long a due consent check-in may go unanswered before it is recorded as missed.
    checkin_grace_minutes: int = 5
    vitals_interval_minutes: int = 15
    # Beyond the published shape: vitals while an intravenous dose is infusing, and the blood
    # pressure check at about the time BP peaks after dosing.
    vitals_interval_minutes_infusing: int = 10
    bp_check_after_dose_minutes: int = 40
    participants_per_facilitator: int = 4
    # Beyond the published shape: when a follow-up (repair) item falls due, and how long a lead
    # may silence a sounding alarm on the overview (the alarm itself stays open and visible).
    followup_due_hours: int = 48
    alarm_mute_seconds: int = 60
    # Beyond the published shape: how long before the session opened a late entry's observed time
    # may lie (a screening done on paper the evening before, typed in once the session is open).
    late_entry_allowance_hours: int = 24
    # How long the lead's overview keeps showing a tablet whose live link dropped.
    offline_tablet_forget_minutes: int = 720
    observation_minutes: ObservationMinutes = field(default_factory=ObservationMinutes)
    ack_timeout_seconds: AckTimeoutSeconds = field(default_factory=AckTimeoutSeconds)
    vitals: Vitals = field(default_factory=Vitals)
    checklist: tuple[ChecklistItem, ...] = DEFAULT_CHECKLIST
    # The clinic's time zone, for the times the rules put into words ("earliest discharge 14:05").
    # Set from HOLDSPACE_TIMEZONE, not from the policy file; stored times stay UTC.
    time_zone: tzinfo = UTC


DEFAULT_POLICY = Policy()

# Lower bounds for numbers: anything below is impossible, not merely unusual.
_MINIMUMS: dict[str, int] = {
    "checkin_interval_minutes": 1,
    "checkin_grace_minutes": 1,
    "vitals_interval_minutes": 1,
    "vitals_interval_minutes_infusing": 1,
    "bp_check_after_dose_minutes": 1,
    "participants_per_facilitator": 1,
    "followup_due_hours": 1,
    "alarm_mute_seconds": 5,
    "late_entry_allowance_hours": 0,
    "offline_tablet_forget_minutes": 1,
}
# Upper bounds: beyond them a value stops being a clinic's choice and becomes a way around a rule.
_MAXIMUMS: dict[str, int] = {
    "late_entry_allowance_hours": 720,
}


def _build(cls: type, data: Mapping[str, Any], prefix: str) -> Any:
    if not isinstance(data, Mapping):
        raise PolicyError(prefix.rstrip("."), "must be a table")
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    default = cls()
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key not in known:
            raise PolicyError(path, "unknown key")
        if key == "time_zone":
            raise PolicyError(path, "is set with HOLDSPACE_TIMEZONE, not in the policy file")
        current = getattr(default, key)
        if key == "checklist":
            values[key] = _checklist(value, path)
        elif hasattr(current, "__dataclass_fields__"):
            values[key] = _build(type(current), value, path + ".")
        else:
            if isinstance(value, bool) or not isinstance(value, int):
                raise PolicyError(path, f"must be a whole number, not {type(value).__name__}")
            minimum = _MINIMUMS.get(key, 1)
            if value < minimum:
                raise PolicyError(path, f"must be at least {minimum}")
            maximum = _MAXIMUMS.get(key)
            if maximum is not None and value > maximum:
                raise PolicyError(path, f"must be at most {maximum}")
            values[key] = value
    return replace(default, **values)


def _checklist(value: Any, path: str) -> tuple[ChecklistItem, ...]:
    if not isinstance(value, list) or not value:
        raise PolicyError(path, "must be a non-empty list of [[checklist]] items")
    items: list[ChecklistItem] = []
    seen: set[str] = set()
    for index, raw in enumerate(value):
        where = f"{path}[{index}]"
        if not isinstance(raw, Mapping):
            raise PolicyError(where, "must be a table with key, label and required")
        unknown = set(raw) - {"key", "label", "required"}
        if unknown:
            raise PolicyError(f"{where}.{sorted(unknown)[0]}", "unknown key")
        key, label, required = raw.get("key"), raw.get("label"), raw.get("required", True)
        if not isinstance(key, str) or not key.strip() or not key.replace("_", "").isalnum():
            raise PolicyError(f"{where}.key", "must be a word of letters, digits and underscores")
        if key in seen:
            raise PolicyError(f"{where}.key", f"'{key}' appears twice")
        if not isinstance(label, str) or not label.strip():
            raise PolicyError(f"{where}.label", "must be a non-empty text")
        if not isinstance(required, bool):
            raise PolicyError(f"{where}.required", "must be true or false")
        seen.add(key)
        items.append(ChecklistItem(key=key, label=label.strip(), required=required))
    return tuple(items)


def policy_from_mapping(data: Mapping[str, Any]) -> Policy:
    """Validate a parsed policy file; keys left out keep their defaults."""
    policy: Policy = _build(Policy, data, "")
    high, medium = policy.vitals.high, policy.vitals.medium
    if high.sbp_above < medium.sbp_above:
        raise PolicyError("vitals.high.sbp_above", "must not be below vitals.medium.sbp_above")
    if high.dbp_above < medium.dbp_above:
        raise PolicyError("vitals.high.dbp_above", "must not be below vitals.medium.dbp_above")
    if high.spo2_below > 100:
        raise PolicyError("vitals.high.spo2_below", "must be at most 100")
    if high.hr_below >= high.hr_above:
        raise PolicyError("vitals.high.hr_below", "must be below vitals.high.hr_above")
    return policy
