"""Use cases: load a session's state, let the domain decide, append in one unit of work, publish.

Every write goes through `Services.execute`, so idempotency, optimistic concurrency, the record
of refused attempts and the live wake-up are handled once, here.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.domain import (
    Actor,
    Context,
    Event,
    InvalidInput,
    Policy,
    RuleViolation,
    SessionState,
    decide,
    evolve,
    next_deadline,
    refusal,
)
from app.domain import (
    commands as c,
)
from app.domain.events import SessionClosed
from app.domain.report import session_figures
from app.domain.review import review
from app.live.broker import ALL_ROOMS, STEP_THREE, MemoryBroker, room_channel
from app.live.pg_notify import notify_statement
from app.store import events as event_store
from app.store import report as report_store
from app.store.db import unit_of_work
from app.store.events import canonical_json
from app.store.tables import CareSession, IdempotencyRecord, OpenItem, ReportSession, Room

log = logging.getLogger("holdspace.services")

SYSTEM = Actor("system", "system")
MAX_ATTEMPTS = 8
# Session states kept in memory, least recently used dropped first: enough for every live room of
# a clinic several times over; a past session read again is rebuilt from its log.
STATE_CACHE_SIZE = 256

OpenItems = frozenset[tuple[str, str, int, datetime | None]]


def open_items(state: SessionState) -> OpenItems:
    """(kind, id, step, due) of the session's open follow-ups and escalations: what open_item holds."""
    items = {("escalation", e.id, e.step, None) for e in state.escalations.values() if e.open}
    items |= {("followup", f.id, 0, f.due_at) for f in state.followups.values() if f.open}
    return frozenset(items)


STATUS_FOR_CODE = {
    "not_found": 404,
    "forbidden": 403,
    "validation_error": 422,
    "idempotency_key_reused": 422,
    "presence_not_attested": 403,
    "wrong_pin": 403,
    "wrong_password": 403,
}


def status_for(code: str) -> int:
    return STATUS_FOR_CODE.get(code, 409)


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Idempotency:
    username: str
    key: str
    fingerprint: str


@dataclass
class Outcome:
    status: int
    body: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    replayed: bool = False

    @property
    def ok(self) -> bool:
        return self.status < 400


