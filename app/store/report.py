"""The response report's projection: each closed session's figures (`SessionFigures`, taken from its
review by the domain) kept in report_session, report_alarm and report_followup.

`write` runs in the transaction that appends to a closed session (and when a session recorded
before the projection existed is caught up), so the rows always stand at the session's last event;
`read` gives back the same `SessionFigures` for the sessions opened in a range, in three statements
however many sessions that is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import delete
from sqlmodel import Session

from app.domain.report import AlarmFigures, FollowupFigures, SessionFigures

from .events import as_utc
from .tables import CareSession, ReportAlarm, ReportFollowup, ReportSession


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def write(db: Session, figures: SessionFigures) -> None:
    """Replace the session's rows with `figures`, in the caller's transaction."""
    sid = figures.session_id
    for table in (ReportAlarm, ReportFollowup, ReportSession):
        db.exec(delete(table).where(table.session_id == sid))  # type: ignore[call-overload, attr-defined]
    db.add(
        ReportSession(
            session_id=sid,
            room_id=figures.room_id,
            lead=figures.lead,
            opened_at=figures.opened_at,
            closed_at=figures.closed_at,
            seq=figures.seq,
            unattended_distress_seconds=figures.unattended_distress_seconds,
            without_support_seconds=figures.without_support_seconds,
            uncovered_seconds=figures.uncovered_seconds,
            dyad_lock_refusals=figures.dyad_lock_refusals,
            refusals=figures.refusals,
            missed_checkins=figures.missed_checkins,
        )
    )
    for position, a in enumerate(figures.alarms):
        db.add(
            ReportAlarm(
                session_id=sid,
                escalation_id=a.id,
                position=position,
                room_id=figures.room_id,
                lead=figures.lead,
                participant_id=a.participant_id,
                condition=a.condition,
                raised_priority=a.raised_priority,
                priority=a.priority,
                raised_at=a.raised_at,
                first_seen_at=a.first_seen_at,
                first_seen_by=a.first_seen_by,
                first_seen_device=a.first_seen_device,
                acknowledged_at=a.acknowledged_at,
                acknowledged_by=a.acknowledged_by,
                resolved_at=a.resolved_at,
                resolved_by=a.resolved_by,
            )
        )
    for position, f in enumerate(figures.followups):
        db.add(
            ReportFollowup(
                session_id=sid,
                followup_id=f.id,
                position=position,
                room_id=figures.room_id,
                lead=figures.lead,
                participant_id=f.participant_id,
                owner=f.owner,
                concerns_lead=f.concerns_lead,
                opened_at=f.opened_at,
                due_at=f.due_at,
                closed_at=f.closed_at,
            )
        )
    db.flush()


def read(db: Session, start: datetime, end: datetime) -> dict[str, SessionFigures]:
    """The projected figures of every session opened in [start, end) that has them, by session.
    Three statements whatever the range holds; rows are read as plain tuples (no ORM objects)."""
    connection = db.connection()
    care = CareSession.__table__  # type: ignore[attr-defined]
    in_range = (care.c.opened_at >= start, care.c.opened_at < end)

    def rows(table: sa.Table, *order: sa.ColumnElement[object]) -> sa.CursorResult[Any]:
        query = sa.select(table).join(care, care.c.id == table.c.session_id).where(*in_range)
        return connection.execute(query.order_by(*order))

    alarm_table: sa.Table = ReportAlarm.__table__  # type: ignore[attr-defined]
    alarms: dict[str, list[AlarmFigures]] = {}
    for a in rows(alarm_table, alarm_table.c.session_id, alarm_table.c.position):
        alarms.setdefault(a.session_id, []).append(
            AlarmFigures(
                id=a.escalation_id,
                participant_id=a.participant_id,
                condition=a.condition,
                raised_priority=a.raised_priority,
                priority=a.priority,
                raised_at=as_utc(a.raised_at),
                first_seen_at=_utc(a.first_seen_at),
                first_seen_by=a.first_seen_by,
                first_seen_device=a.first_seen_device,
                acknowledged_at=_utc(a.acknowledged_at),
                acknowledged_by=a.acknowledged_by,
                resolved_at=_utc(a.resolved_at),
                resolved_by=a.resolved_by,
            )
        )
    followup_table: sa.Table = ReportFollowup.__table__  # type: ignore[attr-defined]
    followups: dict[str, list[FollowupFigures]] = {}
    for f in rows(followup_table, followup_table.c.session_id, followup_table.c.position):
        followups.setdefault(f.session_id, []).append(
            FollowupFigures(
                id=f.followup_id,
                participant_id=f.participant_id,
                owner=f.owner,
                concerns_lead=f.concerns_lead,
                opened_at=as_utc(f.opened_at),
                due_at=as_utc(f.due_at),
                closed_at=_utc(f.closed_at),
            )
        )
    session_table: sa.Table = ReportSession.__table__  # type: ignore[attr-defined]
    return {
        s.session_id: SessionFigures(
            session_id=s.session_id,
            room_id=s.room_id,
            lead=s.lead,
            opened_at=_utc(s.opened_at),
            closed_at=_utc(s.closed_at),
            seq=s.seq,
            alarms=tuple(alarms.get(s.session_id, ())),
            followups=tuple(followups.get(s.session_id, ())),
            unattended_distress_seconds=s.unattended_distress_seconds,
            without_support_seconds=s.without_support_seconds,
            uncovered_seconds=s.uncovered_seconds,
            dyad_lock_refusals=s.dyad_lock_refusals,
            refusals=s.refusals,
            missed_checkins=s.missed_checkins,
        )
        for s in rows(session_table, session_table.c.session_id)
    }
