"""Commands to devices: stored before they are published, answered by the device, never resent.

A command is a row first (``pending``) and only then published; the device answers on
``cmd/ack`` (``accepted``, then ``done`` / ``failed`` / ``rejected``). Nothing here ever
publishes a command twice: a command without an answer in ``command_timeout_s`` becomes
``timeout`` (a visible failure), one not yet sent when it expires becomes ``expired``, and after a
restart every command still in flight becomes ``unknown`` (a locker door must not open twice).
An answer that comes after a timeout still records the truth, marked late.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Connection, select, update

from hall import audit
from hall.db.database import Tx
from hall.db.models import command_t
from hall.errors import BadRequest, Conflict, NotFound
from hall.runtime import HallRuntime, ms

IN_FLIGHT = ("pending", "sent", "accepted")
FINAL = ("done", "failed", "rejected", "timeout", "expired", "unknown")
KINDS_FOR = {
    "open_door": ("locker",),
    "reboot": ("kiosk", "ticket_printer", "locker", "screen", "env_sensor", "caller"),
    "print": ("kiosk", "ticket_printer"),
    "display": ("screen", "caller", "kiosk"),
}
_encode = msgspec.json.Encoder().encode


def check(name: str, args: dict[str, Any], kind: str, slots: int) -> dict[str, Any]:
    """The command's arguments, checked for the device (pure)."""
    if name not in KINDS_FOR:
        raise BadRequest(f"未知指令「{name}」", f"unknown command {name!r} (known: {', '.join(KINDS_FOR)})",
                         code="unknown_command")
    if kind not in KINDS_FOR[name]:
        raise Conflict(f"该设备不支持指令「{name}」", f"a {kind} does not take {name!r}", code="command_not_supported")
    if name == "open_door":
        slot = args.get("slot")
        if not isinstance(slot, int) or isinstance(slot, bool) or not 1 <= slot <= max(slots, 1):
            raise BadRequest(f"格口号须为 1-{slots}", f"slot must be an integer 1-{slots}", code="bad_slot")
        return {"slot": slot}
    if name == "print":
        tid = args.get("ticket_id")
        if tid is not None and (not isinstance(tid, str) or len(tid) > 64):
            raise BadRequest("票号 id 格式错误", "ticket_id must be a short string", code="bad_args")
        return {"ticket_id": tid or "test"}  # without a ticket: a test slip
    if name == "display":
        text = args.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > 200:
            raise BadRequest("显示内容须为 1-200 个字符", "text must be 1-200 characters", code="bad_args")
        return {"text": text.strip()}
    return {}


def view(h: HallRuntime, r: Any) -> dict[str, Any]:
    return {
        "id": r.id, "device": r.device, "name": r.name, "args": msgspec.json.decode(r.args), "state": r.state,
        "created_at": h.iso(r.created_ms), "expires_at": h.iso(r.expires_ms), "sent_at": h.iso(r.sent_ms),
        "acked_at": h.iso(r.acked_ms), "done_at": h.iso(r.done_ms), "detail": msgspec.json.decode(r.detail),
        "by": r.actor, "purpose": r.purpose,
    }


def _get(conn: Connection, hall: str, cmd_id: str) -> Any:
    r = conn.execute(select(command_t).where(command_t.c.hall_id == hall, command_t.c.id == cmd_id)).first()
    if r is None:
        raise NotFound("没有这条指令", f"unknown command {cmd_id!r}", code="unknown_command_id")
    return r


def _set(tx: Tx, h: HallRuntime, now: datetime, r: Any, state: str, **values: Any) -> dict[str, Any]:
    tx.conn.execute(update(command_t).where(command_t.c.id == r.id).values(state=state, **values))
    row = _get(tx.conn, h.id, r.id)
    data = view(h, row)
    tx.emit(h.id, f"command.{state}", now, data)
    return data


def create(tx: Tx, h: HallRuntime, now: datetime, device: str, name: str, args: dict[str, Any],
           actor: str | None, ttl_s: int, purpose: str | None = None) -> dict[str, Any]:
    tx.lock_hall(h.id)  # hall row first, like every writer: no deadlock on PostgreSQL
    cmd_id = str(uuid.uuid4())
    tx.conn.execute(command_t.insert().values(
        id=cmd_id, hall_id=h.id, device=device, name=name, args=_encode(args).decode(), state="pending",
        created_ms=ms(now), expires_ms=ms(now) + ttl_s * 1000, detail="{}", actor=actor, purpose=purpose))
    row = _get(tx.conn, h.id, cmd_id)
    data = view(h, row)
    tx.emit(h.id, "command.pending", now, data)
    if actor is not None and purpose is None:  # a staff member's own command (a deposit's door is audited there)
        slot = {"slot": args["slot"]} if isinstance(args.get("slot"), int) else {}
        audit.record(tx, h.id, now, actor, "device.command", device, command=cmd_id, name=name, **slot)
    return data


