"""Failures counted per key over a sliding window; too many lock the key out for a while (pure).

Used for staff logins: guessing passwords from one address, or at one account, stops after a few
tries. Kept in the server's memory (one process); the clock is injected.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class FailureLimiter:
    max_failures: int = 10
    window_s: float = 600.0
    lockout_s: float = 600.0
    clock: Callable[[], float] = time.monotonic
    _fails: dict[str, deque[float]] = field(default_factory=dict)
    _locked: dict[str, float] = field(default_factory=dict)

    def retry_after(self, *keys: str) -> int | None:
        """Seconds until the first locked key opens again, or None when none is locked."""
        now = self.clock()
        waits = [until - now for k in keys if (until := self._locked.get(k)) is not None and until > now]
        return int(max(waits)) + 1 if waits else None

    def failed(self, *keys: str) -> None:
        now = self.clock()
        if len(self._fails) > 50_000:  # bounded whatever arrives
            self._fails.clear()
        for k in keys:
            q = self._fails.setdefault(k, deque())
            q.append(now)
            while q and now - q[0] > self.window_s:
                q.popleft()
            if len(q) >= self.max_failures:
                self._locked[k] = now + self.lockout_s
                q.clear()

    def succeeded(self, *keys: str) -> None:
        for k in keys:
            self._fails.pop(k, None)
