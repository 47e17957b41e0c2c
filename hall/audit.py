"""The audit log (#8): every staff action, who did it, when, on what, and whether it was refused.

One row per action in ``audit`` (``hall_id, at_ms, actor, action, subject, outcome, detail``):

- ``record`` is the one insert. Use cases that keep a richer trail (alarms, follow-ups, leave, posts,
  tidal overrides) call it themselves; so do the device command, the locker deposit and the device
  registration, whose writes run inside the IoT service.
- ``audited(fn, …)`` wraps a write job ``fn(tx, *args)``: it runs ``fn`` and then records the action
  in the same transaction, so an action is stored with its audit row or not at all, and both are
  durable before the answer goes out. If ``fn`` recorded a row for the same actor itself, the
  wrapper adds none (no duplicates). The web layer's ``audited_write`` (hall.web.deps) is how every
  state-changing route of a signed-in staff member writes.
- ``refusal`` is a job that records an action refused (403/409, a failed sign-in) with its error code:
  the refused change was rolled back, so this row is written in a transaction of its own.

``detail`` holds ids, numbers and codes only, never personal data (names, ID numbers, phone
numbers, free text a visitor gave: see hall.privacy); ``facts`` picks those from a use case's answer.
Actions are ``family.verb`` (``window.call_next``); ``actor`` is a staff username, ``system`` for the
server's own actions, ``cli:<os user>`` for the command line. Rows not tied to one hall (the sign-in
of an account of every hall, an unknown username) have ``hall_id = "*"``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Connection, insert, or_, select

from hall.db.database import Tx
from hall.db.models import audit_t, staff_t
from hall.runtime import ms

GLOBAL = "*"  # hall_id of rows that belong to no one hall
OK = "ok"
REFUSED = "refused"
OUTCOMES = (OK, REFUSED)

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode
_seen = threading.local()  # actors recorded by the job running on this writer thread (see ``audited``)

# What ``facts`` may copy from a use case's answer (and from its ``ticket``): ids, numbers, codes.
FACT_KEYS = ("id", "number", "service", "status", "state", "window", "slot", "deposit", "command", "created",
             "imported", "recall")


def record(tx: Tx, hall_id: str, at: datetime | int, actor: str, action: str, subject: str = "",
           outcome: str = OK, /, **detail: Any) -> None:
    """Insert one audit row (in the caller's transaction); ``detail`` may use any key."""
    tx.conn.execute(insert(audit_t).values(
        hall_id=hall_id[:32], at_ms=at if isinstance(at, int) else ms(at), actor=_text(actor, 64),
        action=action[:32], subject=_text(str(subject), 64), outcome=outcome, detail=_encode(detail).decode()))
    seen = getattr(_seen, "actors", None)
    if seen is not None:
        seen.append(actor)


def _text(value: str, limit: int) -> str:
    """A name as typed (a username at sign-in may be anything): no NUL (PostgreSQL refuses it), bounded."""
    return value.replace("\x00", "")[:limit]


def facts(result: Any) -> dict[str, Any]:
    """The ids and numbers of a use case's answer worth keeping (``FACT_KEYS``; a ``ticket`` in it
    gives ``ticket`` and ``number``). Anything else (names, codes for visitors, passwords) is left out."""
    if not isinstance(result, dict):
        return {}
    out: dict[str, Any] = {}
    ticket = result.get("ticket")
    if isinstance(ticket, dict):
        out = {"ticket": ticket.get("id"), **{k: ticket.get(k) for k in ("number", "service", "status")}}
    for k in FACT_KEYS:
        v = result.get(k)
        if k not in out and isinstance(v, str | int | bool) and not isinstance(v, dict):
            out[k] = v
    return {k: v for k, v in out.items() if v is not None}


def audited(fn: Callable[..., Any], hall_id: str, now: Callable[[], datetime], actor: str, action: str,
            subject: str, detail: dict[str, Any] | None = None) -> Callable[..., Any]:
    """The write job ``fn`` followed, in its transaction, by its audit row (unless ``fn`` recorded one
    for ``actor`` itself). The row's detail is ``detail`` plus ``facts`` of what ``fn`` answered; an
    empty ``subject`` becomes the ``id`` in the answer (a note, an appointment)."""

    def job(tx: Tx, *args: Any) -> Any:
        outer = getattr(_seen, "actors", None)
        _seen.actors = mine = []
        try:
            result = fn(tx, *args)
        finally:
            _seen.actors = outer
        if actor not in mine:
            found = facts(result)
            record(tx, hall_id, now(), actor, action, subject or str(found.get("id", "")), OK,
                   **{**(detail or {}), **found})
        return result

    return job


def refusal(tx: Tx, hall_id: str | None, at: datetime, actor: str, action: str, subject: str, error: str,
            status: int, /, **detail: Any) -> None:
    """Record a refused action (a job of its own: the refused change was rolled back). Without
    ``hall_id``, the hall of the staff account named ``actor`` (``*`` if none: e.g. an unknown
    username at sign-in)."""
    if hall_id is None:
        found = tx.conn.execute(select(staff_t.c.hall_id).where(staff_t.c.username == actor)).first()
        hall_id = (found.hall_id if found is not None else None) or GLOBAL
    record(tx, hall_id, at, actor, action, subject, REFUSED, error=error, status=status, **detail)


def log(conn: Connection, hall_id: str, *, since_ms: int | None = None, until_ms: int | None = None,
        actor: str | None = None, action: str | None = None, outcome: str | None = None, limit: int = 200,
        with_global: bool = False, iso: Callable[[int], str | None] = str) -> list[dict[str, Any]]:
    """The hall's audit rows, newest first: ``since`` inclusive, ``until`` exclusive; ``action`` is an
    action (``window.call_next``) or a family (``window``); ``with_global`` adds the rows of no one
    hall (``*``)."""
    a = audit_t.c
    q = select(audit_t).where(a.hall_id.in_([hall_id, GLOBAL]) if with_global else a.hall_id == hall_id)
    if since_ms is not None:
        q = q.where(a.at_ms >= since_ms)
    if until_ms is not None:
        q = q.where(a.at_ms < until_ms)
    if actor:
        q = q.where(a.actor == actor)
    if action:
        q = q.where(a.action == action if "." in action
                    else or_(a.action == action, a.action.startswith(f"{action}.", autoescape=True)))
    if outcome:
        q = q.where(a.outcome == outcome)
    q = q.order_by(a.at_ms.desc(), a.id.desc()).limit(limit)
    return [{"id": r.id, "at": iso(r.at_ms), "hall": r.hall_id, "actor": r.actor, "action": r.action,
             "subject": r.subject, "outcome": r.outcome, "detail": _decode(r.detail)} for r in conn.execute(q)]
