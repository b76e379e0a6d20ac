"""The live clock: wakes at the next stored deadline and sends Tick. After a restart the
deadlines are rebuilt from the log, so there is nothing separate to restore."""

from __future__ import annotations

import asyncio
import logging
import time

from starlette.concurrency import run_in_threadpool

log = logging.getLogger("holdspace.clock")

# Wake at least this often: a deadline may be added by another process that shares the database.
MAX_SLEEP_SECONDS = 5.0
# After a failed tick (the database did not answer) try again this soon, so a climb or re-sound
# that fell due during an outage goes out within this long of the database coming back.
RETRY_SECONDS = 0.5


async def run_clock(services) -> None:  # type: ignore[no-untyped-def]
    failing_since: float | None = None
    while True:
        try:
            await run_in_threadpool(services.tick_due)
            deadline = await run_in_threadpool(services.next_deadline)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # the clock must outlive a passing database error
            if failing_since is None:  # say it once per outage, not twice a second
                failing_since = time.monotonic()
                reason = str(getattr(err, "orig", None) or err).strip().splitlines()
                log.warning(
                    "clock tick failed (%s: %s); retrying every %.1f s",
                    type(err).__name__,
                    reason[0] if reason else "",
                    RETRY_SECONDS,
                )
            await asyncio.sleep(RETRY_SECONDS)
            continue
        if failing_since is not None:
            log.warning("clock ticking again after %.1f s without the database", time.monotonic() - failing_since)
            failing_since = None
        sleep = MAX_SLEEP_SECONDS
        if deadline is not None:
            sleep = max(0.05, min(MAX_SLEEP_SECONDS, (deadline - services.clock()).total_seconds()))
        await asyncio.sleep(sleep)
