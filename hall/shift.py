"""The duty officer's shift (issue #6): handover notes, the shift's summary, the staff to assign to.

Two layers. ``gather`` reads plain facts for a period from the tables (``alarm`` and the alarm
rows of ``audit``, ``command``, ``deposit``, the locker events of ``event``, ``ticket``,
``shift_note``); ``summarize`` is pure and shapes them into the summary the console shows and the
handover PDF prints. The period is half-open, ``since <= t < until``.

What each figure counts (documented in the README too):

- ``alarms.raised``: alarms first raised in the period (one row each, however often counted
  again); ``by_severity`` and ``by_type`` split those. ``acknowledged``, ``cleared``, ``resolved``,
  ``escalated``: the audit rows of those actions in the period (an alarm acknowledged before its
  condition cleared counts in both). ``still_open`` and ``open``: the alarms open at ``until``
  (raised before it, not closed by then, also those raised in earlier shifts), ``open`` being the
  first ``OPEN_LIST_MAX`` by severity, then oldest first, as ``GET /alarms`` shows them now.
- ``commands``: the commands created in the period by their state now, and the ones that went
  wrong (``failed``, ``rejected``, ``timeout``, ``expired``, ``unknown``), newest first.
- ``lockers``: items stored (the door closed on them) and picked up in the period, door operations
  that failed (``locker.deposit_failed`` and ``locker.pickup_failed``), deposits reconciliation found
  missing, lockouts after wrong codes; ``pending_pickup``: items waiting for their visitor now.
- ``tickets``: issued and finished in the period, no-shows, and waiting now.

Default period: the last ``DEFAULT_HOURS`` hours up to now (a night shift is about twelve).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import Connection, func, insert, or_, select

from hall import alarms
from hall.auth import ROLES
from hall.db.database import Tx
from hall.db.models import (
    alarm_t,
    audit_t,
    command_t,
    deposit_t,
    event_t,
    shift_note_t,
    staff_t,
    ticket_t,
)
from hall.errors import BadRequest
from hall.hallconfig import SEVERITIES
from hall.iot import commands
from hall.runtime import Actor, HallRuntime, ms

NOTE_MAX = 2000
NOTES_MAX = 200  # notes in one summary (the period's newest)
DEFAULT_HOURS = 12
MAX_SPAN_DAYS = 31
OPEN_LIST_MAX = 20
FAILED_LIST_MAX = 20
COMMAND_STATES = commands.IN_FLIGHT + commands.FINAL
FAILED_COMMAND_STATES = ("failed", "rejected", "timeout", "expired", "unknown")
ALARM_ACTIONS = {"alarm.ack": "acknowledged", "alarm.clear": "cleared", "alarm.resolve": "resolved",
                 "alarm.escalate": "escalated"}
LOCKER_FAILED_EVENTS = ("locker.deposit_failed", "locker.pickup_failed")
_SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}


# --------------------------------------------------------------------------- notes

def check_note(text: str | None) -> str:
    """The note's text, stripped: 1 to NOTE_MAX characters (400 ``bad_note``)."""
    body = (text or "").strip()
    if not body or len(body) > NOTE_MAX:
        raise BadRequest(f"交接班记录须为 1-{NOTE_MAX} 个字符", f"a note must be 1-{NOTE_MAX} characters",
                         code="bad_note")
    return body


def note_view(h: HallRuntime, r: Any, names: Mapping[str, str]) -> dict[str, Any]:
    return {"id": r.id, "at": h.iso(r.at_ms), "author": r.author, "author_name": names.get(r.author) or r.author,
            "text": r.text}


def add_note(tx: Tx, h: HallRuntime, now: datetime, actor: Actor, text: str) -> dict[str, Any]:
    """Store a handover note and announce it (``shift.note``); returns the note's view."""
    body = check_note(text)
    note_id = tx.conn.execute(insert(shift_note_t).values(hall_id=h.id, at_ms=ms(now), author=actor.username,
                                                          text=body).returning(shift_note_t.c.id)).scalar_one()
    row = tx.conn.execute(select(shift_note_t).where(shift_note_t.c.id == note_id)).one()
    note = note_view(h, row, {actor.username: actor.display_name})
    tx.emit(h.id, "shift.note", now, note)
    return note


def _display_names(conn: Connection, usernames: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(usernames))
    if not wanted:
        return {}
    q = select(staff_t.c.username, staff_t.c.display_name).where(staff_t.c.username.in_(wanted))
    return {r.username: r.display_name for r in conn.execute(q)}


