"""The device tables (twins, registry) in SQL: the only place the IoT side touches them."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Connection, bindparam, insert, select, update

from hall.db.database import Tx
from hall.db.models import alarm_t, device_t
from hall.runtime import HallRuntime

_encode = msgspec.json.Encoder().encode

_FLUSH = (
    update(device_t)
    .where(device_t.c.hall_id == bindparam("h"), device_t.c.device == bindparam("d"))
    .values(metrics=bindparam("m"), last_seen_ms=bindparam("seen"), skew_ms=bindparam("skew"), fw=bindparam("fw"))
)


def ensure_config_devices(tx: Tx, halls: list[HallRuntime], now_ms: int) -> None:
    """Every device of the hall files has its row; the file's kind, place and window win."""
    conn = tx.conn
    rows = {(r.hall_id, r.device): r for r in conn.execute(select(device_t))}
    for h in halls:
        for d in h.cfg.devices:
            r = rows.get((h.id, d.id))
            if r is None:
                conn.execute(insert(device_t).values(
                    hall_id=h.id, device=d.id, kind=d.kind, location=d.location, window=d.window,
                    origin="config", metrics="{}", created_ms=now_ms))
            elif (r.kind, r.location, r.window) != (d.kind, d.location, d.window):
                conn.execute(update(device_t).where(device_t.c.hall_id == h.id, device_t.c.device == d.id)
                             .values(kind=d.kind, location=d.location, window=d.window))


def all_devices(conn: Connection) -> list[Any]:
    return list(conn.execute(select(device_t)))


def one_device(conn: Connection, hall: str, device: str) -> Any | None:
    return conn.execute(select(device_t).where(device_t.c.hall_id == hall, device_t.c.device == device)).first()


def write_connectivity(tx: Tx, hall: str, device: str, values: dict[str, Any]) -> None:
    tx.conn.execute(update(device_t).where(device_t.c.hall_id == hall, device_t.c.device == device).values(**values))


def flush_metrics(tx: Tx, rows: list[dict[str, Any]]) -> None:
    """Last metrics of many devices at once (``h``, ``d``, ``m`` JSON text, ``seen``, ``skew``, ``fw``)."""
    if rows:
        for hall in sorted({r["h"] for r in rows}):
            tx.lock_hall(hall)  # as the ingestion's writes do, so the two never deadlock on PostgreSQL
        tx.conn.execute(_FLUSH, rows)


def active_alarm_types(conn: Connection, hall: str) -> dict[str, list[dict[str, Any]]]:
    """Device -> its open alarms (id, type, severity, state), for the device list."""
    q = select(alarm_t.c.id, alarm_t.c.subject, alarm_t.c.type, alarm_t.c.severity, alarm_t.c.state).where(
        alarm_t.c.hall_id == hall, alarm_t.c.source == "device", alarm_t.c.state.in_(("active", "acked", "cleared")))
    out: dict[str, list[dict[str, Any]]] = {}
    for r in conn.execute(q):
        out.setdefault(r.subject, []).append({"id": r.id, "type": r.type, "severity": r.severity, "state": r.state})
    return out


def encode_metrics(metrics: dict[str, Any]) -> str:
    return _encode(metrics).decode()


def decode_metrics(text: str | None) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(text or "{}")
    except msgspec.DecodeError:
        return {}
    return value if isinstance(value, dict) else {}
