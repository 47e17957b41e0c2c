"""The MQTT payloads of CONTRACT.md as msgspec structs, and their strict decoding (pure).

Decoding never raises anything but :class:`Rejected`, whose ``reason`` is the label counted in
``/metrics`` (``hall_mqtt_rejected_total{reason}``).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

DEVICE_KINDS = ("kiosk", "ticket_printer", "locker", "screen", "env_sensor", "caller")
COMMANDS = ("open_door", "reboot", "print", "display")
ACK_STATUSES = ("accepted", "done", "failed", "rejected")


class Rejected(Exception):
    """A message the server drops; ``reason`` is one of: ``oversized``, ``malformed``, ``schema``,
    ``unknown_device``, ``wrong_hall``, ``topic``, ``stale``."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class Status(msgspec.Struct, frozen=True):
    state: Literal["online", "offline"]
    boot: int
    kind: str | None = None
    fw: str | None = None


class Telemetry(msgspec.Struct, frozen=True):
    ts: int
    seq: int
    metrics: dict[str, Any] = {}


class Event(msgspec.Struct, frozen=True):
    ts: int
    seq: int
    type: str
    detail: dict[str, Any] = {}


class Ack(msgspec.Struct, frozen=True):
    id: str
    status: Literal["accepted", "done", "failed", "rejected"]
    detail: dict[str, Any] = {}


class Command(msgspec.Struct, frozen=True):
    id: str
    name: str
    args: dict[str, Any]
    expires_at: int


class Display(msgspec.Struct, frozen=True):
    ticket: str | None
    text: str
    state: str


_decoders = {
    "status": msgspec.json.Decoder(Status),
    "telemetry": msgspec.json.Decoder(Telemetry),
    "event": msgspec.json.Decoder(Event),
    "cmd/ack": msgspec.json.Decoder(Ack),
}
encode = msgspec.json.Encoder().encode


def decode(kind: str, payload: bytes, max_bytes: int) -> Any:
    """Decode one device message of ``kind`` (status, telemetry, event, cmd/ack)."""
    if len(payload) > max_bytes:
        raise Rejected("oversized", f"{len(payload)} bytes > {max_bytes}")
    try:
        return _decoders[kind].decode(payload)
    except msgspec.ValidationError as e:
        raise Rejected("schema", str(e)[:200]) from None
    except msgspec.DecodeError as e:
        raise Rejected("malformed", str(e)[:200]) from None
