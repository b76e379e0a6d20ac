"""The append-only event store: a per-session sequence, optimistic append, and a hash chain."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from app.domain import Event, upcast

from .tables import EventRecord

GENESIS = "0" * 64


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time in Holdspace is UTC-aware."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(prev_hash: str, record: EventRecord, data: Any) -> str:
    """The link of `record` in its session's chain: its envelope and its payload exactly as stored
    (`data`, parsed from the stored JSON), so an event keeps verifying whatever schema it was
    written in."""
    body = canonical_json(
        {
            "session_id": record.session_id,
            "seq": record.seq,
            "kind": record.kind,
            "at": as_utc(record.at).isoformat(timespec="microseconds"),
            "actor": record.actor,
            "device": record.device,
            "participant_id": record.participant_id,
            "data": data,
        }
    )
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def to_event(record: EventRecord) -> Event:
    """The typed event of a stored record. Its payload is upcast from whatever schema it was
    written in: the one place where old payloads are read. Raises ValueError when it fits none."""
    return Event(
        session_id=record.session_id,
        seq=record.seq,
        at=as_utc(record.at),
        actor=record.actor,
        payload=upcast(record.kind, json.loads(record.data)),
        participant_id=record.participant_id,
        device=record.device,
    )


def read_back(event: Event) -> Event:
    """`event` exactly as the log gives it back once appended (its payload through the stored
    JSON), without reading it: what a live stream sends of a commit it was told of."""
    payload = upcast(event.kind, json.loads(canonical_json(event.payload.stored())))
    return replace(event, at=as_utc(event.at), payload=payload)


def read_events(db: Session, session_id: str, after: int = 0, limit: int | None = None) -> list[Event]:
    query = (
        select(EventRecord)
        .where(EventRecord.session_id == session_id, EventRecord.seq > after)
        .order_by(EventRecord.seq)  # type: ignore[arg-type]
    )
    if limit is not None:
        query = query.limit(limit)
    return [to_event(r) for r in db.exec(query)]


def read_records(db: Session, session_id: str) -> Sequence[EventRecord]:
    return db.exec(select(EventRecord).where(EventRecord.session_id == session_id).order_by(EventRecord.seq)).all()  # type: ignore[arg-type]


def last_hash(db: Session, session_id: str, before_seq: int) -> str:
    if before_seq <= 1:
        return GENESIS
    row = db.exec(
        select(EventRecord.hash).where(EventRecord.session_id == session_id, EventRecord.seq == before_seq - 1)
    ).first()
    return row or GENESIS


def append(db: Session, events: Iterable[Event]) -> list[EventRecord]:
    """Add events after the session's last one. The caller commits; a clash on (session_id, seq)
    raises IntegrityError at flush and means another writer got there first. An event whose
    stored payload would not read back raises UnreadablePayload (a ValueError) and adds nothing."""
    records = []
    prev: str | None = None
    for event in events:
        if prev is None:
            prev = last_hash(db, event.session_id, event.seq)
        stored = event.payload.stored()
        record = EventRecord(
            session_id=event.session_id,
            seq=event.seq,
            kind=event.kind,
            at=as_utc(event.at),
            actor=event.actor,
            device=event.device,
            participant_id=event.participant_id,
            data=canonical_json(stored),
            prev_hash=prev,
        )
        # Never write what could not be read back: a payload with a field of the wrong type (a
        # None where the schema says text) would make the whole log unreadable later.
        upcast(event.kind, json.loads(record.data))
        record.hash = digest = event_hash(prev, record, stored)
        db.add(record)
        records.append(record)
        prev = digest
    db.flush()
    return records


def last_seq(db: Session, session_id: str) -> int:
    value = db.exec(select(sa.func.max(EventRecord.seq)).where(EventRecord.session_id == session_id)).one()
    return int(value or 0)


def verify_chain(records: Sequence[EventRecord], head: tuple[int, str] | None = None) -> tuple[int, str] | None:
    """The first broken link as (seq, why), or None when the chain is whole. With the session's
    recorded head (last seq and hash), a log that stops short of it has lost events at its end."""
    prev = GENESIS
    expected_seq = 1
    for record in records:
        if record.seq != expected_seq:
            return record.seq, f"expected event {expected_seq} here, found {record.seq} (removed or reordered)"
        if record.prev_hash != prev:
            return record.seq, "does not follow the event before it (removed, reordered or edited)"
        try:
            content = json.loads(record.data)
        except (TypeError, ValueError):
            return record.seq, "its data is not readable (edited)"
        if event_hash(prev, record, content) != record.hash:
            return record.seq, "its content does not match its hash (edited)"
        prev = record.hash
        expected_seq += 1
    if head is not None and (expected_seq - 1, prev) != head:
        last = expected_seq - 1
        if head[0] > last:
            return (
                last + 1,
                f"the log ends at event {last} but the session recorded {head[0]} (events removed from its end)",
            )
        return last, "the log's last event is not the one the session recorded (edited or replaced)"
    return None
