"""One socket's outbox: what it has yet to be sent, and how it reaches the socket's wire.

A frame goes out at once, from the feed's own loop, when the socket's transport can take it without
waiting; only a socket that cannot gets a sender task of its own, for as long as it has something
to send. A room socket keeps only the latest frame; a JSON stream keeps every event frame in order,
up to JSON_BACKLOG, then is closed with 1013 (the client resumes with `after_seq`). A send that
stalls for SEND_TIMEOUT_SECONDS is cut short by the loop's one SendWatch and the socket closed with
1013. How a frame reaches a socket is the `Sink` the web layer hands in."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("holdspace.live")

SEND_TIMEOUT_SECONDS = 5.0
JSON_BACKLOG = 2000
CLOSE_TOO_SLOW = 1013


@dataclass(frozen=True)
class EventFrame:
    session_id: str
    seq: int
    text: str
    follows: bool = False  # an escalation message: sent only with the events of its batch


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


class Sink(Protocol):
    """One socket as the live layer sends to it (the web layer implements it)."""

    def try_send(self, frame: str) -> bool:
        """Send now if the socket's transport takes it without waiting; False if it would wait."""
        ...

    async def send(self, frame: str) -> None:
        """Send, waiting as long as the socket needs (a stall is cut short by the SendWatch)."""
        ...

    async def close(self, code: int) -> None: ...


CLOSE_CLIENT_GONE = -1
_background: set[asyncio.Task[Any]] = set()


def _spawn(coro: Any) -> asyncio.Task[Any]:
    task = asyncio.get_running_loop().create_task(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task


class Outbox:
    """What one socket has yet to be sent, and how it is sent.

    A frame goes out at once, from the feed's own loop, when the socket's transport can take it
    without waiting: no task and no task switch per socket. Only a socket that cannot take it now
    gets a sender task, for as long as it has something to send; that task alone waits for it, so
    a slow socket never delays the others. A send that waits longer than SEND_TIMEOUT_SECONDS
    closes the socket with 1013. Until `release()` (the snapshot is out) frames only wait."""

    __slots__ = ("sink", "keep_latest", "_frames", "_sender", "close_code", "sent", "held", "holding")

    def __init__(self, sink: Sink, keep_latest: bool = True) -> None:
        self.sink = sink
        self.keep_latest = keep_latest
        self._frames: deque[str] | None = None
        self._sender: asyncio.Task[None] | None = None
        self.close_code: int | None = None
        self.sent: dict[str, int] = {}  # JSON streams: the last seq sent, per session
        self.held: list[EventFrame] | None = None if keep_latest else []  # until the snapshot is sent
        self.holding = True

    def put(self, frame: str) -> None:
        if self.close_code is not None:
            return
        frames = self._frames
        if not frames and not self.holding and self._sender is None:
            try:
                if self.sink.try_send(frame):
                    return
            except Exception:  # the socket is gone under us
                self.close(CLOSE_CLIENT_GONE)
                return
        if frames is None:
            frames = self._frames = deque()
        if self.keep_latest:
            frames.clear()
        elif len(frames) >= JSON_BACKLOG:
            log.info("closing a live stream that fell %s events behind", JSON_BACKLOG)
            self.close(CLOSE_TOO_SLOW)
            return
        frames.append(frame)
        if not self.holding and self._sender is None:
            self._sender = _spawn(self._drain())

    def release(self) -> None:
        """The snapshot went out (and `sent` says what it held): what came meanwhile follows."""
        self.holding = False
        held, self.held = self.held or [], None
        frames, self._frames = self._frames, None
        for frame in frames or ():
            self.put(frame)
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
        if not self._frames and not self.holding:
            self.put(frame)

    def take(self) -> str | None:
        """The frame waiting to be sent, taken out (None if there is none)."""
        return self._frames.popleft() if self._frames else None

    @property
    def pending(self) -> int:
        return len(self._frames) if self._frames else 0

    @property
    def sending(self) -> bool:
        """A sender task is waiting for this socket (it could not take a frame at once)."""
        return self._sender is not None

    def close(self, code: int) -> None:
        """Stop sending; tell the client `code` (not when the client is the one who went)."""
        if self.close_code is not None:
            return
        self.close_code = code
        self._frames = None
        sender, self._sender = self._sender, None
        if sender is not None and sender is not asyncio.current_task():
            sender.cancel()
        if code != CLOSE_CLIENT_GONE:
            _spawn(self.sink.close(code))

    async def _drain(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        watch = send_watch()
        try:
            while self._frames and self.close_code is None:
                frame = self._frames.popleft()
                watch.begin(task)
                try:
                    await self.sink.send(frame)
                except asyncio.CancelledError:
                    if not watch.was_stalled(task):
                        raise
                    task.uncancel()
                    log.info("closing a live socket that could not take a send for %s s", SEND_TIMEOUT_SECONDS)
                    self.close(CLOSE_TOO_SLOW)
                    return
                finally:
                    watch.end(task)
                del frame
        except Exception:  # the client went away mid-send
            self.close(CLOSE_CLIENT_GONE)
        finally:
            if self._sender is task:
                self._sender = None
