"""Pub/sub for live screens: a hint that a session changed, never the data itself.

The shape follows a broadcaster-style backend (connect, publish, subscribe) with one bounded
queue per subscriber. A subscriber that falls behind is told to resynchronise instead of
being fed an unbounded backlog; the database stays the source of truth.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

Listener = Callable[[dict[str, Any]], None]

QUEUE_SIZE = 256
RESYNC = {"type": "resync"}


@dataclass(eq=False)
class Subscription:
    channels: frozenset[str]
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))

    async def get(self) -> dict[str, Any]:
        return await self.queue.get()


class MemoryBroker:
    """One process: subscribers live on the event loop; publishers may be worker threads."""

    def __init__(self) -> None:
        # Names this process in the hints it sends other processes (PostgreSQL's NOTIFY), so it
        # can skip its own: it has told its screens already, with the events themselves.
        self.origin = secrets.token_hex(8)
        self._subscriptions: set[Subscription] = set()
        self._listeners: dict[str, set[Listener]] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def publish(self, channels: list[str], message: dict[str, Any]) -> None:
        """Safe to call from any thread, after the transaction that it announces has committed."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._deliver(channels, message)
        else:
            loop.call_soon_threadsafe(self._deliver, channels, message)

    def publish_all(self, message: dict[str, Any]) -> None:
        """Tell every subscriber, whatever its channels (after hints may have been lost)."""
        with self._lock:
            channels = sorted({c for sub in self._subscriptions for c in sub.channels} | set(self._listeners))
        if channels:
            self.publish(channels, message)

    def _deliver(self, channels: list[str], message: dict[str, Any]) -> None:
        with self._lock:
            subscriptions = list(self._subscriptions)
        wanted = set(channels)
        with self._lock:
            listeners = {fn for c in wanted for fn in self._listeners.get(c, ())}
        for listener in listeners:
            listener(message)
        for sub in subscriptions:
            if not (sub.channels & wanted):
                continue
            try:
                sub.queue.put_nowait(message)
            except asyncio.QueueFull:
                while not sub.queue.empty():
                    sub.queue.get_nowait()
                sub.queue.put_nowait(RESYNC)

    def listen(self, channel: str, listener: Listener) -> None:
        """Call `listener(message)` on the event loop for every message on `channel` (no queue:
        the listener coalesces; a live feed re-reads the log whatever the message said)."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        with self._lock:
            self._listeners.setdefault(channel, set()).add(listener)

    def unlisten(self, channel: str, listener: Listener) -> None:
        with self._lock:
            found = self._listeners.get(channel)
            if found is not None:
                found.discard(listener)
                if not found:
                    del self._listeners[channel]

    @asynccontextmanager
    async def subscribe(self, channels: list[str]) -> AsyncIterator[Subscription]:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        sub = Subscription(frozenset(channels))
        with self._lock:
            self._subscriptions.add(sub)
        try:
            yield sub
        finally:
            with self._lock:
                self._subscriptions.discard(sub)

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscriptions)


def room_channel(room_id: str) -> str:
    return f"room:{room_id}"


ALL_ROOMS = "rooms:*"
STEP_THREE = "alarms:step3"
# Told to the sockets of a sign-in when it ends, so they close at once.
SIGNED_OUT = {"type": "signed_out"}


def sign_in_channel(sign_in_id: str) -> str:
    return f"sign-in:{sign_in_id}"
