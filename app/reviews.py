"""Reading the afterwards: session reviews, replay states and the clinic's response report.

Every figure is the domain's fold of a session's log (`app/domain/review.py`). A closed session's
review depends only on its log, so it is kept in a bounded cache (least recently used first out)
keyed by the session and its last event number, and a session that gains an event (a follow-up
closed later) is folded again.

The report never folds a closed session: it reads the figures the report projection keeps for it
(`app/store/report.py`, written in the transaction of every append to a closed session), and folds
only the sessions still open in its range (a few). Follow-up states are worked out at the time of
asking, so an overdue one never hides in a cache or a projection.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select

from app.domain import SessionState
from app.domain.followups import reached_admins
from app.domain.model import Followup
from app.domain.report import ResponseReport, SessionFigures, response_report, session_figures
from app.domain.review import SessionReview, fold_to, review
from app.services import Services
from app.store import people
from app.store import report as report_store
from app.store.db import unit_of_work
from app.store.tables import CareSession, Room, User

REVIEW_CACHE_SIZE = 4096
# The longest range one report covers; a wider question is asked in parts.
REPORT_MAX_DAYS = 366


class NotVisible(Exception):
    """The session does not exist for this user (answered 404, as if it did not exist)."""


@dataclass(frozen=True)
class ReviewScope:
    """What a user may read afterwards, by the access rules: a session's lead and the clinic's
    admins read its review, replay and report; facilitators of the session may read its review."""

    user: User

    def may_review(self, row: CareSession, room: Room, state: SessionState) -> bool:
        if self.user.role == "admin":
            return True
        if self.may_replay(row, room, state):
            return True
        return self.user.username in state.facilitators and self.user.role in ("facilitator", "lead")

    def may_replay(self, row: CareSession, room: Room, state: SessionState) -> bool:
        if self.user.role == "admin":
            return True
        if self.user.role != "lead":
            return False
        return state.lead == self.user.username or room.lead == self.user.username

    @property
    def may_report(self) -> bool:
        return self.user.role in ("admin", "lead")


class Reviews:
    def __init__(self, services: Services, cache_size: int = REVIEW_CACHE_SIZE) -> None:
        self.services = services
        self.cache_size = cache_size
        self._cache: OrderedDict[str, SessionReview] = OrderedDict()
        self._lock = threading.Lock()

    # ------------------------------------------------------------ one session

    def _row(self, session_id: str) -> tuple[CareSession, Room]:
        with unit_of_work(self.services.engine) as db:
            row = db.get(CareSession, session_id)
            room = db.get(Room, row.room_id) if row else None
        if row is None or room is None:
            raise NotVisible(session_id)
        return row, room

    def visible(self, user: User, session_id: str, replay: bool = False) -> tuple[CareSession, Room, SessionState]:
        row, room = self._row(session_id)
        state = self.services.state(session_id)
        scope = ReviewScope(user)
        allowed = scope.may_replay(row, room, state) if replay else scope.may_review(row, room, state)
        if not allowed:
            raise NotVisible(session_id)
        return row, room, state

    def visible_replay(self, user: User, session_id: str) -> bool:
        try:
            self.visible(user, session_id, replay=True)
        except NotVisible:
            return False
        return True

    def recent_reviewable(self, user: User, limit: int = 12) -> list[dict[str, object]]:
        """The latest closed sessions whose review `user` may read, newest first (for the rooms page)."""
        scope = ReviewScope(user)
        with unit_of_work(self.services.engine) as db:
            rows = list(
                db.exec(
                    select(CareSession)
                    .where(CareSession.closed_at.is_not(None))  # type: ignore[union-attr]
                    .order_by(CareSession.opened_at.desc())  # type: ignore[attr-defined]
                    .limit(200)
                )
            )
            rooms = {room.id: room for room in db.exec(select(Room))}
        found: list[dict[str, object]] = []
        for row in rows:
            room = rooms.get(row.room_id)
            if room is None or not scope.may_review(row, room, self.services.state(row.id)):
                continue
            found.append({"id": row.id, "room": room.name, "opened_at": row.opened_at, "lead": row.lead})
            if len(found) >= limit:
                break
        return found

    def review(self, session_id: str) -> SessionReview:
        """The session's review as of now (folded again only when its log has grown, once closed)."""
        now = self.services.clock()
        with self._lock:
            cached = self._cache.get(session_id)
        head = self.services.state(session_id)
        if cached is not None and cached.seq == head.seq and head.closed_at is not None:
            with self._lock:
                self._cache.move_to_end(session_id)
            return cached
        found = review(session_id, self.services.events(session_id), now, self.services.policy)
        if found.closed_at is not None:
            with self._lock:
                self._cache[session_id] = found
                self._cache.move_to_end(session_id)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return found

    def state_at(self, session_id: str, at_seq: int | None) -> SessionState:
        return fold_to(session_id, self.services.events(session_id), at_seq)

    # ------------------------------------------------------------ the clinic

    def sessions_for_report(self, user: User, start: datetime, end: datetime) -> list[CareSession]:
        with unit_of_work(self.services.engine) as db:
            query = (
                select(CareSession)
                .where(CareSession.opened_at >= start)  # type: ignore[arg-type]
                .where(CareSession.opened_at < end)  # type: ignore[arg-type]
                .order_by(CareSession.opened_at)  # type: ignore[arg-type]
            )
            rows = list(db.exec(query))
            if user.role == "admin":
                return rows
            led = {room.id for room in people.rooms_for(db, user) if room.lead == user.username}
        return [row for row in rows if row.lead == user.username or row.room_id in led]

    def _projected(self, start: datetime, end: datetime) -> dict[str, SessionFigures]:
        with unit_of_work(self.services.engine) as db:
            return report_store.read(db, start, end)

    def report_figures(self, rows: list[CareSession], start: datetime, end: datetime) -> list[SessionFigures]:
        """Each session's figures, in the order of `rows`: a closed session's from the projection
        (caught up first if it is missing or behind the log), an open one's folded now."""
        projected = self._projected(start, end)

        def behind(row: CareSession) -> bool:
            found = projected.get(row.id)
            return found is None or found.seq < row.head_seq

        stale = [row.id for row in rows if row.closed_at is not None and behind(row)]
        if stale:
            for session_id in stale:
                self.services.catch_up_report(session_id)
            projected = self._projected(start, end)
        return [
            projected[row.id]
            if row.closed_at is not None and row.id in projected
            else session_figures(self.review(row.id))
            for row in rows
        ]

    def report(self, user: User, start: datetime, end: datetime) -> ResponseReport:
        rows = self.sessions_for_report(user, start, end)
        figures = self.report_figures(rows, start, end)
        return response_report(figures, start, end, self.services.clock(), self.services.policy)

    def admins_followups(self) -> list[tuple[SessionState, Followup]]:
        """Open follow-ups that are the clinic's admins' now: about a lead's own conduct, or overdue
        long enough to have climbed past the session's lead. Only the sessions that have an open
        follow-up (from the open_item projection) are read."""
        now, policy = self.services.clock(), self.services.policy
        found = []
        with_open = {item.session_id for item in self.services.open_items("followup")}
        with unit_of_work(self.services.engine) as db:
            rows = db.exec(
                select(CareSession.id)
                .where(CareSession.id.in_(with_open))  # type: ignore[attr-defined]
                .order_by(CareSession.opened_at)  # type: ignore[arg-type]
            ).all()
        for session_id in rows:
            state = self.services.state(session_id)
            for followup in state.followups.values():
                if followup.open and reached_admins(followup, now, policy):
                    found.append((state, followup))
        return sorted(found, key=lambda pair: pair[1].due_at)

    def room_names(self) -> dict[str, str]:
        with unit_of_work(self.services.engine) as db:
            return {room.id: room.name for room in db.exec(select(Room))}