class ServiceError(Exception):
    """A request that cannot be carried out, in the API's error terms (not a domain refusal)."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


Answer = Callable[[SessionState, list[Event]], tuple[int, dict[str, Any]]]


def _default_answer(state: SessionState, events: list[Event]) -> tuple[int, dict[str, Any]]:
    return 200, {"seq": state.seq, "events": [e.seq for e in events]}


class Services:
    def __init__(
        self,
        engine: Engine,
        write_engine: Engine,
        policy: Policy,
        broker: MemoryBroker,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.write_engine = write_engine
        self.policy = policy
        self.broker = broker
        self.clock = clock
        self._cache: OrderedDict[str, SessionState] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.cache_size = STATE_CACHE_SIZE

    # ------------------------------------------------------------ reading

    def _load(self, db: Session, session_id: str) -> SessionState:
        with self._cache_lock:
            state = self._cache.get(session_id) or SessionState(session_id=session_id)
        for event in event_store.read_events(db, session_id, after=state.seq):
            state = evolve(state, event)
        self._remember(state)
        return state

    def _remember(self, state: SessionState) -> None:
        with self._cache_lock:
            cached = self._cache.get(state.session_id)
            if cached is None or cached.seq < state.seq:
                self._cache[state.session_id] = state
            self._cache.move_to_end(state.session_id)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    @property
    def cached_sessions(self) -> int:
        with self._cache_lock:
            return len(self._cache)

    def state(self, session_id: str) -> SessionState:
        """The session's state as of its last committed event (cached, completed from the log)."""
        with unit_of_work(self.engine) as db:
            return self._load(db, session_id)

    def events(self, session_id: str, after: int = 0, limit: int | None = None) -> list[Event]:
        with unit_of_work(self.engine) as db:
            return event_store.read_events(db, session_id, after=after, limit=limit)

    def care_session(self, session_id: str) -> CareSession | None:
        with unit_of_work(self.engine) as db:
            return db.get(CareSession, session_id)

    def live_sessions(self) -> list[CareSession]:
        with unit_of_work(self.engine) as db:
            return list(db.exec(select(CareSession).where(CareSession.live_room_id.is_not(None))))  # type: ignore[union-attr]

    def all_sessions(self) -> list[CareSession]:
        with unit_of_work(self.engine) as db:
            return list(db.exec(select(CareSession).order_by(CareSession.opened_at)))  # type: ignore[arg-type]

    def sessions_in_rooms(self, room_ids: list[str], live_only: bool = True) -> list[CareSession]:
        """Sessions held in the given rooms (only the live ones unless told otherwise)."""
        if not room_ids:
            return []
        with unit_of_work(self.engine) as db:
            query = select(CareSession).where(CareSession.room_id.in_(room_ids))  # type: ignore[attr-defined]
            if live_only:
                query = query.where(CareSession.live_room_id.is_not(None))  # type: ignore[union-attr]
            return list(db.exec(query.order_by(CareSession.opened_at)))  # type: ignore[arg-type]

    def open_items(
        self,
        kind: str,
        room_ids: list[str] | None = None,
        min_step: int = 0,
        exclude_rooms: list[str] | None = None,
    ) -> list[OpenItem]:
        """Open follow-ups or escalations from the projection (never by folding past sessions)."""
        with unit_of_work(self.engine) as db:
            behind = select(CareSession.id).where(CareSession.projected_seq != CareSession.head_seq)
            if room_ids is not None:
                behind = behind.where(CareSession.room_id.in_(room_ids))  # type: ignore[attr-defined]
            stale = list(db.exec(behind))
        for session_id in stale:
            self._catch_up(session_id)
        with unit_of_work(self.engine) as db:
            query = select(OpenItem).where(OpenItem.kind == kind)
            if room_ids is not None:
                query = query.where(OpenItem.room_id.in_(room_ids))  # type: ignore[attr-defined]
            if exclude_rooms:
                query = query.where(OpenItem.room_id.not_in(exclude_rooms))  # type: ignore[attr-defined]
            if min_step:
                query = query.where(OpenItem.step >= min_step)
            return list(db.exec(query))

    def _catch_up(self, session_id: str) -> None:
        """Project a session recorded before open_item existed (once)."""
        with unit_of_work(self.write_engine) as db:
            row = db.get(CareSession, session_id)
            if row is None or row.projected_seq == row.head_seq:
                return
            state = self._load(db, session_id)
            self._project(db, row, None, state)
            db.commit()

    @staticmethod
    def _project(db: Session, row: CareSession, before: SessionState | None, after: SessionState) -> None:
        """Keep open_item equal to the session's open items, in the caller's transaction."""
        items = open_items(after)
        if before is None or open_items(before) != items or row.projected_seq != before.seq:
            for old in db.exec(select(OpenItem).where(OpenItem.session_id == row.id)):
                db.delete(old)
            db.flush()
            for kind, item_id, step, due in sorted(items, key=lambda i: (i[0], i[1])):
                db.add(
                    OpenItem(session_id=row.id, kind=kind, item_id=item_id, room_id=row.room_id, step=step, due_at=due)
                )
        row.projected_seq = after.seq
        db.add(row)

    def _project_report(self, db: Session, session_id: str, now: datetime) -> None:
        """Keep a closed session's report figures at its last event, in the caller's transaction.

        The figures are the review's (`app/domain/review.py`), folded from the whole log: once, when
        the session closes, and again for each of the few events a closed session still gets (a
        follow-up opened or closed afterwards)."""
        found = review(session_id, event_store.read_events(db, session_id), now, self.policy)
        report_store.write(db, session_figures(found))

    def catch_up_report(self, session_id: str) -> None:
        """Project a closed session whose report figures are missing or behind its log (one recorded
        before the projection existed, or written by an older release after the upgrade)."""
        with unit_of_work(self.write_engine) as db:
            query = select(CareSession).where(CareSession.id == session_id)
            if db.get_bind().dialect.name == "postgresql":
                query = query.with_for_update()
            row = db.exec(query).first()
            if row is None or row.closed_at is None:
                return
            projected = db.get(ReportSession, session_id)
            if projected is not None and projected.seq == row.head_seq:
                return
            self._project_report(db, session_id, self.clock())
            db.commit()

    def forget(self, session_id: str | None = None) -> None:
        """Drop cached state (all of it with no argument): the next read rebuilds it from the log."""
        with self._cache_lock:
            if session_id is None:
                self._cache.clear()
            else:
                self._cache.pop(session_id, None)

    # ------------------------------------------------------------ writing

    def open_session(
        self,
        actor: Actor,
        room: Room,
        kind: str,
        facilitators: list[str],
        lead: str,
        idempotency: Idempotency | None = None,
        answer: Answer | None = None,
        device: str | None = None,
    ) -> Outcome:
        session_id = secrets.token_hex(8)
        command = c.OpenSession(room_id=room.id, kind=kind, facilitators=tuple(facilitators), lead=lead)
        return self.execute(
            session_id, command, actor, device=device, idempotency=idempotency, answer=answer, new_room=room
        )

    def execute(
        self,
        session_id: str,
        command: c.Command,
        actor: Actor,
        *,
        device: str | None = None,
        idempotency: Idempotency | None = None,
        answer: Answer | None = None,
        new_room: Room | None = None,
    ) -> Outcome:
        """Decide and append in one transaction; retry when another writer took the next number.

        A rule's refusal is appended as `command_refused` and answered with its code. Malformed input
        raises InvalidInput and leaves no trace. With an idempotency key, a repeat gets the first
        answer and appends nothing.
        """
        answer = answer or _default_answer
        for _attempt in range(MAX_ATTEMPTS):
            with unit_of_work(self.write_engine) as db:
                if db.get_bind().dialect.name == "postgresql":
                    # Writers to one session queue on its row (as BEGIN IMMEDIATE does on SQLite);
                    # the unique (session_id, seq) stays the guarantee if anything slips past.
                    db.exec(select(CareSession.id).where(CareSession.id == session_id).with_for_update())  # type: ignore[call-overload]
                if idempotency is not None:
                    replay = self._replay(db, idempotency)
                    if replay is not None:
                        return replay
                state = self._load(db, session_id)
                ctx = Context(actor=actor, now=self.clock(), policy=self.policy, device=device)
                try:
                    events = decide(state, command, ctx)
                    violation = None
                except RuleViolation as refused:
                    violation = refused
                    if not state.opened:
                        raise ServiceError(404, refused.code, refused.message, refused.details) from None
                    events = refusal(state, command, refused, ctx)
                new_state = state
                for event in events:
                    new_state = evolve(new_state, event)
                if violation is None:
                    status, body = answer(new_state, events)
                else:
                    status = status_for(violation.code)
                    body = error_body(violation.code, violation.message, violation.details)
                try:
                    if new_room is not None and violation is None:
                        db.add(
                            CareSession(
                                id=session_id,
                                room_id=new_room.id,
                                live_room_id=new_room.id,
                                kind=new_state.kind,
                                lead=new_state.lead,
                                opened_at=ctx.now,
                            )
                        )
                        db.flush()
                    if any(isinstance(e.payload, SessionClosed) for e in events):
                        row = db.get(CareSession, session_id)
                        if row is not None:
                            row.live_room_id = None
                            row.closed_at = ctx.now
                            db.add(row)
                    if events:
                        appended = event_store.append(db, events)
                        head = db.get(CareSession, session_id)
                        if head is not None:
                            head.head_seq, head.head_hash = appended[-1].seq, appended[-1].hash
                            self._project(db, head, state, new_state)
                            if new_state.closed_at is not None:
                                self._project_report(db, session_id, ctx.now)
                            db.add(head)
                    if events and db.get_bind().dialect.name == "postgresql":
                        # Delivered to every app process on commit, and never if this rolls back.
                        channels, message = self._hint(new_state, events)
                        statement, params = notify_statement(channels, {**message, "origin": self.broker.origin})
                        db.exec(statement, params=params)  # type: ignore[call-overload]
                    if idempotency is not None:
                        db.add(
                            IdempotencyRecord(
                                username=idempotency.username,
                                key=idempotency.key,
                                fingerprint=idempotency.fingerprint,
                                status_code=status,
                                body=canonical_json(body),
                            )
                        )
                    db.commit()
                except IntegrityError:
                    db.rollback()
                    if new_room is not None and self._room_busy(new_room.id):
                        raise ServiceError(
                            409, "room_busy", "This room already has a live session.", {"room_id": new_room.id}
                        ) from None
                    continue
            self._remember(new_state)
            if events:
                self._publish(new_state, events)
            if violation is not None:
                log.info("refused %s: %s (session %s)", command.name, violation.code, session_id)
            return Outcome(status, body, events)
        raise ServiceError(409, "conflict", "The session changed too often while saving; please try again.")

    def _room_busy(self, room_id: str) -> bool:
        with unit_of_work(self.engine) as db:
            return db.exec(select(CareSession).where(CareSession.live_room_id == room_id)).first() is not None

    def _replay(self, db: Session, idempotency: Idempotency) -> Outcome | None:
        record = db.get(IdempotencyRecord, (idempotency.username, idempotency.key))
        if record is None:
            return None
        if record.fingerprint != idempotency.fingerprint:
            raise ServiceError(
                422,
                "idempotency_key_reused",
                "This Idempotency-Key was already used for a different request.",
            )
        return Outcome(record.status_code, json.loads(record.body), replayed=True)

    @staticmethod
    def _hint(state: SessionState, events: list[Event]) -> tuple[list[str], dict[str, Any]]:
        message = {"type": "session", "session_id": state.session_id, "room_id": state.room_id, "seq": state.seq}
        channels = [room_channel(state.room_id), ALL_ROOMS]
        if any("escalation" in e.kind or e.kind == "alarm_muted" for e in events) or any(
            e.step >= 3 for e in state.open_escalations
        ):
            # Screens beyond the room hear of alarms that reach (or leave) step 3.
            channels.append(STEP_THREE)
        return channels, message

    def _publish(self, state: SessionState, events: list[Event]) -> None:
        # Local screens hear at once, and with the committed events and the state after them, so
        # a live stream sends them without reading them back. Other processes hear through the
        # database's NOTIFY, which names the session only (and they read).
        channels, message = self._hint(state, events)
        self.broker.publish(channels, {**message, "events": events, "state": state})

    # ------------------------------------------------------------ the clock

    def tick_due(self) -> list[str]:
        """Send Tick to every live session whose next deadline has come. Returns their ids."""
        fired = []
        now = self.clock()
        for row in self.live_sessions():
            state = self.state(row.id)
            deadline = next_deadline(state, self.policy)
            if deadline is not None and deadline <= now:
                outcome = self.execute(row.id, c.Tick(), SYSTEM)
                if outcome.events:
                    fired.append(row.id)
        return fired

    def next_deadline(self) -> datetime | None:
        deadlines = [next_deadline(self.state(row.id), self.policy) for row in self.live_sessions()]
        present = [d for d in deadlines if d is not None]
        return min(present) if present else None


__all__ = [
    "Idempotency",
    "InvalidInput",
    "Outcome",
    "ServiceError",
    "Services",
    "SYSTEM",
    "error_body",
    "status_for",
]
