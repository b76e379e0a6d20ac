"""One feed per room, per process: a change is read once, rendered once, and the same frames go to
every socket that shows the room.

This module knows rooms, versions, frames and sockets' outboxes; what a version looks like and how
it is read and rendered is the `Renderer` the web layer hands in (the live layer knows nothing of
templates or routes).

- A room socket's outbox keeps only the latest frame: a slow tablet skips versions it could not
  take in time, never builds a backlog, and one whose send stalls is closed by its handler (1013)
  so it reconnects to a fresh snapshot.
- A JSON stream's outbox keeps every event frame in order (the stream promises each event once);
  past a bounded backlog it is closed the same way and the client resumes with `after_seq`.
- The heartbeat is one small frame per room (server time and the room's seq): no read, no render.
- A version may change with time alone (a check-in falling due, a mute running out): the renderer
  names the next such moment and the feed re-renders once then.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool

from app.live.broker import MemoryBroker, room_channel

log = logging.getLogger("holdspace.live")

HEARTBEAT_SECONDS = 10.0
SEND_TIMEOUT_SECONDS = 5.0
JSON_BACKLOG = 2000
# A room changing faster than this is read and rendered once per interval (tablets need no more
# than four pictures a second in a burst; the JSON streams still get every event, in order).
MIN_REFRESH_SECONDS = 0.25
CLOSE_TOO_SLOW = 1013


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


@dataclass(frozen=True)
class EventFrame:
    session_id: str
    seq: int
    text: str
    follows: bool = False  # an escalation message: sent only with the events of its batch


class Renderer(Protocol):
    def room(self, room_id: str, previous: RoomVersion | None, force: bool, render: bool) -> RoomVersion: ...

    def event_frames(self, session_id: str, after: int) -> list[EventFrame]: ...

    def heartbeat(self, now: datetime, seq: int | None) -> str: ...

    def json_heartbeat(self, now: datetime) -> str: ...

    def alarms_heartbeat(self, now: datetime) -> str: ...

    def tile(self, room_id: str, version: RoomVersion) -> str: ...


POKE = "\x00poke"


class SendWatch:
    """Sends in progress on this event loop, and one watcher that cancels a send stalled for
    longer than SEND_TIMEOUT_SECONDS. Cheaper than a timer per send (two dict operations), and
    it runs only while some send is in progress: nothing at rest."""

    def __init__(self) -> None:
        self.sending: dict[asyncio.Task[Any], float] = {}
        self.stalled: set[asyncio.Task[Any]] = set()
        self._watcher: asyncio.Task[None] | None = None

    def begin(self, task: asyncio.Task[Any]) -> None:
        loop = task.get_loop()
        self.sending[task] = loop.time()
        if self._watcher is None or self._watcher.done():
            self._watcher = loop.create_task(self._watch())

    def end(self, task: asyncio.Task[Any]) -> None:
        self.sending.pop(task, None)

    def was_stalled(self, task: asyncio.Task[Any]) -> bool:
        if task in self.stalled:
            self.stalled.discard(task)
            return True
        return False

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while self.sending:
            await asyncio.sleep(min(0.5, SEND_TIMEOUT_SECONDS / 2))
            now = loop.time()
            for task, since in list(self.sending.items()):
                if now - since > SEND_TIMEOUT_SECONDS:
                    self.sending.pop(task, None)
                    self.stalled.add(task)
                    task.cancel()


_watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SendWatch] = weakref.WeakKeyDictionary()


def send_watch() -> SendWatch:
    loop = asyncio.get_running_loop()
    watch = _watches.get(loop)
    if watch is None:
        watch = _watches[loop] = SendWatch()
    return watch


class Outbox:
    """What one socket has yet to be sent."""

    def __init__(self, keep_latest: bool = True) -> None:
        self.keep_latest = keep_latest
        self._frames: deque[str] = deque()
        self._wake = asyncio.Event()
        self._poked = False
        self.close_code: int | None = None
        self.sent: dict[str, int] = {}  # JSON streams: the last seq sent, per session
        self.held: list[EventFrame] | None = None if keep_latest else []  # until the snapshot is sent

    def put(self, frame: str) -> None:
        if self.close_code is not None:
            return
        if self.keep_latest:
            self._frames.clear()
        elif len(self._frames) >= JSON_BACKLOG:
            self.close(CLOSE_TOO_SLOW)
            return
        self._frames.append(frame)
        self._wake.set()

    def release(self) -> None:
        """The snapshot went out (and `sent` says what it held): what came meanwhile follows."""
        held, self.held = self.held or [], None
        self.put_events(held)

    def put_events(self, frames: list[EventFrame]) -> None:
        if self.held is not None:
            self.held.extend(frames)
            return
        taken = False
        for frame in frames:
            if frame.follows:
                if taken:
                    self.put(frame.text)
                continue
            if frame.seq > self.sent.get(frame.session_id, 0):
                self.sent[frame.session_id] = frame.seq
                self.put(frame.text)
                taken = True

    def put_heartbeat(self, frame: str) -> None:
        """Only when nothing else waits: any frame says the link is alive."""
        if not self._frames:
            self.put(frame)

    def poke(self) -> None:
        """Wake the socket's handler without a frame (an overview has something to rebuild)."""
        self._poked = True
        self._wake.set()

    def close(self, code: int) -> None:
        self.close_code = code
        self._wake.set()

    def take(self) -> str | None:
        """The frame waiting to be sent, taken out (None if there is none)."""
        return self._frames.popleft() if self._frames else None

    @property
    def pending(self) -> int:
        return len(self._frames)

    async def next(self) -> str | None:
        """The next frame, POKE, or None once the outbox is closed."""
        while not self._frames and not self._poked and self.close_code is None:
            self._wake.clear()
            await self._wake.wait()
        if self.close_code is not None:
            return None
        if self._frames:
            return self._frames.popleft()
        self._poked = False
        return POKE


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
    _dirty: bool = False
    _force: bool = False
    _task: asyncio.Task[None] | None = None
    _timer: asyncio.TimerHandle | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _tile: tuple[Any, str] | None = None
    _last_read: float = 0.0

    @property
    def empty(self) -> bool:
        return not (self.html or self.json or self.watchers)

    def hint(self, message: dict[str, Any]) -> None:
        if message.get("type") == "presence":
            # Which tablets are connected: only the overview tile shows it, and nothing is read.
            self.presence_rev += 1
            for watcher in list(self.watchers):
                watcher(self, "presence")
            return
        self.refresh(force=message.get("type") == "resync")

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
            try:
                # One trip to a worker thread: the room's version and, for JSON streams, its events.
                version, frames = await run_in_threadpool(
                    self._read, previous, force, self.renders_html, bool(self.json)
                )
            except Exception:  # a passing database error: screens keep the last version and retry
                log.exception("live feed for a room failed to refresh")
                await asyncio.sleep(1.0)
                self._dirty = True
                continue
            self._schedule(version.next_change_at)
            if version is previous:
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
        self, previous: RoomVersion | None, force: bool, render: bool, streams: bool
    ) -> tuple[RoomVersion, list[EventFrame]]:
        version = self.hub.renderer.room(self.room_id, previous, force, render)
        if version is previous or not streams:
            return version, []
        return version, self._read_events(previous, version)

    def _read_events(self, previous: RoomVersion | None, version: RoomVersion) -> list[EventFrame]:
        """The events since the feed's cursor, read and encoded once for every JSON subscriber.
        A session that ended still owes its last events (the close itself)."""
        frames: list[EventFrame] = []
        sessions = [s for s in (previous.session_id if previous else None, version.session_id) if s]
        for session_id in dict.fromkeys(sessions):
            after = self.json_cursor.get(session_id, 0)
            batch = self.hub.renderer.event_frames(session_id, after)
            frames.extend(batch)
            seqs = [f.seq for f in batch if not f.follows]
            if seqs:
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


__all__ = ["Feed", "Hub", "Outbox", "EventFrame", "Renderer", "RoomVersion", "POKE", "CLOSE_TOO_SLOW", "send_watch"]