def payload(row: dict[str, Any], expires_ms: int) -> bytes:
    return _encode({"id": row["id"], "name": row["name"], "args": row["args"], "expires_at": expires_ms})


def mark_sent(tx: Tx, h: HallRuntime, now: datetime, cmd_id: str) -> dict[str, Any] | None:
    """The command was published at ``now``."""
    tx.lock_hall(h.id)  # hall row first, like every writer: no deadlock on PostgreSQL
    r = _get(tx.conn, h.id, cmd_id)
    if r.state != "pending":
        # answered before the publish was recorded (a fast device): keep the answer, note the time
        if r.sent_ms is None:
            tx.conn.execute(update(command_t).where(command_t.c.id == r.id).values(sent_ms=ms(now)))
        return None
    return _set(tx, h, now, r, "sent", sent_ms=ms(now))


def on_ack(tx: Tx, h: HallRuntime, now: datetime, device: str, cmd_id: str, status: str,
           detail: dict[str, Any]) -> dict[str, Any] | None:
    """A device's answer. Ignored for another device's command or a state it cannot follow."""
    tx.lock_hall(h.id)  # hall row first, like every writer: no deadlock on PostgreSQL
    r = tx.conn.execute(select(command_t).where(command_t.c.hall_id == h.id, command_t.c.id == cmd_id)).first()
    if r is None or r.device != device:
        return None
    if r.state == "pending":  # a fast device answered before the publish was recorded: it was sent
        _set(tx, h, now, r, "sent", sent_ms=ms(now))
        r = _get(tx.conn, h.id, cmd_id)
    late = r.state in ("timeout", "unknown", "expired")
    if status == "accepted":
        if r.state not in ("pending", "sent"):
            return None
        return _set(tx, h, now, r, "accepted", acked_ms=ms(now), detail=_encode(detail).decode())
    if r.state in ("done", "failed", "rejected"):
        return None
    extra = {**detail, "late": True} if late else detail
    return _set(tx, h, now, r, status, done_ms=ms(now), acked_ms=r.acked_ms or ms(now),
                detail=_encode(extra).decode())


def sweep(tx: Tx, h: HallRuntime, now: datetime) -> list[dict[str, Any]]:
    """Commands past their time: sent and unanswered → timeout; never sent and expired → expired."""
    tx.lock_hall(h.id)  # hall row first, like every writer: no deadlock on PostgreSQL
    now_ms = ms(now)
    timeout_ms = h.cfg.iot.command_timeout_s * 1000
    q = select(command_t).where(command_t.c.hall_id == h.id, command_t.c.state.in_(IN_FLIGHT))
    out = []
    for r in tx.conn.execute(q).all():
        if r.state == "pending" and now_ms >= r.expires_ms:
            out.append(_set(tx, h, now, r, "expired", detail=_encode({"reason": "not sent in time"}).decode()))
        elif r.state in ("sent", "accepted") and now_ms - (r.sent_ms or r.created_ms) >= timeout_ms:
            out.append(_set(tx, h, now, r, "timeout", detail=_encode({"after_s": timeout_ms // 1000}).decode()))
    return out


def at_start(tx: Tx, h: HallRuntime, now: datetime) -> list[dict[str, Any]]:
    """After a restart, commands in flight have an unknown outcome: never resent."""
    tx.lock_hall(h.id)  # hall row first, like every writer: no deadlock on PostgreSQL
    q = select(command_t).where(command_t.c.hall_id == h.id, command_t.c.state.in_(IN_FLIGHT))
    return [_set(tx, h, now, r, "unknown", detail=_encode({"reason": "server restarted"}).decode())
            for r in tx.conn.execute(q).all()]


def get(conn: Connection, h: HallRuntime, cmd_id: str) -> dict[str, Any]:
    return view(h, _get(conn, h.id, cmd_id))


def recent(conn: Connection, h: HallRuntime, device: str | None = None, state: str | None = None,
           limit: int = 50) -> list[dict[str, Any]]:
    q = select(command_t).where(command_t.c.hall_id == h.id)
    if device:
        q = q.where(command_t.c.device == device)
    if state:
        q = q.where(command_t.c.state == state)
    return [view(h, r) for r in conn.execute(q.order_by(command_t.c.created_ms.desc()).limit(limit))]