def list_notes(conn: Connection, h: HallRuntime, since_ms: int | None = None, until_ms: int | None = None,
               limit: int = 50) -> list[dict[str, Any]]:
    """Notes, newest first, from ``since_ms`` (inclusive) to ``until_ms`` (exclusive)."""
    q = select(shift_note_t).where(shift_note_t.c.hall_id == h.id)
    if since_ms is not None:
        q = q.where(shift_note_t.c.at_ms >= since_ms)
    if until_ms is not None:
        q = q.where(shift_note_t.c.at_ms < until_ms)
    rows = list(conn.execute(q.order_by(shift_note_t.c.at_ms.desc(), shift_note_t.c.id.desc()).limit(limit)))
    names = _display_names(conn, (r.author for r in rows))
    return [note_view(h, r, names) for r in rows]


# --------------------------------------------------------------------------- the period

def period(h: HallRuntime, since: str | None, until: str | None) -> tuple[datetime, datetime]:
    """The summary's period from the request (ISO 8601; without an offset, hall local time).
    Default: the last DEFAULT_HOURS hours up to now. 400 ``bad_period`` when it is empty or longer
    than MAX_SPAN_DAYS; ``bad_time`` when a time does not parse."""
    now = h.now()
    # Up to now means including this very millisecond (the period is half-open).
    end = h.parse_time(until) if until else now + timedelta(milliseconds=1)
    start = h.parse_time(since) if since else now - timedelta(hours=DEFAULT_HOURS)
    if start >= end:
        raise BadRequest("开始时间须早于结束时间", "since must be before until", code="bad_period")
    if end - start > timedelta(days=MAX_SPAN_DAYS):
        raise BadRequest(f"时间段不能超过{MAX_SPAN_DAYS}天", f"the period may be at most {MAX_SPAN_DAYS} days",
                         code="bad_period")
    return start.astimezone(h.cfg.tz), end.astimezone(h.cfg.tz)


# --------------------------------------------------------------------------- facts (SQL)

@dataclass
class ShiftFacts:
    """What ``gather`` read for one period: plain values, no rows."""

    since: str
    until: str
    raised: list[tuple[str, str]] = field(default_factory=list)  # (type, severity) of each new alarm
    actions: dict[str, int] = field(default_factory=dict)  # audit action -> count
    open_alarms: list[dict[str, Any]] = field(default_factory=list)  # views, any order
    command_states: dict[str, int] = field(default_factory=dict)
    failed_commands: list[dict[str, Any]] = field(default_factory=list)  # views, newest first
    stored: int = 0
    picked_up: int = 0
    pending_pickup: int = 0
    locker_events: dict[str, int] = field(default_factory=dict)  # event type -> count
    reconciled: list[str] = field(default_factory=list)  # the action of each locker.reconciled
    notes: list[dict[str, Any]] = field(default_factory=list)  # views, newest first
    issued: int = 0
    finished: int = 0
    no_show: int = 0
    waiting_now: int = 0


def _count(conn: Connection, table: Any, *where: Any) -> int:
    return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def _between(col: Any, since_ms: int, until_ms: int) -> Any:
    return col.between(since_ms, until_ms - 1)


