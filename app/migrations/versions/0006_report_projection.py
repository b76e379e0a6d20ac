"""report_session, report_alarm, report_followup: the response report's projection; an index on
care_session.opened_at

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 16:00:00+00:00

Every session closed before this revision is projected here from its log, by the domain's own fold
(the session review, `app/domain/review.py`, and `session_figures`), one session at a time, so a
database written by the previous release reports the same figures afterwards. With `--sql`
(offline) there is no log to read: the report then projects each closed session the first time it
asks for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import context, op

from app.domain.policy import DEFAULT_POLICY
from app.domain.report import session_figures
from app.domain.review import review
from app.store.events import to_event

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)


def _session_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("session_id", sa.String(length=40), nullable=False),
        sa.Column("room_id", sa.String(length=40), nullable=False),
        sa.Column("lead", sa.String(length=64), nullable=False),
        sa.Column("opened_at", TIME, nullable=True),
        sa.Column("closed_at", TIME, nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("unattended_distress_seconds", sa.Float(), nullable=False),
        sa.Column("without_support_seconds", sa.Float(), nullable=False),
        sa.Column("uncovered_seconds", sa.Float(), nullable=False),
        sa.Column("dyad_lock_refusals", sa.Integer(), nullable=False),
        sa.Column("refusals", sa.Integer(), nullable=False),
        sa.Column("missed_checkins", sa.Integer(), nullable=False),
    ]


def _alarm_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("session_id", sa.String(length=40), nullable=False),
        sa.Column("escalation_id", sa.String(length=80), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.String(length=40), nullable=False),
        sa.Column("lead", sa.String(length=64), nullable=False),
        sa.Column("participant_id", sa.String(length=40), nullable=False),
        sa.Column("condition", sa.String(length=40), nullable=False),
        sa.Column("raised_priority", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("raised_at", TIME, nullable=False),
        sa.Column("first_seen_at", TIME, nullable=True),
        sa.Column("first_seen_by", sa.String(length=64), nullable=True),
        sa.Column("first_seen_device", sa.String(length=80), nullable=True),
        sa.Column("acknowledged_at", TIME, nullable=True),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.Column("resolved_at", TIME, nullable=True),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
    ]


def _followup_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("session_id", sa.String(length=40), nullable=False),
        sa.Column("followup_id", sa.String(length=80), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.String(length=40), nullable=False),
        sa.Column("lead", sa.String(length=64), nullable=False),
        sa.Column("participant_id", sa.String(length=40), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("concerns_lead", sa.Boolean(), nullable=False),
        sa.Column("opened_at", TIME, nullable=False),
        sa.Column("due_at", TIME, nullable=False),
        sa.Column("closed_at", TIME, nullable=True),
    ]


def upgrade() -> None:
    op.create_index("ix_care_session_opened_at", "care_session", ["opened_at"], unique=False)
    op.create_table(
        "report_session",
        *_session_columns(),
        sa.ForeignKeyConstraint(["session_id"], ["care_session.id"]),
        sa.PrimaryKeyConstraint("session_id"),
    )
    op.create_table(
        "report_alarm",
        *_alarm_columns(),
        sa.ForeignKeyConstraint(["session_id"], ["care_session.id"]),
        sa.PrimaryKeyConstraint("session_id", "escalation_id"),
    )
    op.create_table(
        "report_followup",
        *_followup_columns(),
        sa.ForeignKeyConstraint(["session_id"], ["care_session.id"]),
        sa.PrimaryKeyConstraint("session_id", "followup_id"),
    )
    if not context.is_offline_mode():
        _backfill(op.get_bind())


def _backfill(connection: sa.Connection) -> None:
    """Project every closed session from its log, as the app does when a session closes."""
    care_session = sa.table("care_session", sa.column("id", sa.String()), sa.column("closed_at", TIME))
    event = sa.table(
        "event",
        sa.column("session_id", sa.String()),
        sa.column("seq", sa.Integer()),
        sa.column("kind", sa.String()),
        sa.column("at", TIME),
        sa.column("actor", sa.String()),
        sa.column("device", sa.String()),
        sa.column("participant_id", sa.String()),
        sa.column("data", sa.Text()),
    )
    sessions = sa.table("report_session", *(sa.column(c.name, c.type) for c in _session_columns()))
    alarms = sa.table("report_alarm", *(sa.column(c.name, c.type) for c in _alarm_columns()))
    followups = sa.table("report_followup", *(sa.column(c.name, c.type) for c in _followup_columns()))
    closed = connection.execute(
        sa.select(care_session.c.id).where(care_session.c.closed_at.is_not(None)).order_by(care_session.c.id)
    ).scalars()
    now = datetime.now(UTC)  # only follow-up states read it, and they are not kept
    for session_id in list(closed):
        records = connection.execute(
            sa.select(event).where(event.c.session_id == session_id).order_by(event.c.seq)
        ).all()
        if not records:
            continue
        figures = session_figures(review(session_id, [to_event(r) for r in records], now, DEFAULT_POLICY))  # type: ignore[arg-type]
        base = {"session_id": session_id, "room_id": figures.room_id, "lead": figures.lead}
        connection.execute(
            sessions.insert(),
            {
                **base,
                "opened_at": figures.opened_at,
                "closed_at": figures.closed_at,
                "seq": figures.seq,
                "unattended_distress_seconds": figures.unattended_distress_seconds,
                "without_support_seconds": figures.without_support_seconds,
                "uncovered_seconds": figures.uncovered_seconds,
                "dyad_lock_refusals": figures.dyad_lock_refusals,
                "refusals": figures.refusals,
                "missed_checkins": figures.missed_checkins,
            },
        )
        if figures.alarms:
            connection.execute(
                alarms.insert(),
                [
                    {
                        **base,
                        "escalation_id": a.id,
                        "position": position,
                        "participant_id": a.participant_id,
                        "condition": a.condition,
                        "raised_priority": a.raised_priority,
                        "priority": a.priority,
                        "raised_at": a.raised_at,
                        "first_seen_at": a.first_seen_at,
                        "first_seen_by": a.first_seen_by,
                        "first_seen_device": a.first_seen_device,
                        "acknowledged_at": a.acknowledged_at,
                        "acknowledged_by": a.acknowledged_by,
                        "resolved_at": a.resolved_at,
                        "resolved_by": a.resolved_by,
                    }
                    for position, a in enumerate(figures.alarms)
                ],
            )
        if figures.followups:
            connection.execute(
                followups.insert(),
                [
                    {
                        **base,
                        "followup_id": f.id,
                        "position": position,
                        "participant_id": f.participant_id,
                        "owner": f.owner,
                        "concerns_lead": f.concerns_lead,
                        "opened_at": f.opened_at,
                        "due_at": f.due_at,
                        "closed_at": f.closed_at,
                    }
                    for position, f in enumerate(figures.followups)
                ],
            )


def downgrade() -> None:
    op.drop_table("report_followup")
    op.drop_table("report_alarm")
    op.drop_table("report_session")
    op.drop_index("ix_care_session_opened_at", table_name="care_session")
