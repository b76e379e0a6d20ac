"""Follow-ups that cannot be buried: when one is overdue, and when it climbs past the session's
lead to the clinic's admins. Derived from the follow-up and the time, never stored separately, so
nothing has to fire for it to be true."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from .model import CLINIC_ADMINS, Followup
from .policy import Policy

# The states a follow-up can be in, in words for the screens.
FOLLOWUP_STATES = {
    "open": "Open",
    "overdue": "Overdue",
    "escalated": "Overdue: climbed to the clinic's admins",
    "closed": "Closed",
}


class FollowupTimes(Protocol):
    """What the overdue rule reads of a follow-up: when it fell due, and whether it is closed. A
    follow-up of the log and a row of the report's projection both have it."""

    @property
    def due_at(self) -> datetime: ...

    @property
    def open(self) -> bool: ...


def owner_words(owner: str) -> str:
    """A follow-up's owner as people read it."""
    return "the clinic's admins" if owner == CLINIC_ADMINS else owner


def climbs_at(followup: FollowupTimes, policy: Policy) -> datetime:
    """When an open follow-up climbs past the lead to the clinic's admins."""
    return followup.due_at + timedelta(hours=policy.followup_escalate_hours)


def followup_state(followup: FollowupTimes, now: datetime, policy: Policy) -> str:
    if not followup.open:
        return "closed"
    if now >= climbs_at(followup, policy):
        return "escalated"
    if now > followup.due_at:
        return "overdue"
    return "open"


def followup_owners(followup: Followup, now: datetime, policy: Policy) -> tuple[str, ...]:
    """Who must answer it now: its owner, and once it has climbed, the clinic's admins as well."""
    if followup_state(followup, now, policy) == "escalated" and followup.owner != CLINIC_ADMINS:
        return (followup.owner, CLINIC_ADMINS)
    return (followup.owner,)


def reached_admins(followup: Followup, now: datetime, policy: Policy) -> bool:
    """Whether the follow-up is (or, once closed, was before it closed) the clinic's admins' to answer."""
    if followup.owner == CLINIC_ADMINS:
        return True
    return (followup.closed_at or now) >= climbs_at(followup, policy)


def closed_late(followup: Followup) -> bool:
    """A follow-up closed after it fell due."""
    return followup.closed_at is not None and followup.closed_at > followup.due_at
