"""Alarms as rows and events: raise (or count again), clear, list.

One open alarm per (hall, source, subject, type): a partial unique index enforces it, and raising
an alarm that is already open counts it again instead of adding a row. States: ``active`` →
``acked`` → ``cleared`` → ``closed`` (ISA-18.2 style; a condition that clears before anyone
acknowledges it stays ``cleared`` until acknowledged). The 空岗 and wait alarms of the staffing
controller use this; the device alarms of the MQTT side grow its lifecycle (assign, shelve, …).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Connection, insert, select, update

from hall.db.database import Tx
from hall.db.models import alarm_t
from hall.runtime import HallRuntime, ms

OPEN_STATES = ("active", "acked", "cleared")


def _open(conn: Connection, hall: str, source: str, subject: str, type_: str) -> Any | None:
    return conn.execute(select(alarm_t).where(
        alarm_t.c.hall_id == hall, alarm_t.c.source == source, alarm_t.c.subject == subject,
        alarm_t.c.type == type_, alarm_t.c.state.in_(OPEN_STATES),
    )).first()


def view(h: HallRuntime, r: Any) -> dict[str, Any]:
    return {
        "id": r.id, "source": r.source, "subject": r.subject, "device": r.subject if r.source == "device" else None,
        "type": r.type, "severity": r.severity, "state": r.state, "raised_at": h.iso(r.raised_ms),
        "cleared_at": h.iso(r.cleared_ms), "acked_by": r.acked_by, "assignee": None, "count": r.count,
        "detail": msgspec.json.decode(r.detail),
    }


def raise_alarm(tx: Tx, h: HallRuntime, now: datetime, source: str, subject: str, type_: str, severity: str,
                detail: dict[str, Any]) -> str:
    """Raise an alarm, or count an open one again (back to active if it had cleared). Returns its id."""
    conn = tx.conn
    prev = _open(conn, h.id, source, subject, type_)
    if prev is not None:
        state = "active" if prev.state in ("active", "cleared") else prev.state
        conn.execute(update(alarm_t).where(alarm_t.c.id == prev.id).values(
            count=prev.count + 1, state=state, cleared_ms=None, detail=msgspec.json.encode(detail).decode()))
        alarm_id = prev.id
    else:
        alarm_id = secrets.token_hex(8)
        conn.execute(insert(alarm_t).values(
            id=alarm_id, hall_id=h.id, source=source, subject=subject, type=type_, severity=severity,
            state="active", raised_ms=ms(now), count=1, detail=msgspec.json.encode(detail).decode()))
    row = conn.execute(select(alarm_t).where(alarm_t.c.id == alarm_id)).one()
    tx.emit(h.id, "alarm.raised", now, view(h, row))
    return alarm_id


def clear_alarm(tx: Tx, h: HallRuntime, now: datetime, source: str, subject: str, type_: str) -> str | None:
    """The condition is gone: an acknowledged alarm closes, an unacknowledged one waits as cleared."""
    conn = tx.conn
    prev = _open(conn, h.id, source, subject, type_)
    if prev is None or prev.state == "cleared":
        return None
    state = "closed" if prev.state == "acked" else "cleared"
    conn.execute(update(alarm_t).where(alarm_t.c.id == prev.id).values(state=state, cleared_ms=ms(now)))
    row = conn.execute(select(alarm_t).where(alarm_t.c.id == prev.id)).one()
    tx.emit(h.id, "alarm.cleared", now, view(h, row))
    return prev.id


def active_by_subject(conn: Connection, hall: str, source: str, type_: str) -> dict[str, Any]:
    """Subject -> alarm row, for the alarms of one kind whose condition holds now (active or acked)."""
    q = select(alarm_t).where(alarm_t.c.hall_id == hall, alarm_t.c.source == source, alarm_t.c.type == type_,
                              alarm_t.c.state.in_(("active", "acked")))
    return {r.subject: r for r in conn.execute(q)}


def list_alarms(conn: Connection, h: HallRuntime, state: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    q = select(alarm_t).where(alarm_t.c.hall_id == h.id)
    if state == "open":
        q = q.where(alarm_t.c.state.in_(OPEN_STATES))
    elif state:
        q = q.where(alarm_t.c.state == state)
    q = q.order_by(alarm_t.c.raised_ms.desc()).limit(limit)
    return [view(h, r) for r in conn.execute(q)]
