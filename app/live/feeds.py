"""One feed per room, per process: a change is read once, rendered once, and the same frames go to
every socket that shows the room.

This module knows rooms, versions, frames and sockets' outboxes; what a version looks like and how
it is read and rendered is the `Renderer` the web layer hands in (the live layer knows nothing of
templates or routes), and how a frame reaches a socket is the `Sink` the web layer hands in.

- A frame goes out from the feed's own loop to every socket whose transport takes it without
  waiting: no task and no task switch per socket. Only a socket that cannot take it now gets a
  sender task of its own, for as long as it has something to send, so a slow socket never
  delays the others; one whose send stalls for SEND_TIMEOUT_SECONDS is closed with 1013.
- A room socket's outbox keeps only the latest frame: a slow tablet skips versions it could not
  take in time, never builds a backlog, and reconnects to a fresh snapshot when closed.
- A JSON stream's outbox keeps every event frame in order (the stream promises each event once);
  past a bounded backlog it is closed with 1013 and the client resumes with `after_seq`.
- A commit of this process tells its room's feed its events and the session's state after them:
  the JSON streams get them with no read. A hint from another process (PostgreSQL's NOTIFY), or
  one that does not continue where the streams are, is read from the log after their cursor.
- The heartbeat is one small frame per room (server time and the room's seq): no read, no render.
- A version may change with time alone (a check-in falling due, a mute running out): the renderer
  names the next such moment and the feed re-renders once then.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool

from app.live.broker import MemoryBroker, room_channel
from app.live.outbox import (
    CLOSE_CLIENT_GONE,
    CLOSE_TOO_SLOW,
    EventFrame,
    Outbox,
    Sink,
    send_watch,
)

log = logging.getLogger("holdspace.live")

HEARTBEAT_SECONDS = 10.0
# A room changing faster than this is read and rendered once per interval (tablets need no more
# than four pictures a second in a burst; the JSON streams still get every event, in order).
MIN_REFRESH_SECONDS = 0.25


@dataclass(frozen=True)
class RoomVersion:
    """A room as one read (and render) saw it. `frame` is what every room socket gets, byte for
    byte; None while only JSON streams follow the room (they need the seq, not the HTML)."""

    session_id: str | None
    seq: int
    frame: str | None
    view: dict[str, Any] | None = None
    next_change_at: datetime | None = None
    rendered_at: datetime | None = None


class Renderer(Protocol):
    def room(self, room_id: str, previous: RoomVersion | None, force: bool, render: bool) -> RoomVersion: ...

    def event_frames(self, session_id: str, after: int) -> list[EventFrame]: ...

    def frames(self, session_id: str, events: list[Any], state: Any) -> list[EventFrame]:
        """The frames of events just committed, from the events and the new state (no read)."""
        ...

    def heartbeat(self, now: datetime, seq: int | None) -> str: ...

    def json_heartbeat(self, now: datetime) -> str: ...

    def alarms_heartbeat(self, now: datetime) -> str: ...

    def tile(self, room_id: str, version: RoomVersion) -> str: ...


Watcher = Callable[["Feed", str], None]


@dataclass(eq=False)
class Feed:
    hub: Hub
    room_id: str
    version: RoomVersion | None = None
    html: set[Outbox] = field(default_factory=set)
    json: set[Outbox] = field(default_factory=set)
    watchers: set[Watcher] = field(default_factory=set)
    json_cursor: dict[str, int] = field(default_factory=dict)
    presence_rev: int = 0
    renders: int = 0
    reads: int = 0  # trips to the database (a worker thread) for this room
    _dirty: bool = False
    _force: bool = False
    _reading: bool = False
    _task: asyncio.Task[None] | None = None
    _timer: asyncio.TimerHandle | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _tile: tuple[Any, str] | None = None
    _last_read: float = 0.0

    @property
    def empty(self) -> bool:
        return not (self.html or self.json or self.watchers)

    def hint(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "presence":
            # Which tablets are connected: only the overview tile shows it, and nothing is read.
            self.presence_rev += 1
            for watcher in list(self.watchers):
                watcher(self, "presence")
            return
        if kind == "session":
            if self._forward(message):
                return
            version = self.version
            if (
                version is not None
                and version.session_id is not None
                and message.get("session_id") == version.session_id
                and isinstance(message.get("seq"), int)
                and message["seq"] <= version.seq
            ):
                return  # already shown (our own commit, heard again through the database)
        self.refresh(force=kind == "resync")

    def _forward(self, message: dict[str, Any]) -> bool:
        """A commit of this process carries its events and the session's new state: the JSON
        streams get them encoded once, with no read at all. True when nothing is left to do (only
        JSON streams follow the room); a room screen still gets its render. Anything that does not
        continue exactly where the streams are (a gap, a read in flight) takes the reading path."""
        events, state = message.get("events"), message.get("state")
        version = self.version
        if not events or state is None or version is None or not self.json or self._reading:
            return False
        session_id = message.get("session_id")
        if session_id == version.session_id and session_id in self.json_cursor:
            after = self.json_cursor[session_id]
        elif version.session_id is None and events[0].seq == 1:
            after = 0  # a session opened in this room
        else:
            return False
        if events[0].seq != after + 1:
            return False
        try:
            frames = self.hub.renderer.frames(session_id, events, state)
        except Exception:  # then the log is read, as for any other hint
            log.exception("could not encode a commit's events for the live streams")
            return False
        for outbox in list(self.json):
            outbox.put_events(frames)
        self.json_cursor[session_id] = events[-1].seq
        if self.renders_html:
            self.refresh()  # the room's screens: one read and render, as always
        elif state.closed_at is None:
            self.version = RoomVersion(session_id, state.seq, None)
        else:  # the room has no live session now
            self.version = RoomVersion(None, 0, None)
            del self.json_cursor[session_id]
        return True

    def refresh(self, force: bool = False) -> None:
        self._dirty = True
        self._force = self._force or force
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    @property
    def renders_html(self) -> bool:
        return bool(self.html or self.watchers)

    async def ready(self, html: bool = True) -> RoomVersion:
        """The current version, rendered if `html` (a first screen of a room only JSON streams
        followed has it rendered now)."""
        while self.version is None or (html and self.version.frame is None):
            changed = self._changed
            self.refresh(force=self.version is not None)
            await changed.wait()
        return self.version

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._dirty:
            wait = self._last_read + MIN_REFRESH_SECONDS - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)  # a burst of changes: one read and render for all of it
            self._last_read = loop.time()
            self._dirty = False
            force, self._force = self._force, False
            previous = self.version
            cursor = dict(self.json_cursor) if self.json else None
            self._reading = True
            self.reads += 1
            try:
                # One trip to a worker thread: the room's version and, for JSON streams, its events.
                version, batches = await run_in_threadpool(self._read, previous, force, self.renders_html, cursor)
            except Exception:  # a passing database error: screens keep the last version and retry
                log.exception("live feed for a room failed to refresh")
                await asyncio.sleep(1.0)
                self._dirty = True
                continue
            finally:
                self._reading = False
            self._schedule(version.next_change_at)
            frames = self._take_events(version, batches) if self.json else []
            if version is previous:
                if frames:
                    for outbox in list(self.json):
                        outbox.put_events(frames)
                continue
            self.version = version
            if version.frame is not None:
                self.renders += 1
            self._changed.set()
            self._changed = asyncio.Event()
            if version.frame is not None:
                for outbox in list(self.html):
                    outbox.put(version.frame)
            if frames:
                for outbox in list(self.json):
                    outbox.put_events(frames)
            for watcher in list(self.watchers):
                watcher(self, "room")

    def _read(
        self, previous: RoomVersion | None, force: bool, render: bool, cursor: dict[str, int] | None
    ) -> tuple[RoomVersion, dict[str, list[EventFrame]]]:
        """On a worker thread: the room's version and the events after the streams' cursor (a
        copy: the cursor itself is kept on the event loop)."""
        version = self.hub.renderer.room(self.room_id, previous, force, render)
        batches: dict[str, list[EventFrame]] = {}
        if cursor is None:
            return version, batches
        sessions = [s for s in (previous.session_id if previous else None, version.session_id) if s]
        for session_id in dict.fromkeys(sessions):
            after = cursor.get(session_id, 0)
            if session_id == version.session_id and after >= version.seq:
                continue  # the streams have it all already (from the commit's own hint)
            batches[session_id] = self.hub.renderer.event_frames(session_id, after)
        return version, batches

    def _take_events(self, version: RoomVersion, batches: dict[str, list[EventFrame]]) -> list[EventFrame]:
        """What the read found beyond the streams' cursor, in order (a session that ended still
        owes its last events: the close itself)."""
        frames: list[EventFrame] = []
        for session_id, batch in batches.items():
            after = self.json_cursor.get(session_id, 0)
            fresh = [f for f in batch if f.seq > after]
            seqs = [f.seq for f in fresh if not f.follows]
            if seqs:
                frames.extend(fresh)
                self.json_cursor[session_id] = max(seqs)
        for session_id in list(self.json_cursor):
            if session_id != version.session_id:
                del self.json_cursor[session_id]
        return frames

    def _schedule(self, at: datetime | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if at is None:
            return
        delay = max(0.05, (at - self.hub.clock()).total_seconds() + 0.05)
        self._timer = asyncio.get_running_loop().call_later(delay, self.refresh, True)

    async def tile(self) -> str:
        """The overview's tile for this room, rendered once per version and presence change."""
        version = await self.ready(html=True)
        key = (version, self.presence_rev)
        if self._tile is None or self._tile[0] != key:
            html = await run_in_threadpool(self.hub.renderer.tile, self.room_id, version)
            self._tile = (key, html)
        return self._tile[1]

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None:
            self._task.cancel()


