"""The live clock: wakes at the next stored deadline and sends Tick. After a restart the
deadlines are rebuilt from the log, so there is nothing separate to restore."""

from __future__ import annotations

import asyncio
import logging

from starlette.concurrency import run_in_threadpool

log = logging.getLogger("holdspace.clock")

# Wake at least this often: a deadline may be added by another process that shares the database.
MAX_SLEEP_SECONDS = 5.0


async def run_clock(services) -> None:  # type: ignore[no-untyped-def]
    while True:
        try:
            await run_in_threadpool(services.tick_due)
            deadline = await run_in_threadpool(services.next_deadline)
        except asyncio.CancelledError:
            raise
        except Exception:  # the clock must outlive a passing database error
            log.exception("clock tick failed")
            deadline = None
        sleep = MAX_SLEEP_SECONDS
        if deadline is not None:
            sleep = max(0.05, min(MAX_SLEEP_SECONDS, (deadline - services.clock()).total_seconds()))
        await asyncio.sleep(sleep)
