"""A socket's outbox: a room socket keeps only the latest version (no backlog), a JSON stream keeps
every event in order up to a bound, and a socket that cannot take a send is closed with 1013."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from app.live import feeds
from app.live.feeds import CLOSE_TOO_SLOW, POKE, EventFrame, Outbox
from app.web import ws

T = TypeVar("T")


def arun(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine on a loop of its own thread (a browser test may hold this thread's loop)."""

    async def main() -> T:
        return await make()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


def test_a_room_socket_that_fell_behind_gets_only_the_latest_version() -> None:
    async def run() -> list[str | None]:
        outbox = Outbox(keep_latest=True)
        for version in ("v1", "v2", "v3"):
            outbox.put(version)
        outbox.put_heartbeat("beat")  # something waits already: no heartbeat on top
        first = await outbox.next()
        outbox.put_heartbeat("beat")
        second = await outbox.next()
        outbox.close(1012)
        return [first, second, await outbox.next()]

    assert arun(run) == ["v3", "beat", None]


def test_a_poke_is_not_lost_behind_a_heartbeat() -> None:
    async def run() -> list[str | None]:
        outbox = Outbox(keep_latest=True)
        outbox.put_heartbeat("beat")
        outbox.poke()  # an overview has tiles to rebuild
        return [await outbox.next(), await asyncio.wait_for(outbox.next(), 2)]

    assert arun(run) == ["beat", POKE]


def test_a_json_stream_keeps_every_event_in_order_and_holds_them_until_its_snapshot() -> None:
    async def run() -> list[str | None]:
        outbox = Outbox(keep_latest=False)
        outbox.put_events([EventFrame("s", 4, "e4"), EventFrame("s", 5, "e5"), EventFrame("s", 5, "alarm", True)])
        assert outbox.pending == 0  # held until the snapshot went out
        outbox.sent["s"] = 4  # the snapshot held seq 4
        outbox.release()
        outbox.put_events([EventFrame("s", 5, "e5 again"), EventFrame("s", 6, "e6")])
        return [await outbox.next() for _ in range(3)]

    assert arun(run) == ["e5", "alarm", "e6"]


def test_a_json_stream_past_its_backlog_is_closed_to_resume_with_after_seq(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feeds, "JSON_BACKLOG", 3)

    async def run() -> tuple[int | None, str | None]:
        outbox = Outbox(keep_latest=False)
        outbox.release()
        outbox.put_events([EventFrame("s", n, f"e{n}") for n in range(1, 6)])
        return outbox.close_code, await outbox.next()

    assert arun(run) == (CLOSE_TOO_SLOW, None)


class StalledSocket:
    """A client that never reads: every send waits forever."""

    def __init__(self) -> None:
        self.closed: int | None = None
        self.sent: list[str] = []
        self._never = asyncio.Event()

    async def send_text(self, text: str) -> None:
        await self._never.wait()

    async def receive(self) -> dict[str, Any]:
        await self._never.wait()
        return {"type": "websocket.disconnect"}

    async def close(self, code: int = 1000) -> None:
        self.closed = code


class QuickSocket(StalledSocket):
    async def send_text(self, text: str) -> None:
        self.sent.append(text)


def test_a_socket_that_cannot_take_a_send_is_closed_with_1013(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feeds, "SEND_TIMEOUT_SECONDS", 0.05)

    async def run() -> tuple[int | None, int | None, list[str]]:
        stalled, quick = StalledSocket(), QuickSocket()
        slow_box, quick_box = Outbox(), Outbox()
        for box in (slow_box, quick_box):
            box.put("v1")
        pumps = [
            asyncio.create_task(ws._pump(stalled, slow_box)),  # type: ignore[arg-type]
            asyncio.create_task(ws._pump(quick, quick_box)),  # type: ignore[arg-type]
        ]
        await asyncio.sleep(0.01)
        quick_box.put("v2")  # the slow socket does not hold the quick one back
        await asyncio.wait_for(pumps[0], 2)
        quick_box.close(1012)
        await asyncio.wait_for(pumps[1], 2)
        assert not feeds.send_watch().sending  # nothing in progress: nothing watched at rest
        return stalled.closed, quick.closed, quick.sent

    assert arun(run) == (1013, 1012, ["v1", "v2"])
