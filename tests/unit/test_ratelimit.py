"""Failed sign-ins counted per key over a window, then a lockout (pure)."""

from __future__ import annotations

from hall.ratelimit import FailureLimiter


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_the_tenth_failure_locks_out_and_the_lockout_ends() -> None:
    c = Clock()
    lim = FailureLimiter(max_failures=10, window_s=600, lockout_s=600, clock=c)
    for _ in range(9):
        lim.failed("user:a", "ip:1")
        assert lim.retry_after("user:a", "ip:1") is None
    lim.failed("user:a", "ip:1")
    assert lim.retry_after("user:a") == 601
    assert lim.retry_after("ip:1", "user:b") == 601  # the address is locked for everyone
    assert lim.retry_after("user:b", "ip:2") is None
    c.t += 601
    assert lim.retry_after("user:a", "ip:1") is None


def test_failures_spread_out_or_followed_by_success_do_not_add_up() -> None:
    c = Clock()
    lim = FailureLimiter(max_failures=3, window_s=60, lockout_s=60, clock=c)
    for _ in range(10):
        lim.failed("user:a")
        c.t += 31  # two in any minute at most
    assert lim.retry_after("user:a") is None
    lim.failed("user:b")
    lim.failed("user:b")
    lim.succeeded("user:b")
    lim.failed("user:b")
    assert lim.retry_after("user:b") is None
