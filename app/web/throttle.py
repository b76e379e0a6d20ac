"""Sign-in throttling: failed attempts are counted per username and per client address in a
moving window (the `limits` package, in memory: with several app processes each counts its own).
Over either limit the answer is 429 `too_many_attempts` with `Retry-After`, before any password
is checked; below it, each further failure is answered a little later than the one before."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

# 10 wrong passwords for one username, or 30 from one address, within 15 minutes.
PER_USERNAME = RateLimitItemPerMinute(10, 15)
PER_CLIENT = RateLimitItemPerMinute(30, 15)
# A throttled attempt is written to the access log at most once a minute per username and address.
LOG_THROTTLED = RateLimitItemPerMinute(1, 1)
# The n-th failure in a row is answered after min(MAX, BASE * 2**(n-1)) seconds.
BASE_DELAY_SECONDS = 0.25
MAX_DELAY_SECONDS = 2.0


class LoginThrottle:
    def __init__(self, base_delay: float = BASE_DELAY_SECONDS, max_delay: float = MAX_DELAY_SECONDS) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self.base_delay = base_delay
        self.max_delay = max_delay

    def _keys(self, username: str, client: str) -> list[tuple[RateLimitItem, str, str]]:
        return [(PER_USERNAME, "username", username.strip().lower()[:64]), (PER_CLIENT, "client", client)]

    def retry_after(self, username: str, client: str) -> int | None:
        """Seconds until another attempt is allowed, or None if one is allowed now."""
        waits = []
        for item, kind, key in self._keys(username, client):
            if not self._limiter.test(item, kind, key):
                reset = self._limiter.get_window_stats(item, kind, key).reset_time
                waits.append(max(1, math.ceil(reset - time.time())))
        return max(waits) if waits else None

    def should_log_throttled(self, username: str, client: str) -> bool:
        return self._limiter.hit(LOG_THROTTLED, "throttled", username.strip().lower()[:64], client)

    def failed(self, username: str, client: str) -> float:
        """Count a failure; the answer's delay in seconds."""
        for item, kind, key in self._keys(username, client):
            self._limiter.hit(item, kind, key)
        _, kind, key = self._keys(username, client)[0]
        remaining = self._limiter.get_window_stats(PER_USERNAME, kind, key).remaining
        failures = PER_USERNAME.amount - remaining
        return min(self.max_delay, self.base_delay * 2 ** max(0, failures - 1))

    def succeeded(self, username: str) -> None:
        """A right password ends the run of failures for that username (not for the address)."""
        self._limiter.clear(PER_USERNAME, "username", username.strip().lower()[:64])
