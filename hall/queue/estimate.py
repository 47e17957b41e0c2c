"""Wait estimates: pure arithmetic over positions, recent service times and open windows."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

PRIOR_WEIGHT = 3  # the configured service time counts as this many observed visitors
# When every window is busy, the first to come free does so after less than a whole service time
# on average: for one window it is the remaining part of the service under way, E[S²] / 2E[S],
# which is 0.72 of the mean for service times with a coefficient of variation of 0.66 (lognormal,
# sigma 0.6); for many windows it tends to mean / windows. This is the weight of that first one.
FIRST_FREE_SHARE = 0.8


def mean_service_s(recent_s: Sequence[float], configured_min: float) -> float:
    """Recent service durations blended with the configured expectation (a small prior)."""
    prior = configured_min * 60.0
    return (sum(recent_s) + prior * PRIOR_WEIGHT) / (len(recent_s) + PRIOR_WEIGHT)


def effective_windows(service: str, windows: Iterable[Collection[str]], waiting: Mapping[str, int]) -> float:
    """The number of windows' worth of capacity that goes to ``service``.

    A window serving several services gives each a share proportional to its waiting count (equal
    shares when nobody waits), so a comprehensive window counts fully for the one busy service.
    """
    total = 0.0
    for served in windows:
        if service not in served:
            continue
        busy = sum(waiting.get(s, 0) for s in served)
        total += waiting.get(service, 0) / busy if busy else 1.0 / len(served)
    return total


def estimate_wait_s(ahead: int, mean_s: float, windows: float, free: float = 0.0) -> int:
    """Seconds until called.

    The ticket is called when the (ahead + 1)-th window comes free: ``free`` windows are free now,
    the others come free one every ``mean_s / windows`` seconds on average (the people ahead are
    served in parallel by the effective windows, and the ticket itself needs a window too). With
    nobody ahead and a window free, the wait is nil.
    """
    if ahead < 0:
        return 0
    free = max(free, 0.0)
    if ahead < free:  # a window free now is left for this ticket
        return 0
    needed = ahead - free + FIRST_FREE_SHARE
    return int(round(needed * mean_s / max(windows, 0.5)))
