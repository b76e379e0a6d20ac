"""Jinja environment. A page's live parts are named blocks of the page template, rendered alone
for a websocket push, so the page and its fragment cannot drift apart."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates

from app import localtime
from app.domain import vocabulary
from app.domain.model import PHASE_LABELS, Phase
from app.web.views import attention_order

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES))
env = templates.env


def _parse(value: Any) -> datetime | None:
    return localtime.parse(value)


def moment(value: Any) -> datetime | None:
    """A stored time (ISO text or datetime) as a datetime, so templates compare times, not strings."""
    return localtime.parse(value)


def clock(value: Any) -> str:
    """hh:mm in the clinic's time zone (HOLDSPACE_TIMEZONE)."""
    shown = localtime.local(value)
    return "" if shown is None else shown.strftime("%H:%M")


def day_clock(value: Any) -> str:
    """A moment that may be another day: weekday, date and time, in the clinic's zone."""
    shown = localtime.local(value)
    return "" if shown is None else shown.strftime("%a %d %b %H:%M")


def clock_seconds(value: Any) -> str:
    shown = localtime.local(value)
    return "" if shown is None else shown.strftime("%H:%M:%S")


def since(value: Any, now: datetime) -> str:
    moment = _parse(value)
    if moment is None:
        return ""
    minutes = int((now - moment).total_seconds() // 60)
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def ago(value: Any, now: datetime) -> str:
    text = since(value, now)
    return text if text in ("", "just now") else f"{text} ago"


def until(value: Any, now: datetime) -> str:
    moment = _parse(value)
    if moment is None:
        return ""
    minutes = int((moment - now).total_seconds() // 60) + 1
    return "now" if moment <= now else f"in {minutes} min"


def machine_time(value: Any) -> str:
    """A stored time for a `<time datetime>` attribute: UTC, to the millisecond (HTML allows no more)."""
    moment = _parse(value)
    if moment is None:
        return ""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds" if moment.microsecond else "seconds")


def phase_label(value: str) -> str:
    return PHASE_LABELS[Phase(value)]


env.filters.update(
    moment=moment,
    day_clock=day_clock,
    clock=clock,
    clock_seconds=clock_seconds,
    since=since,
    ago=ago,
    until=until,
    phase_label=phase_label,
    machine_time=machine_time,
    attention_order=attention_order,
)
env.globals["utc"] = UTC
# Scales and their words come from the domain, so a form offers exactly what the record accepts.
env.globals["scale_values"] = vocabulary.scale_values
env.globals["distress_words"] = vocabulary.DISTRESS_WORDS
env.globals["contraindications"] = vocabulary.CONTRAINDICATIONS
# The clinic's zone, named on every page and given to the page script for the times it writes.
env.globals["time_zone_label"] = lambda: localtime.zone_label()
env.globals["time_zone_name"] = lambda: localtime.clinic_zone().key


def render_block(template_name: str, block_name: str, context: dict[str, Any]) -> str:
    template = env.get_template(template_name)
    ctx = template.new_context(context)
    return "".join(template.blocks[block_name](ctx))
