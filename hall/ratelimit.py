"""Failures counted per key within a window; too many lock the key out for a while (pure).

Used for staff sign-ins (per account and per address, hall.auth) and for pickup codes at lockers
(per source, hall.iot.lockers). The state lives in the database, so every server process of a
deployment counts the same failures and a restart forgives nothing; this module only decides.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LockState:
    failures: int
    first_ms: int
    locked_until_ms: int | None


def after_failure(st: LockState | None, now: int, max_failures: int, window_ms: int, lockout_ms: int) -> LockState:
    """One more failure for a key: counted within a window from the first; the ``max_failures``-th
    locks the key out for ``lockout_ms``. A window that has passed, or a lockout that has ended,
    starts the count afresh."""
    if st is None or now - st.first_ms > window_ms or (st.locked_until_ms and now >= st.locked_until_ms):
        st = LockState(0, now, None)
    failures = st.failures + 1
    return LockState(failures, st.first_ms, now + lockout_ms if failures >= max_failures else None)


def locked(st: LockState | None, now: int) -> int | None:
    """Whole seconds left of a lockout (rounded up), or None when the key is free."""
    if st is None or st.locked_until_ms is None or now >= st.locked_until_ms:
        return None
    return -(-(st.locked_until_ms - now) // 1000)
