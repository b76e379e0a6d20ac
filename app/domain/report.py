"""The clinic's response report: session reviews summed per lead and per room.

Every figure comes from the reviews (which come from the logs): alarms by priority, the median
and 90th percentile of the times from raised to first seen, to acknowledged and to resolved,
unattended-distress minutes, dyad-lock refusals, follow-ups opened, closed and overdue.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from .followups import followup_state
from .model import PRIORITY_RANK
from .policy import Policy
from .review import SessionReview

PRIORITIES = tuple(sorted(PRIORITY_RANK, key=lambda p: -PRIORITY_RANK[p]))  # high, medium, low
MEASURES = ("first_seen", "acknowledge", "resolve")


def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least `share` of all at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


@dataclass
class ResponseFigures:
    """One row of the report: one lead, or one room."""

    group: str  # "lead" or "room"
    key: str
    sessions: int = 0
    alarms: dict[str, int] = field(default_factory=lambda: {p: 0 for p in PRIORITIES})
    times: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in MEASURES})
    unattended_distress_seconds: float = 0.0
    dyad_lock_refusals: int = 0
    followups_opened: int = 0
    followups_closed: int = 0
    followups_overdue: int = 0

    def add(self, review: SessionReview, now: datetime, policy: Policy) -> None:
        self.sessions += 1
        for alarm in review.alarms:
            self.alarms[alarm.priority] = self.alarms.get(alarm.priority, 0) + 1
            for measure, value in zip(
                MEASURES,
                (alarm.seconds_to_first_seen, alarm.seconds_to_acknowledge, alarm.seconds_to_resolve),
                strict=True,
            ):
                if value is not None:
                    self.times[measure].append(value)
        self.unattended_distress_seconds += review.unattended_distress_seconds
        self.dyad_lock_refusals += review.dyad_lock_refusals
        for item in review.followups:
            self.followups_opened += 1
            status = followup_state(item.followup, now, policy)
            if status == "closed":
                self.followups_closed += 1
            elif status in ("overdue", "escalated"):
                self.followups_overdue += 1

    def median(self, measure: str) -> float | None:
        return median(self.times[measure])

    def p90(self, measure: str) -> float | None:
        return percentile(self.times[measure], 0.9)


@dataclass(frozen=True)
class ResponseReport:
    start: datetime
    end: datetime
    sessions: int
    by_lead: tuple[ResponseFigures, ...]
    by_room: tuple[ResponseFigures, ...]


def response_report(
    reviews: Iterable[SessionReview], start: datetime, end: datetime, now: datetime, policy: Policy
) -> ResponseReport:
    leads: dict[str, ResponseFigures] = {}
    rooms: dict[str, ResponseFigures] = {}
    count = 0
    for review in reviews:
        count += 1
        leads.setdefault(review.lead, ResponseFigures("lead", review.lead)).add(review, now, policy)
        rooms.setdefault(review.room_id, ResponseFigures("room", review.room_id)).add(review, now, policy)
    return ResponseReport(
        start=start,
        end=end,
        sessions=count,
        by_lead=tuple(leads[k] for k in sorted(leads)),
        by_room=tuple(rooms[k] for k in sorted(rooms)),
    )
