"""Failures counted per key within a window, then a lockout (pure): staff sign-ins and pickup codes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hall.ratelimit import LockState, after_failure, locked


def test_the_tenth_failure_locks_out_for_the_lockout() -> None:
    st_: LockState | None = None
    for i in range(9):
        st_ = after_failure(st_, i * 1000, 10, 900_000, 900_000)
        assert locked(st_, i * 1000) is None
    st_ = after_failure(st_, 9_000, 10, 900_000, 900_000)
    assert locked(st_, 9_000) == 900
    assert locked(st_, 9_000 + 899_001) == 1  # rounded up: never "0 s left" while locked
    assert locked(st_, 9_000 + 900_000) is None


def test_failures_spread_out_do_not_add_up() -> None:
    st_ = None
    for i in range(30):
        st_ = after_failure(st_, i * 200_000, 10, 900_000, 900_000)  # one every 200 s
        assert locked(st_, i * 200_000) is None


def test_after_a_lockout_the_count_starts_afresh() -> None:
    st_ = None
    for i in range(3):
        st_ = after_failure(st_, i, 3, 60_000, 60_000)
    assert locked(st_, 2) == 60
    st_ = after_failure(st_, 60_002, 3, 60_000, 60_000)  # the lockout is over: a first failure again
    assert st_.failures == 1 and locked(st_, 60_002) is None


@given(st.lists(st.integers(min_value=0, max_value=5_000), max_size=40))
def test_no_lockout_before_the_tenth_failure_within_the_window(gaps) -> None:
    """Whatever the spacing, a key is locked only when ten failures fell within one window."""
    st_, now, times = None, 0, []
    for g in gaps:
        now += g
        if locked(st_, now) is not None:
            continue  # a locked key is refused before it is checked (login, pickup): nothing to count
        times.append(now)
        st_ = after_failure(st_, now, 10, 10_000, 10_000)
        if locked(st_, now) is not None:
            assert len([t for t in times if now - t <= 10_000]) >= 10
            times.clear()
