"""The ``window.state`` event, emitted by every use case that changes a window's state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hall.db.database import Tx
from hall.runtime import HallRuntime


def window_event(tx: Tx, h: HallRuntime, number: str, state: str, now: datetime, **extra: Any) -> int:
    wcfg = h.cfg.window(number)
    return tx.emit(h.id, "window.state", now, {
        "window": number, "window_name": wcfg.name if wcfg else number, "state": state, **extra,
    })
