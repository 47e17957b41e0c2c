"""A device's connectivity, decided from what it sends and what it does not (pure).

Two signals say a device is gone: its last will (``status`` offline, published by the broker
when the connection dies) and missed heartbeats. Either must be about the device's *current*
boot: a last will from an older boot, arriving late, says nothing about the device that is
running now. A last will of the current boot waits ``reboot_grace_s`` for the next boot's
``online`` (a quick reboot: the broker fires the old session's will as the new one connects), so
a reboot does not flap. Once offline, a device is online again only after ``online_after_good``
good messages in a row, so one stray packet does not flap it either.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple


class Change(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    REBOOTED = "rebooted"


@dataclass(frozen=True, slots=True)
class ConnRules:
    heartbeat_ms: int
    offline_after_missed: int
    online_after_good: int
    reboot_grace_ms: int

    @property
    def silence_ms(self) -> int:
        return self.heartbeat_ms * self.offline_after_missed


class Conn(NamedTuple):
    """Immutable; a tuple because one is made per message (a frozen dataclass costs 3x as much)."""

    online: bool = False
    boot: int | None = None
    last_seen_ms: int | None = None
    since_ms: int | None = None  # when ``online`` last changed
    good: int = 0  # good messages in a row while offline
    will_ms: int | None = None  # a last will of the current boot is waiting out the grace
    reason: str | None = None  # why it is offline: last_will, heartbeat, never_seen


class Step(NamedTuple):
    conn: Conn
    change: Change | None = None
    stale: bool = False  # the message was about an older boot and was ignored


def _good(c: Conn, now: int, rules: ConnRules, boot: int | None) -> Step:
    """A good message: telemetry, an event, an ack or an ``online`` status."""
    if c.online:  # the common case, once per message: spelled out rather than _replace
        return Step(Conn(True, c.boot if boot is None else boot, now, c.since_ms, c.good, None, c.reason))
    c = c._replace(last_seen_ms=now, will_ms=None, boot=boot if boot is not None else c.boot)
    good = c.good + 1
    if good >= rules.online_after_good:
        return Step(c._replace(online=True, good=0, since_ms=now, reason=None), Change.ONLINE)
    return Step(c._replace(good=good))


def on_status(c: Conn, online: bool, boot: int, now: int, rules: ConnRules) -> Step:
    if c.boot is not None and boot < c.boot:
        return Step(c, stale=True)  # an older boot's status, delivered late
    if online:
        if c.online and c.boot is not None and boot != c.boot:
            return Step(c._replace(boot=boot, last_seen_ms=now, will_ms=None), Change.REBOOTED)
        return _good(c, now, rules, boot)
    # offline: the device's own goodbye or its last will
    if c.boot is not None and boot != c.boot:
        return Step(c._replace(boot=boot, good=0))  # a will of a boot we never saw online: note it
    if not c.online:
        return Step(c._replace(good=0, boot=boot))
    if rules.reboot_grace_ms <= 0:
        return _offline(c._replace(boot=boot), now, "last_will")
    return Step(c._replace(will_ms=now if c.will_ms is None else c.will_ms))


def on_message(c: Conn, now: int, rules: ConnRules) -> Step:
    """Telemetry, an event or a command ack (they carry no boot)."""
    if c.will_ms is not None and c.online:
        # the connection that sent the will is gone; a message now is from a new connection of the
        # same boot (a reconnect without reboot): it is alive.
        return Step(c._replace(will_ms=None, last_seen_ms=now))
    return _good(c, now, rules, None)


def tick(c: Conn, now: int, rules: ConnRules) -> Step:
    """Time passes: a will past its grace, or heartbeats missed, take the device offline."""
    if not c.online:
        return Step(c)
    if c.will_ms is not None and now - c.will_ms >= rules.reboot_grace_ms:
        return _offline(c, now, "last_will")
    if c.last_seen_ms is not None and now - c.last_seen_ms > rules.silence_ms:
        return _offline(c, now, "heartbeat")
    return Step(c)


def _offline(c: Conn, now: int, reason: str) -> Step:
    return Step(c._replace(online=False, since_ms=now, good=0, will_ms=None, reason=reason), Change.OFFLINE)