def gather(conn: Connection, h: HallRuntime, since: datetime, until: datetime) -> ShiftFacts:
    """Read the period's facts from the tables."""
    s, u = ms(since), ms(until)
    f = ShiftFacts(since=since.isoformat(timespec="seconds"), until=until.isoformat(timespec="seconds"))
    a = alarm_t.c
    f.raised = [(r.type, r.severity) for r in conn.execute(
        select(a.type, a.severity).where(a.hall_id == h.id, _between(a.raised_ms, s, u)))]
    f.actions = {r.action: r.n for r in conn.execute(
        select(audit_t.c.action, func.count().label("n"))
        .where(audit_t.c.hall_id == h.id, _between(audit_t.c.at_ms, s, u), audit_t.c.action.in_(list(ALARM_ACTIONS)),
               audit_t.c.outcome == "ok")
        .group_by(audit_t.c.action))}
    f.open_alarms = [alarms.view(h, r) for r in conn.execute(
        select(alarm_t).where(a.hall_id == h.id, a.raised_ms < u, or_(a.closed_ms.is_(None), a.closed_ms >= u)))]

    c = command_t.c
    in_period = (c.hall_id == h.id, _between(c.created_ms, s, u))
    f.command_states = {r.state: r.n for r in conn.execute(
        select(c.state, func.count().label("n")).where(*in_period).group_by(c.state))}
    f.failed_commands = [commands.view(h, r) for r in conn.execute(
        select(command_t).where(*in_period, c.state.in_(FAILED_COMMAND_STATES))
        .order_by(c.created_ms.desc(), c.id).limit(FAILED_LIST_MAX))]

    d = deposit_t.c
    f.stored = _count(conn, deposit_t, d.hall_id == h.id, _between(d.stored_ms, s, u))
    f.picked_up = _count(conn, deposit_t, d.hall_id == h.id, _between(d.picked_ms, s, u))
    f.pending_pickup = _count(conn, deposit_t, d.hall_id == h.id, d.state == "stored")
    e = event_t.c
    locker = (e.hall_id == h.id, e.topic == "locker", _between(e.at_ms, s, u))
    f.locker_events = {r.type: r.n for r in conn.execute(
        select(e.type, func.count().label("n")).where(*locker, e.type.in_([*LOCKER_FAILED_EVENTS, "locker.locked_out"]))
        .group_by(e.type))}
    f.reconciled = [msgspec.json.decode(r.envelope).get("data", {}).get("action", "")
                    for r in conn.execute(select(e.envelope).where(*locker, e.type == "locker.reconciled"))]

    f.notes = list_notes(conn, h, s, u, NOTES_MAX)

    t = ticket_t.c
    f.issued = _count(conn, ticket_t, t.hall_id == h.id, _between(t.issued_ms, s, u))
    f.finished = _count(conn, ticket_t, t.hall_id == h.id, _between(t.finished_ms, s, u))
    f.no_show = _count(conn, ticket_t, t.hall_id == h.id, _between(t.no_show_ms, s, u))
    f.waiting_now = _count(conn, ticket_t, t.hall_id == h.id, t.status == "waiting")
    return f


# --------------------------------------------------------------------------- the summary (pure)

def _tally(values: Iterable[str], keys: Iterable[str] = ()) -> dict[str, int]:
    """Counts by value; every one of ``keys`` present (0 when absent), then the others, sorted."""
    out = dict.fromkeys(keys, 0)
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def open_order(alarm: Mapping[str, Any]) -> tuple[int, str, str]:
    """Most severe first, then the oldest (``raised_at`` is ISO in one timezone: sorts as text)."""
    return _SEVERITY_RANK.get(alarm["severity"], len(_SEVERITY_RANK)), alarm["raised_at"] or "", alarm["id"]


def summarize(f: ShiftFacts) -> dict[str, Any]:
    """The summary from the facts (pure)."""
    by_type = _tally(t for t, _ in f.raised)
    return {
        "since": f.since,
        "until": f.until,
        "alarms": {
            "raised": len(f.raised),
            **{key: f.actions.get(action, 0) for action, key in ALARM_ACTIONS.items()},
            "still_open": len(f.open_alarms),
            "by_severity": _tally((sev for _, sev in f.raised), SEVERITIES),
            "by_type": dict(sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0]))),
            "open": sorted(f.open_alarms, key=open_order)[:OPEN_LIST_MAX],
        },
        "commands": {
            "total": sum(f.command_states.values()),
            "by_state": {**dict.fromkeys(COMMAND_STATES, 0), **f.command_states},
            "failed": f.failed_commands,
        },
        "lockers": {
            "deposits": f.stored,
            "picked_up": f.picked_up,
            "failed": sum(f.locker_events.get(t, 0) for t in LOCKER_FAILED_EVENTS),
            "missing": sum(1 for action in f.reconciled if action == "missing"),
            "locked_out": f.locker_events.get("locker.locked_out", 0),
            "pending_pickup": f.pending_pickup,
        },
        "notes": f.notes,
        "tickets": {"issued": f.issued, "finished": f.finished, "no_show": f.no_show, "waiting_now": f.waiting_now},
    }


def summary(conn: Connection, h: HallRuntime, since: datetime, until: datetime) -> dict[str, Any]:
    return summarize(gather(conn, h, since, until))


# --------------------------------------------------------------------------- staff to assign to

def check_role(role: str | None) -> None:
    if role and role not in ROLES:
        raise BadRequest(f"角色须为 {'、'.join(ROLES)} 之一", f"role must be one of {', '.join(ROLES)}",
                         code="bad_role")


def staff_list(conn: Connection, hall: str, role: str | None = None) -> list[dict[str, Any]]:
    """Active accounts of the hall (and of every hall: ``hall_id`` NULL), by username; never a hash."""
    s = staff_t.c
    q = select(s.username, s.display_name, s.role).where(s.active, or_(s.hall_id == hall, s.hall_id.is_(None)))
    if role:
        q = q.where(s.role == role)
    return [{"username": r.username, "display_name": r.display_name or r.username, "role": r.role}
            for r in conn.execute(q.order_by(s.username))]
