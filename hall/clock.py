"""The hall's clock, injected everywhere a decision depends on time.

``HALL_CLOCK`` starts a whole process at a chosen local time and lets it run on from there, so a
demo, a drill or the test suite behaves the same at any hour and on any date.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ShiftedClock:
    """Real time, shifted so that it read ``start`` when the clock was made."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("HALL_CLOCK needs an offset, e.g. 2026-11-23T09:30+08:00")
        self._start = start
        self._mono = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._mono)


class ManualClock:
    """A clock that moves only when told: for tests and simulations."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float = 0, **kw: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds, **kw)
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when


def clock_from_env(value: str | None) -> Clock:
    if not value:
        return SystemClock()
    return ShiftedClock(datetime.fromisoformat(value))
