"""What every rule shares: who asks and when, the events a decision collects, and the checks
every command makes of its participant, its text and its times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import InvalidInput, RuleViolation
from ..events import Payload
from ..model import CLOCK_SKEW, TRANSITIONS, Actor, Event, ParticipantState, Phase, SessionState
from ..policy import Policy


@dataclass(frozen=True)
class Context:
    """Who asks, from which device, and when (the time is an input: the domain reads no clock)."""

    actor: Actor
    now: datetime
    policy: Policy
    device: str | None = None


class Decision:
    """Collects the events a decision yields, numbering them after the state's last one."""

    def __init__(self, state: SessionState, ctx: Context) -> None:
        self.state = state
        self.ctx = ctx
        self.items: list[Event] = []

    def add(self, payload: Payload, participant_id: str | None = None, actor: str | None = None) -> None:
        self.items.append(
            Event(
                session_id=self.state.session_id,
                seq=self.state.seq + len(self.items) + 1,
                at=self.ctx.now,
                actor=actor if actor is not None else self.ctx.actor.username,
                payload=payload,
                participant_id=participant_id,
                device=self.ctx.device,
            )
        )

    def next_seq(self) -> int:
        return self.state.seq + len(self.items) + 1

    @property
    def now(self) -> datetime:
        return self.ctx.now

    @property
    def policy(self) -> Policy:
        return self.ctx.policy


def refuse(code: str, message: str, **details: Any) -> RuleViolation:
    return RuleViolation(code, message, details)


def required_text(value: str, field: str, limit: int) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidInput(f"{field} is required.", {"field": field})
    if len(value) > limit:
        raise InvalidInput(f"{field} is longer than {limit} characters.", {"field": field})
    return value


def participant_of(state: SessionState, participant_id: str) -> ParticipantState:
    participant = state.participant(participant_id)
    if participant is None:
        raise refuse("not_found", "There is no such participant in this session.", participant_id=participant_id)
    return participant


def active_participant(state: SessionState, participant_id: str) -> ParticipantState:
    participant = participant_of(state, participant_id)
    if participant.phase.final:
        raise refuse(
            "participant_inactive",
            f"{participant.display_name} has already left the session ({participant.phase.label.lower()}).",
            phase=participant.phase.value,
        )
    return participant


def check_move(participant: ParticipantState, to: Phase) -> None:
    if to not in TRANSITIONS[participant.phase]:
        raise refuse(
            "invalid_transition",
            f"{participant.display_name} cannot go from {participant.phase.label} to {to.label}.",
            current=participant.phase.value,
            to=to.value,
            allowed=sorted(p.value for p in TRANSITIONS[participant.phase]),
        )


def time_window(state: SessionState, ctx: Context) -> tuple[datetime, datetime]:
    """The earliest and latest time a client may give for something observed or done: from the
    session's start less the clinic's late-entry allowance, to now plus the clock-skew allowance."""
    start = state.opened_at or ctx.now
    earliest = start - timedelta(hours=ctx.policy.late_entry_allowance_hours)
    return earliest, ctx.now + CLOCK_SKEW


def client_time(value: datetime | None, state: SessionState, ctx: Context, field: str) -> datetime:
    """A time sent by a client, checked against the window and stored in UTC (`now` if none given)."""
    if value is None:
        return ctx.now
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{field} needs a time zone offset.", {"field": field})
    try:
        moment = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise InvalidInput(f"{field} is not a time that can be recorded.", {"field": field}) from None
    earliest, latest = time_window(state, ctx)
    window = {"field": field, "earliest": earliest.isoformat(), "latest": latest.isoformat()}
    if moment > latest:
        raise InvalidInput(f"{field} is in the future.", window)
    if moment < earliest:
        hours = ctx.policy.late_entry_allowance_hours
        raise InvalidInput(
            f"{field} is too early: a late entry can be at most {hours} h before the session started.", window
        )
    return moment
