"""A socket's outbox: a frame goes out at once when the socket's transport takes it (no task per
socket); only a socket that cannot take it gets a sender task. A room socket then keeps only the
latest version (no backlog), a JSON stream keeps every event in order up to a bound, a socket
that cannot take a send for several seconds is closed with 1013, and a slow socket never delays
the others."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest

from app.live import outbox as outbox_module
from app.live.outbox import CLOSE_CLIENT_GONE, CLOSE_TOO_SLOW, EventFrame, Outbox, send_watch
from app.web.socket_protocol import _Inbox, _Writable

T = TypeVar("T")


def arun(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine on a loop of its own thread (a browser test may hold this thread's loop)."""

    async def main() -> T:
        return await make()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


class Socket:
    """A socket whose transport takes a send at once while `ready`; otherwise a send waits
    until `unblock()` (or forever)."""

    def __init__(self, ready: bool = True) -> None:
        self.ready = ready
        self.sent: list[str] = []
        self.waited: list[str] = []  # sent by a sender task, after waiting
        self.closed: int | None = None
        self._go = asyncio.Event()

    def try_send(self, frame: str) -> bool:
        if self.ready:
            self.sent.append(frame)
        return self.ready

    async def send(self, frame: str) -> None:
        await self._go.wait()
        self.sent.append(frame)
        self.waited.append(frame)

    def unblock(self) -> None:
        self.ready = True
        self._go.set()

    async def close(self, code: int) -> None:
        self.closed = code


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_socket_that_takes_the_frame_gets_it_at_once_with_no_task() -> None:
    async def run() -> tuple[list[str], bool, int]:
        socket = Socket()
        outbox = Outbox(socket, keep_latest=True)
        outbox.put("held")  # before the snapshot went out: it waits
        assert socket.sent == []
        outbox.release()
        tasks = len(asyncio.all_tasks())
        outbox.put("v2")
        outbox.put_heartbeat("beat")
        return socket.sent, outbox.sending, len(asyncio.all_tasks()) - tasks

    assert arun(run) == (["held", "v2", "beat"], False, 0)


def test_a_room_socket_that_fell_behind_gets_only_the_latest_version() -> None:
    async def run() -> tuple[list[str], list[str], bool]:
        socket = Socket(ready=False)
        outbox = Outbox(socket, keep_latest=True)
        outbox.release()
        outbox.put("v1")
        await settle()  # its sender task waits with v1
        for version in ("v2", "v3", "v4"):
            outbox.put(version)
        outbox.put_heartbeat("beat")  # something waits already: no heartbeat on top
        await settle()
        assert outbox.sending and outbox.pending == 1  # v1 in flight, only v4 waits
        socket.unblock()
        await settle()
        outbox.put("v5")  # the socket takes sends again: no task
        return socket.sent, socket.waited, outbox.sending

    assert arun(run) == (["v1", "v4", "v5"], ["v1", "v4"], False)


def test_a_slow_socket_never_delays_the_others() -> None:
    async def run() -> tuple[list[str], list[str]]:
        slow, quick = Socket(ready=False), Socket()
        boxes = [Outbox(slow, keep_latest=False), Outbox(quick, keep_latest=False)]
        for box in boxes:
            box.release()
        for n in range(3):  # as a feed fans out: one loop, every socket
            for box in boxes:
                box.put_events([EventFrame("s", n + 1, f"e{n + 1}")])
        quick_now = list(quick.sent)  # before anything else ran on the loop
        slow.unblock()
        await settle()
        return quick_now, slow.sent

    assert arun(run) == (["e1", "e2", "e3"], ["e1", "e2", "e3"])


def test_a_json_stream_keeps_every_event_in_order_and_holds_them_until_its_snapshot() -> None:
    async def run() -> list[str]:
        socket = Socket()
        outbox = Outbox(socket, keep_latest=False)
        outbox.put_events([EventFrame("s", 4, "e4"), EventFrame("s", 5, "e5"), EventFrame("s", 5, "alarm", True)])
        assert outbox.pending == 0 and socket.sent == []  # held until the snapshot went out
        outbox.sent["s"] = 4  # the snapshot held seq 4
        outbox.release()
        outbox.put_events([EventFrame("s", 5, "e5 again"), EventFrame("s", 6, "e6")])
        return socket.sent

    assert arun(run) == ["e5", "alarm", "e6"]


def test_a_json_stream_past_its_backlog_is_closed_to_resume_with_after_seq(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox_module, "JSON_BACKLOG", 3)

    async def run() -> tuple[int | None, int | None, int]:
        socket = Socket(ready=False)
        outbox = Outbox(socket, keep_latest=False)
        outbox.release()
        outbox.put_events([EventFrame("s", n, f"e{n}") for n in range(1, 7)])
        await settle()
        return outbox.close_code, socket.closed, outbox.pending

    assert arun(run) == (CLOSE_TOO_SLOW, CLOSE_TOO_SLOW, 0)


def test_a_socket_that_cannot_take_a_send_is_closed_with_1013(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox_module, "SEND_TIMEOUT_SECONDS", 0.05)

    async def run() -> tuple[int | None, int | None, list[str], list[str]]:
        stalled, quick = Socket(ready=False), Socket()
        slow_box, quick_box = Outbox(stalled), Outbox(quick)
        for box in (slow_box, quick_box):
            box.release()
            box.put("v1")
        quick_box.put("v2")  # the stalled socket does not hold the quick one back
        for _ in range(100):
            if stalled.closed is not None:
                break
            await asyncio.sleep(0.02)
        slow_box.put("v3")  # closed: nothing more for it
        assert not send_watch().sending  # nothing in progress: nothing watched at rest
        return stalled.closed, quick.closed, stalled.sent, quick.sent

    assert arun(run) == (CLOSE_TOO_SLOW, None, [], ["v1", "v2"])


def test_a_client_that_went_is_not_sent_a_close() -> None:
    async def run() -> tuple[int | None, int | None]:
        socket = Socket(ready=False)
        outbox = Outbox(socket)
        outbox.release()
        outbox.put("v1")
        await settle()
        outbox.close(CLOSE_CLIENT_GONE)  # its sender task is cancelled too
        await settle()
        return outbox.close_code, socket.closed

    assert arun(run) == (CLOSE_CLIENT_GONE, None)


def test_the_light_inbox_and_writable_flag_behave_as_asyncio_queue_and_event() -> None:
    async def run() -> list[object]:
        inbox, writable = _Inbox(), _Writable()
        seen: list[object] = [inbox.empty(), writable.is_set()]
        reader = asyncio.create_task(inbox.get())
        await asyncio.sleep(0)
        inbox.put_nowait({"type": "websocket.receive", "text": "a"})
        inbox.put_nowait({"type": "websocket.disconnect"})
        seen += [await reader, await inbox.get(), inbox.empty()]
        cancelled = asyncio.create_task(inbox.get())  # a reader that goes leaves nothing behind
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.gather(cancelled, return_exceptions=True)
        inbox.put_nowait("later")
        seen.append(await asyncio.wait_for(inbox.get(), 1))
        writable.clear()
        waiting = asyncio.create_task(writable.wait())
        await asyncio.sleep(0.01)
        seen.append(waiting.done())
        writable.set()
        seen += [await asyncio.wait_for(waiting, 1), writable.is_set()]
        return seen

    assert arun(run) == [
        True,
        True,
        {"type": "websocket.receive", "text": "a"},
        {"type": "websocket.disconnect"},
        True,
        "later",
        False,
        True,
        True,
    ]