class Hub:
    """Every feed of this process, and the one heartbeat for all of their sockets."""

    def __init__(self, broker: MemoryBroker, renderer: Renderer, clock: Callable[[], datetime]) -> None:
        self.broker = broker
        self.renderer = renderer
        self.clock = clock
        self.feeds: dict[str, Feed] = {}
        self.others: dict[Outbox, str] = {}  # JSON, overview and alarm-list outboxes: "json", "html", "alarms"
        self._heart: asyncio.Task[None] | None = None

    # ---------------------------------------------------------------- feeds

    def feed(self, room_id: str) -> Feed:
        feed = self.feeds.get(room_id)
        if feed is None:
            feed = Feed(self, room_id)
            self.feeds[room_id] = feed
            self.broker.listen(room_channel(room_id), feed.hint)
        self._start_heart()
        return feed

    def release(self, feed: Feed) -> None:
        if feed.empty and self.feeds.get(feed.room_id) is feed:
            del self.feeds[feed.room_id]
            self.broker.unlisten(room_channel(feed.room_id), feed.hint)
            feed.stop()

    async def join_room(self, room_id: str, outbox: Outbox) -> RoomVersion:
        feed = self.feed(room_id)
        feed.html.add(outbox)
        return await feed.ready(html=True)

    def leave_room(self, room_id: str, outbox: Outbox) -> None:
        feed = self.feeds.get(room_id)
        if feed is not None:
            feed.html.discard(outbox)
            self.release(feed)

    async def join_json(self, room_ids: list[str], outbox: Outbox) -> None:
        """Before the socket reads its snapshot: every event after the feeds' cursors reaches it."""
        for room_id in room_ids:
            feed = self.feed(room_id)
            version = await feed.ready(html=False)
            if version.session_id is not None and version.session_id not in feed.json_cursor:
                feed.json_cursor[version.session_id] = version.seq
            feed.json.add(outbox)
        self.others[outbox] = "json"
        self._start_heart()  # a stream of no room still hears the heartbeat

    def leave_json(self, room_ids: list[str], outbox: Outbox) -> None:
        self.others.pop(outbox, None)
        for room_id in room_ids:
            feed = self.feeds.get(room_id)
            if feed is not None:
                feed.json.discard(outbox)
                if not feed.json:
                    feed.json_cursor.clear()
                self.release(feed)

    def watch(self, room_ids: list[str], outbox: Outbox, watcher: Watcher, heartbeat: str = "html") -> list[Feed]:
        """`heartbeat` names the frame the outbox hears when nothing changes ("html": the page's
        live status; "alarms": the alarm list's own, which leaves the page's status alone)."""
        feeds = []
        for room_id in room_ids:
            feed = self.feed(room_id)
            feed.watchers.add(watcher)
            feeds.append(feed)
        self.others[outbox] = heartbeat
        self._start_heart()
        return feeds

    def unwatch(self, room_ids: list[str], outbox: Outbox, watcher: Watcher) -> None:
        self.others.pop(outbox, None)
        for room_id in room_ids:
            feed = self.feeds.get(room_id)
            if feed is not None:
                feed.watchers.discard(watcher)
                self.release(feed)

    # ---------------------------------------------------------------- heartbeat and shutdown

    def _start_heart(self) -> None:
        loop = asyncio.get_running_loop()
        if self._heart is None or self._heart.done() or self._heart.get_loop() is not loop:
            self._heart = loop.create_task(self._beat_forever())

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            self.beat()

    def beat(self) -> None:
        """One small frame per room and one for the rest: server time and the room's seq."""
        now = self.clock()
        for feed in list(self.feeds.values()):
            if feed.html:
                frame = self.renderer.heartbeat(now, feed.version.seq if feed.version else None)
                for outbox in list(feed.html):
                    outbox.put_heartbeat(frame)
        plain = {
            "json": self.renderer.json_heartbeat(now),
            "html": self.renderer.heartbeat(now, None),
            "alarms": self.renderer.alarms_heartbeat(now),
        }
        for outbox, kind in list(self.others.items()):
            outbox.put_heartbeat(plain[kind])

    def close_all(self, code: int) -> None:
        for feed in list(self.feeds.values()):
            for outbox in list(feed.html) + list(feed.json):
                outbox.close(code)
            feed.stop()
        for outbox in list(self.others):
            outbox.close(code)
        if self._heart is not None:
            self._heart.cancel()

    @property
    def sockets(self) -> int:
        return sum(len(f.html) for f in self.feeds.values()) + len(self.others)


__all__ = [
    "Feed",
    "Hub",
    "Outbox",
    "EventFrame",
    "Renderer",
    "RoomVersion",
    "Sink",
    "CLOSE_TOO_SLOW",
    "CLOSE_CLIENT_GONE",
    "send_watch",
]
