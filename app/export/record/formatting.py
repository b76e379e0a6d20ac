"""Small helpers the record's sections share: times as ISO text, numbers, words for values."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from app import localtime

from .snapshot import VITAL_NAMES


def iso(value: datetime | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return value.isoformat()


def when(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def num(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def minutes_between(earlier: datetime | None, later: datetime | None) -> float | None:
    if earlier is None or later is None:
        return None
    return round((later - earlier) / timedelta(minutes=1), 1)


def plain(value: Any) -> Any:
    """Anything from the state (mappings, tuples, datetimes, sets) as JSON-ready values."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(plain(v) for v in value)
    if isinstance(value, float):
        return num(value)
    return value


def words(value: str) -> str:
    return value.replace("_", " ")


def vitals_text(values: Mapping[str, Any]) -> str:
    parts = []
    if values.get("sbp") is not None or values.get("dbp") is not None:
        parts.append(f"BP {fmt(values.get('sbp'))}/{fmt(values.get('dbp'))} mmHg")
    if values.get("hr") is not None:
        parts.append(f"HR {fmt(values['hr'])}/min")
    if values.get("spo2") is not None:
        parts.append(f"SpO2 {fmt(values['spo2'])}%")
    if values.get("rr") is not None:
        parts.append(f"RR {fmt(values['rr'])}/min")
    for name, value in values.items():
        if name not in VITAL_NAMES and value is not None:
            parts.append(f"{name} {fmt(value)}")
    return ", ".join(parts)


def at_text(value: Any) -> str:
    """A moment inside a summary line, in the clinic's time zone (HOLDSPACE_TIMEZONE)."""
    moment = localtime.local(when(value))
    return "-" if moment is None else moment.strftime("%d %b %Y %H:%M")


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def scales_text(values: Mapping[str, Any]) -> str:
    parts = []
    if values.get("distress") is not None:
        parts.append(f"distress {values['distress']}")
    if values.get("moaa_s") is not None:
        parts.append(f"MOAA/S {values['moaa_s']}")
    if values.get("rass") is not None:
        parts.append(f"RASS {int(values['rass']):+d}")
    if values.get("suds") is not None:
        parts.append(f"SUDS {values['suds']}")
    return ", ".join(parts)
