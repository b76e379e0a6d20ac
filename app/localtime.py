"""The clinic's time zone (HOLDSPACE_TIMEZONE, an IANA name such as Europe/Berlin; default UTC).

Times are stored in UTC and compared as datetimes; every page, notice and export shows them in
this zone and names it. `configure` is called once at start-up from the settings; everything that
shows a time reads `clinic_zone()` (the domain gets the same zone through its policy)."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "UTC"

_zone: ZoneInfo = ZoneInfo(DEFAULT_ZONE)


class UnknownTimeZone(ValueError):
    """The configured time zone is not an IANA name this system knows."""


def zone_named(name: str) -> ZoneInfo:
    """The IANA zone `name` (e.g. Europe/Berlin), or UnknownTimeZone saying what went wrong."""
    cleaned = (name or "").strip()
    if not cleaned:
        raise UnknownTimeZone("HOLDSPACE_TIMEZONE is empty; give an IANA name such as Europe/Berlin (default UTC)")
    try:
        return ZoneInfo(cleaned)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UnknownTimeZone(
            f"HOLDSPACE_TIMEZONE={cleaned!r} is not a known IANA time zone name (for example Europe/Berlin, "
            "America/New_York or UTC)"
        ) from None


def configure(zone: str | ZoneInfo) -> ZoneInfo:
    """Set the clinic's zone for this process (at start-up); returns it."""
    global _zone
    _zone = zone if isinstance(zone, ZoneInfo) else zone_named(zone)
    return _zone


def clinic_zone() -> ZoneInfo:
    return _zone


def parse(value: Any) -> datetime | None:
    """A stored moment (datetime or ISO text) as an aware datetime; a naive one is UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def local(value: Any, zone: tzinfo | None = None) -> datetime | None:
    """`value` in the clinic's zone (or `zone`), or None when it is not a time."""
    moment = parse(value)
    if moment is None:
        return None
    try:
        return moment.astimezone(zone or _zone)
    except (OverflowError, ValueError):
        # A moment at the very edge of the calendar cannot move; show it as stored.
        try:
            return moment.astimezone(UTC)
        except (OverflowError, ValueError):
            return moment


def zone_label(zone: tzinfo | None = None, at: datetime | None = None) -> str:
    """The zone as people read it: "Europe/Berlin (CET, UTC+01:00)" at `at` (default now)."""
    zone = zone or _zone
    moment = (at or datetime.now(UTC)).astimezone(zone)
    name = getattr(zone, "key", None) or str(zone)
    abbreviation = moment.strftime("%Z")
    offset = moment.strftime("%z")
    offset = f"{offset[:3]}:{offset[3:]}" if offset else "+00:00"
    if name in ("UTC", abbreviation) and offset == "+00:00":
        return "UTC"
    return f"{name} ({abbreviation}, UTC{offset})"
