"""Wait alerts (等待预警): pure. A service's alert is raised when its waits pass its target and
cleared only when they fall below target × ``clear_ratio``, so a wait hovering at the target does
not raise and clear on every check."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from hall.windows.tidal import ServiceLoad


@dataclass(frozen=True, slots=True)
class AlertChange:
    service: str
    action: str  # "raise" or "clear"
    wait_s: float
    target_s: float


def wait_alerts(loads: Iterable[ServiceLoad], active: Collection[str], clear_ratio: float) -> list[AlertChange]:
    out: list[AlertChange] = []
    for ld in loads:
        wait = ld.wait_s if ld.waiting else ld.oldest_wait_s
        if ld.code not in active and ld.waiting and wait > ld.target_wait_s:
            out.append(AlertChange(ld.code, "raise", wait, ld.target_wait_s))
        elif ld.code in active and (not ld.waiting or wait < ld.target_wait_s * clear_ratio):
            out.append(AlertChange(ld.code, "clear", wait, ld.target_wait_s))
    return out
