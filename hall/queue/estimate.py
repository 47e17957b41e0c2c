"""Wait estimates: pure arithmetic over positions, recent service times and open windows."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

PRIOR_WEIGHT = 3  # the configured service time counts as this many observed visitors


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


def estimate_wait_s(ahead: int, mean_s: float, windows: float) -> int:
    """Seconds until called: the people ahead, served in parallel by the effective windows."""
    if ahead <= 0:
        return 0
    return int(round(ahead * mean_s / max(windows, 0.5)))
