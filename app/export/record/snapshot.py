"""Gathering: one consistent read of a session's log (its events folded into the state, its hash
chain checked), and the record's shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from app.domain import Event, SessionState, evolve
from app.domain import events as ev
from app.domain.vocabulary import SCALE_RANGES, VITAL_RANGES
from app.store.db import unit_of_work
from app.store.events import GENESIS, read_records, to_event, verify_chain
from app.store.tables import CareSession, Room

FORMAT = "holdspace-chart-record/1"
PARTNER = "training partner"
OTHER = "another participant"
DISCLAIMER = "Holdspace supports clinical judgement; it does not replace it."
VITAL_NAMES = tuple(VITAL_RANGES)
SCALE_NAMES = tuple(SCALE_RANGES)
# Events that carry no participant but belong on every participant's timeline.
SESSION_EVENTS_ON_TIMELINE = (ev.SessionOpened, ev.SessionClosed, ev.FacilitatorCheckedIn, ev.FacilitatorCheckedOut)


class RecordNotFound(LookupError):
    """The session or the participant is not on the record."""


@dataclass(frozen=True)
class Snapshot:
    """One consistent read of a session's log: its events, the state they fold into, the hash
    of its last event, and the first break in its hash chain (if any)."""

    session_id: str
    events: tuple[Event, ...]
    state: SessionState
    last_event_seq: int
    last_event_hash: str
    chain_problem: tuple[int, str] | None
    room_name: str | None = None
    unreadable: tuple[int, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class ChartRecord:
    """A participant's chart record: `data` is the JSON-ready whole (treat it as read-only)."""

    data: dict[str, Any]

    @property
    def chart_id(self) -> str:
        return str(self.data["participant"]["chart_id"])

    @property
    def session_id(self) -> str:
        return str(self.data["session"]["id"])

    @property
    def last_event_hash(self) -> str:
        return str(self.data["last_event_hash"])

    def __getitem__(self, key: str) -> Any:
        return self.data[key]


def load_snapshot(engine: Engine, session_id: str) -> Snapshot:
    """Read the session's whole log once and fold it. Raises RecordNotFound for an empty log."""
    with unit_of_work(engine) as db:
        records = list(read_records(db, session_id))
        events: list[Event] = []
        unreadable: list[int] = []
        for record in records:
            try:
                event = to_event(record)
            except ValueError:
                unreadable.append(record.seq)
                continue
            if not unreadable:  # the record ends at the first event that no longer reads
                events.append(event)
        row = db.get(CareSession, session_id)
        head = (row.head_seq, row.head_hash) if row is not None else None
        problem = verify_chain(records, head) if records else None
        if unreadable and problem is None:  # pragma: no cover - verify_chain reports these itself
            problem = (unreadable[0], "its data is not readable (edited)")
        last = records[-1] if records else None
        state = SessionState(session_id=session_id)
        folded: list[Event] = []
        for event in events:  # an edited event that no longer folds ends the readable record
            try:
                state = evolve(state, event)
            except (KeyError, TypeError, ValueError):
                problem = problem or (event.seq, "its data no longer fits the record (edited)")
                break
            folded.append(event)
        events = folded
        room = db.get(Room, state.room_id) if state.room_id else None
        room_name = room.name if room is not None else None
    if last is None or not state.opened:
        raise RecordNotFound(f"session {session_id} has no record")
    return Snapshot(
        session_id=session_id,
        events=tuple(events),
        state=state,
        last_event_seq=last.seq,
        last_event_hash=last.hash or GENESIS,
        chain_problem=problem,
        room_name=room_name,
        unreadable=tuple(unreadable),
    )
