"""Wait estimates (hall.queue.estimate): pure arithmetic, examples and properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hall.queue.estimate import (
    FIRST_FREE_SHARE,
    PRIOR_WEIGHT,
    effective_windows,
    estimate_wait_s,
    mean_service_s,
)

SERVICES = ("SB", "YB", "GJJ", "BDC")

durations = st.lists(st.floats(0, 36_000, allow_nan=False, allow_infinity=False), max_size=40)
minutes = st.floats(0.5, 120, allow_nan=False, allow_infinity=False)
window_sets = st.lists(st.sets(st.sampled_from(SERVICES), min_size=1).map(frozenset), max_size=8)
waiting_counts = st.dictionaries(st.sampled_from(SERVICES), st.integers(0, 200))


# --------------------------------------------------------------------------- mean_service_s

def test_mean_without_observations_is_the_configured_time() -> None:
    assert mean_service_s([], 8) == pytest.approx(480.0)


def test_mean_blends_observations_with_the_configured_prior() -> None:
    # three observed visitors of 2 min against a prior of 8 min counting as PRIOR_WEIGHT visitors
    expected = (3 * 120 + PRIOR_WEIGHT * 480) / (3 + PRIOR_WEIGHT)
    assert mean_service_s([120, 120, 120], 8) == pytest.approx(expected)
    assert PRIOR_WEIGHT == 3 and mean_service_s([120, 120, 120], 8) == pytest.approx(300.0)


def test_many_observations_outweigh_the_prior() -> None:
    assert mean_service_s([60.0] * 1000, 20) == pytest.approx(60.0, rel=0.1)
    assert abs(mean_service_s([60.0] * 20, 20) - 60) < abs(mean_service_s([60.0] * 5, 20) - 60)


@given(durations, minutes)
def test_prop_mean_lies_between_the_observations_and_the_prior(recent: list[float], cfg_min: float) -> None:
    m = mean_service_s(recent, cfg_min)
    values = [*recent, cfg_min * 60]
    assert min(values) - 1e-6 <= m <= max(values) + 1e-6
    if recent:
        # it is the prior weighted PRIOR_WEIGHT times against each observation
        assert m == pytest.approx((sum(recent) + PRIOR_WEIGHT * cfg_min * 60) / (len(recent) + PRIOR_WEIGHT))


@given(durations, minutes, st.floats(0, 36_000, allow_nan=False))
def test_prop_a_longer_observation_never_lowers_the_mean(recent: list[float], cfg_min: float, extra: float) -> None:
    before = mean_service_s(recent, cfg_min)
    after = mean_service_s([*recent, extra], cfg_min)
    if extra >= before:
        assert after >= before - 1e-6
    else:
        assert after <= before + 1e-6


# --------------------------------------------------------------------------- effective_windows

def test_a_single_service_window_counts_fully() -> None:
    assert effective_windows("SB", [{"SB"}, {"SB"}], {"SB": 5}) == 2.0
    assert effective_windows("SB", [{"YB"}], {"SB": 5}) == 0.0


def test_shared_window_shares_by_waiting_count() -> None:
    windows = [{"SB", "YB"}]
    assert effective_windows("SB", windows, {"SB": 3, "YB": 1}) == pytest.approx(0.75)
    assert effective_windows("YB", windows, {"SB": 3, "YB": 1}) == pytest.approx(0.25)


def test_shared_window_counts_fully_for_the_one_busy_service() -> None:
    assert effective_windows("SB", [{"SB", "YB", "GJJ"}], {"SB": 4}) == pytest.approx(1.0)


def test_shared_window_splits_equally_when_nobody_waits() -> None:
    assert effective_windows("SB", [{"SB", "YB", "GJJ", "BDC"}], {}) == pytest.approx(0.25)
    assert effective_windows("SB", [{"SB", "YB"}, {"SB"}], {"SB": 0, "YB": 0}) == pytest.approx(1.5)


def test_no_windows_no_capacity() -> None:
    assert effective_windows("SB", [], {"SB": 9}) == 0.0


@given(window_sets, waiting_counts)
def test_prop_every_window_is_shared_out_completely(windows: list[frozenset[str]], waiting: dict[str, int]) -> None:
    """Summed over the services, the shares of each window add up to one window."""
    total = sum(effective_windows(s, windows, waiting) for s in SERVICES)
    assert total == pytest.approx(len(windows))


@given(window_sets, waiting_counts, st.sampled_from(SERVICES))
def test_prop_share_is_between_zero_and_the_windows_serving_it(
    windows: list[frozenset[str]], waiting: dict[str, int], service: str
) -> None:
    eff = effective_windows(service, windows, waiting)
    assert 0.0 <= eff <= sum(1 for w in windows if service in w) + 1e-9


@given(window_sets, waiting_counts, st.sampled_from(SERVICES), st.integers(1, 50))
def test_prop_more_waiting_for_a_service_never_lowers_its_share(
    windows: list[frozenset[str]], waiting: dict[str, int], service: str, more: int
) -> None:
    before = effective_windows(service, windows, {**waiting, service: max(waiting.get(service, 0), 1)})
    after = effective_windows(service, windows, {**waiting, service: max(waiting.get(service, 0), 1) + more})
    assert after >= before - 1e-9


# --------------------------------------------------------------------------- estimate_wait_s
# The ticket is called when the (ahead + 1)-th window comes free: windows free now come first, the
# first busy one to come free counts FIRST_FREE_SHARE of a service time (it is part-way through a
# visitor), each further one a whole service time, shared by the effective windows. (Until the
# hall simulation measured it, the estimate was ahead × mean / windows: nobody ahead meant no
# wait even with every window busy, and it ran about four minutes short on a busy day.)

def test_nobody_ahead_and_a_window_free_no_wait() -> None:
    assert estimate_wait_s(0, 600.0, 3.0, free=1) == 0
    assert estimate_wait_s(-1, 600.0, 3.0) == 0
    assert estimate_wait_s(2, 600.0, 3.0, free=3) == 0  # a free window is left over for this ticket


def test_nobody_ahead_but_every_window_busy_waits_for_the_first_to_come_free() -> None:
    assert FIRST_FREE_SHARE == 0.8
    assert estimate_wait_s(0, 600.0, 3.0) == 160  # 0.8 × 600 / 3
    assert estimate_wait_s(0, 600.0, 1.0) == 480


def test_people_ahead_served_in_parallel() -> None:
    assert estimate_wait_s(4, 300.0, 2.0) == 720  # (4 + 0.8) × 300 / 2
    assert estimate_wait_s(3, 100.0, 1.5, free=1) == 187  # (3 - 1 + 0.8) × 100 / 1.5


def test_no_or_tiny_capacity_counts_as_half_a_window() -> None:
    assert estimate_wait_s(2, 300.0, 0.0) == 1680
    assert estimate_wait_s(2, 300.0, 0.1) == 1680


@given(st.integers(0, 500), st.integers(0, 500), st.floats(1, 7200, allow_nan=False), st.floats(0, 20, allow_nan=False),
       st.integers(0, 10))
def test_prop_monotone_in_people_ahead(a: int, b: int, mean_s: float, windows: float, free: int) -> None:
    lo, hi = sorted((a, b))
    assert estimate_wait_s(lo, mean_s, windows, free) <= estimate_wait_s(hi, mean_s, windows, free)


@given(st.integers(1, 500), st.floats(1, 7200, allow_nan=False), st.floats(0, 20, allow_nan=False),
       st.floats(0, 20, allow_nan=False))
def test_prop_more_windows_never_lengthen_the_wait(ahead: int, mean_s: float, w1: float, w2: float) -> None:
    lo, hi = sorted((w1, w2))
    assert estimate_wait_s(ahead, mean_s, hi) <= estimate_wait_s(ahead, mean_s, lo)


@given(st.integers(0, 500), st.floats(1, 7200, allow_nan=False), st.floats(0.5, 20, allow_nan=False),
       st.integers(0, 10), st.integers(0, 10))
def test_prop_more_free_windows_never_lengthen_the_wait(ahead: int, mean_s: float, windows: float, f1: int,
                                                        f2: int) -> None:
    lo, hi = sorted((f1, f2))
    assert estimate_wait_s(ahead, mean_s, windows, hi) <= estimate_wait_s(ahead, mean_s, windows, lo)


@given(st.integers(0, 500), st.floats(1, 7200, allow_nan=False), st.floats(0.5, 20, allow_nan=False),
       st.integers(0, 10))
def test_prop_estimate_is_the_rounded_queue_time(ahead: int, mean_s: float, windows: float, free: int) -> None:
    est = estimate_wait_s(ahead, mean_s, windows, free)
    assert isinstance(est, int) and est >= 0
    if ahead < free:
        assert est == 0
    else:
        assert abs(est - (ahead - free + FIRST_FREE_SHARE) * mean_s / windows) <= 0.5 + 1e-6
    assert not math.isnan(est)


@given(st.integers(1, 100), st.floats(1, 3600, allow_nan=False), st.floats(0.5, 10, allow_nan=False))
def test_prop_strictly_decreasing_when_windows_double(ahead: int, mean_s: float, windows: float) -> None:
    one = estimate_wait_s(ahead, mean_s, windows)
    two = estimate_wait_s(ahead, mean_s, windows * 2)
    assert two <= one
    if one >= 2:
        assert two < one
