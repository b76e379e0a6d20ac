"""A small throttle for repeated wrong secrets: a 4-digit PIN is guessable, so after `limit` failures
for one user within `window` further tries are refused until the oldest failure ages out.

In memory and per process: bounded (at most `max_keys` users tracked, the stalest dropped first)
and thread-safe, since the API's handlers run in a thread pool."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class AttemptThrottle:
    def __init__(
        self,
        limit: int = 5,
        window_seconds: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self.limit = limit
        self.window = window_seconds
        self.clock = clock
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.get(key)
        if failures is None:
            return deque()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return failures

    def retry_after(self, key: str) -> int | None:
        """Seconds until `key` may try again, or None when it may try now."""
        with self._lock:
            now = self.clock()
            failures = self._recent(key, now)
            if len(failures) < self.limit:
                return None
            return max(1, math.ceil(failures[-self.limit] + self.window - now))

    def failed(self, key: str) -> None:
        with self._lock:
            now = self.clock()
            failures = self._recent(key, now)
            failures.append(now)
            self._failures[key] = failures
            self._failures.move_to_end(key)
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
