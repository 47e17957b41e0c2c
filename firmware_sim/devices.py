"""Simulated hall devices over MQTT (CONTRACT.md, "MQTT"): the public names in one place.

``make_device("locker", "locker-01", "hn-tja", "mqtt://127.0.0.1:1883", slots=12).start()`` builds
and powers on one device; :mod:`firmware_sim.device` has the shared behaviour and fault injection,
:mod:`firmware_sim.kinds` the six kinds, :mod:`firmware_sim.fleet` runs many of them.
"""

from __future__ import annotations

from typing import Any

from firmware_sim.device import MALFORMED_KINDS, BrokerAddress, DeviceStats, SimDevice, real_now_ms
from firmware_sim.kinds import (
    CALLER_BUTTONS,
    KINDS,
    PAPER_LOW_PCT,
    Caller,
    EnvSensor,
    Kiosk,
    Locker,
    Screen,
    TicketPrinter,
)

__all__ = [
    "CALLER_BUTTONS", "KINDS", "MALFORMED_KINDS", "PAPER_LOW_PCT", "BrokerAddress", "Caller", "DeviceStats",
    "EnvSensor", "Kiosk", "Locker", "Screen", "SimDevice", "TicketPrinter", "make_device", "real_now_ms",
]


def make_device(kind: str, device_id: str, hall: str, broker: BrokerAddress | str, **options: Any) -> SimDevice:
    """Build (not start) a device of ``kind``; ``options`` go to its constructor (e.g. ``slots``,
    ``heartbeat_s``, ``keepalive``, ``username``, ``password``, ``window``, ``auto_close_s``)."""
    try:
        cls = KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown device kind {kind!r} (one of {', '.join(KINDS)})") from None
    if cls is not Locker:
        options.pop("slots", None)
        options.pop("auto_close_s", None)
    return cls(device_id, hall, broker, **options)
