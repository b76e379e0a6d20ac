"""SQLModel tables. Nothing here is SQLite-only: the same schema runs on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class User(SQLModel, table=True):
    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, sa_column_kwargs={"unique": True}, index=True)
    role: str = Field(max_length=16)
    password_hash: str = Field(max_length=255)
    # A short PIN for checking oneself in on a shared room tablet, hashed like the password.
    pin_hash: str | None = Field(default=None, max_length=255)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class Room(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=80, sa_column_kwargs={"unique": True})
    lead: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class RoomAssignment(SQLModel, table=True):
    __tablename__ = "room_assignment"

    room_id: str = Field(primary_key=True, foreign_key="room.id", max_length=40)
    username: str = Field(primary_key=True, max_length=64)


class CareSession(SQLModel, table=True):
    """A session's place in the clinic. Its contents are its event log."""

    __tablename__ = "care_session"

    id: str = Field(primary_key=True, max_length=40)
    room_id: str = Field(foreign_key="room.id", max_length=40, index=True)
    # Equal to room_id while the session is live, NULL once closed: the unique constraint keeps
    # at most one live session per room on every database (NULLs never collide).
    live_room_id: str | None = Field(default=None, max_length=40, sa_column_kwargs={"unique": True})
    kind: str = Field(max_length=20)
    lead: str = Field(max_length=64)
    # Indexed for the response report, which asks for the sessions opened in a range of dates.
    opened_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True), index=True)
    closed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    # The log's head, moved in the same transaction as every append: a log that ends before its
    # head has lost events from its end, which the hash chain alone cannot show.
    head_seq: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    head_hash: str = Field(default="0" * 64, max_length=64, sa_column_kwargs={"server_default": "0" * 64})
    # The seq up to which open_item holds this session's open follow-ups and escalations; equal to
    # head_seq for every session written since revision 0005 (older ones are caught up when read).
    projected_seq: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class OpenItem(SQLModel, table=True):
    """An open follow-up or escalation, kept in the same transaction as the append that opened,
    changed or closed it, so screens that list them never fold the sessions of past years."""

    __tablename__ = "open_item"

    session_id: str = Field(primary_key=True, foreign_key="care_session.id", max_length=40)
    kind: str = Field(primary_key=True, max_length=16)  # "followup" or "escalation"
    item_id: str = Field(primary_key=True, max_length=40)
    room_id: str = Field(max_length=40, index=True)
    step: int = Field(default=0)
    due_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class ReportSession(SQLModel, table=True):
    """A closed session's figures for the response report (`app/domain/report.py`'s
    `SessionFigures`, taken from its review), written in the same transaction as every append to a
    closed session, so the report reads them instead of folding the logs of past years. `seq` is
    the event the figures stand at: equal to the session's head_seq whenever they are current."""

    __tablename__ = "report_session"

    session_id: str = Field(primary_key=True, foreign_key="care_session.id", max_length=40)
    room_id: str = Field(max_length=40)
    lead: str = Field(max_length=64)
    opened_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    closed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    seq: int
    # Seconds at distress 2 or more without an acknowledged response, and in an altered phase
    # without an available support person (summed over the participants); with someone altered
    # and no facilitator in the room.
    unattended_distress_seconds: float
    without_support_seconds: float
    uncovered_seconds: float
    dyad_lock_refusals: int
    refusals: int
    missed_checkins: int


class ReportAlarm(SQLModel, table=True):
    """One alarm (escalation) of a closed session, as the response report reads it."""

    __tablename__ = "report_alarm"

    session_id: str = Field(primary_key=True, foreign_key="care_session.id", max_length=40)
    escalation_id: str = Field(primary_key=True, max_length=80)
    position: int  # its place in the review's order (by the time it was raised)
    room_id: str = Field(max_length=40)
    lead: str = Field(max_length=64)
    participant_id: str = Field(max_length=40)
    condition: str = Field(max_length=40)
    raised_priority: str = Field(max_length=16)
    priority: str = Field(max_length=16)
    raised_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    # The first sighting: when, by whom and on which device the alarm was first on a visible screen.
    first_seen_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    first_seen_by: str | None = Field(default=None, max_length=64)
    first_seen_device: str | None = Field(default=None, max_length=80)
    acknowledged_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    acknowledged_by: str | None = Field(default=None, max_length=64)
    resolved_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    resolved_by: str | None = Field(default=None, max_length=64)


class ReportFollowup(SQLModel, table=True):
    """One follow-up of a closed session, as the response report reads it. Whether it is overdue
    depends on the time of asking, so only its due time is kept and the state is worked out then."""

    __tablename__ = "report_followup"

    session_id: str = Field(primary_key=True, foreign_key="care_session.id", max_length=40)
    followup_id: str = Field(primary_key=True, max_length=80)
    position: int  # its place in the review's order (by the time it was opened)
    room_id: str = Field(max_length=40)
    lead: str = Field(max_length=64)
    participant_id: str = Field(max_length=40)
    owner: str = Field(max_length=64)
    concerns_lead: bool = False
    opened_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    due_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    closed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class EventRecord(SQLModel, table=True):
    """One immutable fact. (session_id, seq) is unique: two writers never get the same number."""

    __tablename__ = "event"
    __table_args__ = (sa.UniqueConstraint("session_id", "seq", name="uq_event_session_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="care_session.id", max_length=40, index=True)
    seq: int
    kind: str = Field(max_length=40)
    at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    actor: str = Field(max_length=64)
    device: str | None = Field(default=None, max_length=80)
    participant_id: str | None = Field(default=None, max_length=40)
    data: str = Field(sa_type=sa.Text)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class IdempotencyRecord(SQLModel, table=True):
    """The first answer to a POST with an Idempotency-Key, replayed for every repeat."""

    __tablename__ = "idempotency_key"

    username: str = Field(primary_key=True, max_length=64)
    key: str = Field(primary_key=True, max_length=128)
    fingerprint: str = Field(max_length=64)
    status_code: int
    body: str = Field(sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class SignIn(SQLModel, table=True):
    """One signed-in browser or client. Signing out revokes it, so a copied cookie stops working."""

    __tablename__ = "sign_in"

    id: str = Field(primary_key=True, max_length=64)
    username: str = Field(max_length=64, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class AccessLog(SQLModel, table=True):
    """Who signed in (or failed to), and who read or exported which participant's chart record."""

    __tablename__ = "access_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True), index=True)
    username: str = Field(max_length=64, index=True)
    action: str = Field(max_length=32)  # sign_in, chart_view, chart_export, ...
    outcome: str = Field(max_length=16)  # ok, failed, throttled
    client: str | None = Field(default=None, max_length=64)
    session_id: str | None = Field(default=None, max_length=40)
    participant_id: str | None = Field(default=None, max_length=40, index=True)
    detail: str | None = Field(default=None, max_length=200)
