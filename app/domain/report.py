"""The clinic's response report: session reviews summed per lead and per room.

Every figure comes from the reviews (which come from the logs): alarms by priority, the median
and 90th percentile of the times from raised to first seen, to acknowledged and to resolved,
unattended-distress minutes, dyad-lock refusals, follow-ups opened, closed and overdue.

What the report needs of one session is `SessionFigures`, taken from the session's review by
`session_figures`. It holds only facts of the log (times, who, counts and the minutes the review's
walk adds up), nothing that depends on the clinic's policy or on the time of asking: whether a
follow-up is overdue is worked out when the report is read. So the figures of a closed session can
be kept beside its log (the store's report projection) and read back instead of folding the log.
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
from .review import AlarmReview, ResponseTimes, SessionReview

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


@dataclass(frozen=True)
class AlarmFigures(ResponseTimes):
    """One alarm as the report reads it: what it was, and when it was raised, first seen (by whom,
    on which device), first acknowledged and resolved."""

    id: str
    participant_id: str
    condition: str
    raised_priority: str
    priority: str
    raised_at: datetime
    first_seen_at: datetime | None = None
    first_seen_by: str | None = None
    first_seen_device: str | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None


@dataclass(frozen=True)
class FollowupFigures:
    """One follow-up as the report reads it; its state (overdue or not) is worked out at reading."""

    id: str
    participant_id: str
    owner: str
    concerns_lead: bool
    opened_at: datetime
    due_at: datetime
    closed_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.closed_at is None


@dataclass(frozen=True)
class SessionFigures:
    """What the response report needs of one session, taken from its review."""

    session_id: str
    room_id: str
    lead: str
    opened_at: datetime | None
    closed_at: datetime | None
    seq: int
    alarms: tuple[AlarmFigures, ...]
    followups: tuple[FollowupFigures, ...]
    unattended_distress_seconds: float
    without_support_seconds: float
    uncovered_seconds: float
    dyad_lock_refusals: int
    refusals: int
    missed_checkins: int


def alarm_figures(alarm: AlarmReview) -> AlarmFigures:
    first = alarm.first_sighting
    return AlarmFigures(
        id=alarm.id,
        participant_id=alarm.participant_id,
        condition=alarm.condition,
        raised_priority=alarm.raised_priority,
        priority=alarm.priority,
        raised_at=alarm.raised_at,
        first_seen_at=alarm.first_seen_at,
        first_seen_by=first.username if first else None,
        first_seen_device=first.device if first else None,
        acknowledged_at=alarm.acknowledged_at,
        acknowledged_by=alarm.acknowledged_by,
        resolved_at=alarm.resolved_at,
        resolved_by=alarm.resolved_by,
    )


def session_figures(review: SessionReview) -> SessionFigures:
    """The review's figures the report reads: the one way they are taken from a session's log."""
    return SessionFigures(
        session_id=review.session_id,
        room_id=review.room_id,
        lead=review.lead,
        opened_at=review.opened_at,
        closed_at=review.closed_at,
        seq=review.seq,
        alarms=tuple(alarm_figures(a) for a in review.alarms),
        followups=tuple(
            FollowupFigures(
                id=f.followup.id,
                participant_id=f.followup.participant_id,
                owner=f.followup.owner,
                concerns_lead=f.followup.concerns_lead,
                opened_at=f.followup.opened_at,
                due_at=f.followup.due_at,
                closed_at=f.followup.closed_at,
            )
            for f in review.followups
        ),
        unattended_distress_seconds=review.unattended_distress_seconds,
        without_support_seconds=sum(p.without_support_seconds for p in review.participants),
        uncovered_seconds=review.room.uncovered_seconds,
        dyad_lock_refusals=review.dyad_lock_refusals,
        refusals=len(review.refusals),
        missed_checkins=len(review.missed_checkins),
    )


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

    def add(self, session: SessionFigures, now: datetime, policy: Policy) -> None:
        self.sessions += 1
        for alarm in session.alarms:
            self.alarms[alarm.priority] = self.alarms.get(alarm.priority, 0) + 1
            for measure, value in zip(
                MEASURES,
                (alarm.seconds_to_first_seen, alarm.seconds_to_acknowledge, alarm.seconds_to_resolve),
                strict=True,
            ):
                if value is not None:
                    self.times[measure].append(value)
        self.unattended_distress_seconds += session.unattended_distress_seconds
        self.dyad_lock_refusals += session.dyad_lock_refusals
        for followup in session.followups:
            self.followups_opened += 1
            status = followup_state(followup, now, policy)
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
    sessions: Iterable[SessionFigures], start: datetime, end: datetime, now: datetime, policy: Policy
) -> ResponseReport:
    """The report over `sessions` (in the order they were opened), with follow-up states as of `now`."""
    leads: dict[str, ResponseFigures] = {}
    rooms: dict[str, ResponseFigures] = {}
    count = 0
    for session in sessions:
        count += 1
        if session.lead not in leads:
            leads[session.lead] = ResponseFigures("lead", session.lead)
        if session.room_id not in rooms:
            rooms[session.room_id] = ResponseFigures("room", session.room_id)
        leads[session.lead].add(session, now, policy)
        rooms[session.room_id].add(session, now, policy)
    return ResponseReport(
        start=start,
        end=end,
        sessions=count,
        by_lead=tuple(leads[k] for k in sorted(leads)),
        by_room=tuple(rooms[k] for k in sorted(rooms)),
    )
