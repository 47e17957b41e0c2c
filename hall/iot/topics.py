"""MQTT topics of CONTRACT.md: builders and the one matcher (pure).

``hall/{hall}/device/{device}/{status|telemetry|event|cmd|cmd/ack}`` and
``hall/{hall}/window/{window}/display``. The server subscribes to ``hall/#`` (or a shared
subscription of it) and sorts every message with :func:`classify`: what devices send is
processed, what the server itself publishes (commands, window displays) is skipped, anything else
is rejected and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

ROOT = "hall"
SUBSCRIPTION = "hall/#"
_DEVICE_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


class Kind(StrEnum):
    STATUS = "status"
    TELEMETRY = "telemetry"
    EVENT = "event"
    ACK = "cmd/ack"
    OWN = "own"  # published by the server (cmd, display): not for ingestion
    BAD = "bad"  # not a topic of the contract


@dataclass(frozen=True, slots=True)
class Topic:
    kind: Kind
    hall: str = ""
    device: str = ""


def status(hall: str, device: str) -> str:
    return f"hall/{hall}/device/{device}/status"


def telemetry(hall: str, device: str) -> str:
    return f"hall/{hall}/device/{device}/telemetry"


def event(hall: str, device: str) -> str:
    return f"hall/{hall}/device/{device}/event"


def cmd(hall: str, device: str) -> str:
    return f"hall/{hall}/device/{device}/cmd"


def cmd_ack(hall: str, device: str) -> str:
    return f"hall/{hall}/device/{device}/cmd/ack"


def display(hall: str, window: str) -> str:
    return f"hall/{hall}/window/{window}/display"


def device_prefix(hall: str, device: str) -> str:
    """Everything a device may publish lies under this (the broker ACL says so too)."""
    return f"hall/{hall}/device/{device}/"


def hall_filter(hall: str, group: str | None) -> str:
    """One hall's device topics as a shared subscription of its own group (``{group}-{hall}``):
    while a hall's lease moves between server processes both may listen for a moment, and the
    broker gives each message to one of them, not to both."""
    return shared(f"{group or 'hall'}-{hall}", f"hall/{hall}/#")


def shared(group: str, topic: str = SUBSCRIPTION) -> str:
    """An MQTT 5 / Mosquitto shared subscription: workers of one group split the messages."""
    return f"$share/{group}/{topic}"


_LEAF = {"status": Kind.STATUS, "telemetry": Kind.TELEMETRY, "event": Kind.EVENT}
_BAD = Topic(Kind.BAD)


def classify(topic: str) -> Topic:
    """What a topic is. Never raises: anything unexpected is ``Kind.BAD``."""
    parts = topic.split("/")
    n = len(parts)
    if n < 5 or parts[0] != ROOT or not parts[1]:
        return _BAD
    hall = parts[1]
    if parts[2] == "window":
        return Topic(Kind.OWN, hall) if n == 5 and parts[4] == "display" and parts[3] else _BAD
    if parts[2] != "device" or not parts[3]:
        return _BAD
    device = parts[3]
    if n == 5:
        leaf = parts[4]
        kind = _LEAF.get(leaf)
        if kind is not None:
            return Topic(kind, hall, device)
        return Topic(Kind.OWN, hall, device) if leaf == "cmd" else Topic(Kind.BAD, hall, device)
    if n == 6 and parts[4] == "cmd" and parts[5] == "ack":
        return Topic(Kind.ACK, hall, device)
    return Topic(Kind.BAD, hall, device)


def valid_device_id(device: str) -> bool:
    return 2 <= len(device) <= 64 and device[0] != "-" and set(device) <= _DEVICE_ID_CHARS
