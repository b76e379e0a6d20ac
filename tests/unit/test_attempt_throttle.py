"""The throttle for wrong PINs typed on a room tablet: five failures in ten minutes lock that user's
PIN until the oldest ages out; a success clears them; it tracks a bounded number of users."""

from __future__ import annotations

from app.web.attempts import AttemptThrottle


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_five_failures_in_the_window_lock_until_the_oldest_ages_out() -> None:
    clock = FakeClock()
    throttle = AttemptThrottle(limit=5, window_seconds=600, clock=clock)
    for _ in range(4):
        throttle.failed("theo")
        clock.now += 10
    assert throttle.retry_after("theo") is None
    throttle.failed("theo")
    # The first failure was at 1000; it ages out at 1600. Now is 1040.
    assert throttle.retry_after("theo") == 560
    assert throttle.retry_after("farah") is None, "another user's PIN is not affected"
    clock.now = 1600.5
    assert throttle.retry_after("theo") is None


def test_a_success_clears_the_failures() -> None:
    throttle = AttemptThrottle(limit=2, window_seconds=600, clock=FakeClock())
    throttle.failed("theo")
    throttle.succeeded("theo")
    throttle.failed("theo")
    assert throttle.retry_after("theo") is None


def test_it_tracks_at_most_max_keys_users() -> None:
    throttle = AttemptThrottle(limit=1, window_seconds=600, clock=FakeClock(), max_keys=3)
    for name in ("a", "b", "c", "d"):
        throttle.failed(name)
    assert throttle.retry_after("a") is None, "the stalest user was dropped"
    assert all(throttle.retry_after(name) == 600 for name in ("b", "c", "d"))
