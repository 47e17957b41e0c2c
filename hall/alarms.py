"""Alarms as rows and events: raise (or count again), clear, the operators' actions, the sweep.

One open alarm per (hall, source, subject, type): the partial unique index ``ux_alarm_open``
enforces it, and raising an alarm that is already open counts it again instead of adding a row
(two raises racing on PostgreSQL: the loser's insert fails inside a savepoint and counts the
winner's alarm). The decisions are the pure functions of ``hall.alarm_lifecycle``; this module
reads rows, applies them, writes the row, one audit row per action and one event per change.

What goes on the stream, and what does not:

- a new alarm: ``alarm.raised``; counting an open alarm again is not announced (100 identical
  fault messages make one message and ``count: 100``), a ``cleared`` alarm raised again is
  (``alarm.raised``, unless it is shelved);
- in flood mode (more than ``iot.flood_count`` new alarms in ``iot.flood_window_min`` minutes) a
  new alarm is still stored, with ``flood_id`` naming the flood alarm (source ``hall``, subject the
  hall id, type ``alarm_flood``), but instead of its own ``alarm.raised`` the flood alarm counts it
  and ``alarm.flood`` tells what was grouped, at most once per ``FLOOD_EVENT_EVERY_MS`` (the sweep
  sends what is left). ``GET /alarms`` hides nothing;
- operators' actions and the sweep: ``alarm.acked``, ``alarm.assigned``, ``alarm.commented``,
  ``alarm.shelved``, ``alarm.unshelved``, ``alarm.resolved``, ``alarm.escalated``, ``alarm.cleared``.

Audit actions (subject: the alarm id): ``alarm.raise`` (new or raised again from ``cleared``;
a mere count is not an action), ``alarm.clear``, ``alarm.ack``, ``alarm.assign``, ``alarm.comment``,
``alarm.shelve``, ``alarm.unshelve``, ``alarm.resolve``, ``alarm.escalate``; the system acts as
``system``.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from hall import alarm_lifecycle as lc
from hall import audit
from hall.db.database import Tx
from hall.db.models import alarm_t, audit_t, staff_t
from hall.errors import BadRequest, Forbidden, NotFound
from hall.runtime import Actor, HallRuntime, ms

OPEN_STATES = lc.OPEN_STATES
SYSTEM = "system"
FLOOD_SOURCE = "hall"
FLOOD_TYPE = "alarm_flood"
FLOOD_SEVERITY = "major"
FLOOD_EVENT_EVERY_MS = 5_000  # alarm.flood at most this often; the sweep sends the rest
FLOOD_LIST_MAX = 50  # grouped alarms named in one alarm.flood (the rest are counted)
HANDLER_ROLES = ("duty_officer", "facility", "manager", "admin")

_json = msgspec.json.Encoder()


def _dumps(value: Any) -> str:
    return _json.encode(value).decode()


def _open(conn: Connection, hall: str, source: str, subject: str, type_: str, *, lock: bool = False) -> Any | None:
    q = select(alarm_t).where(
        alarm_t.c.hall_id == hall, alarm_t.c.source == source, alarm_t.c.subject == subject,
        alarm_t.c.type == type_, alarm_t.c.state.in_(OPEN_STATES),
    )
    return conn.execute(q.with_for_update() if lock else q).first()


def _row(conn: Connection, alarm_id: str) -> Any:
    return conn.execute(select(alarm_t).where(alarm_t.c.id == alarm_id)).one()


def _get(conn: Connection, h: HallRuntime, alarm_id: str, *, lock: bool = False) -> Any:
    q = select(alarm_t).where(alarm_t.c.hall_id == h.id, alarm_t.c.id == alarm_id)
    r = conn.execute(q.with_for_update() if lock else q).first()
    if r is None:
        raise NotFound(f"没有找到报警「{alarm_id}」", f"unknown alarm {alarm_id!r}", code="unknown_alarm")
    return r


def _lifecycle(r: Any) -> lc.Alarm:
    values = {f: getattr(r, f) for f in lc.FIELDS}
    values["escalation"] = values["escalation"] or 0
    return lc.Alarm(**values)


def _store(conn: Connection, alarm_id: str, before: lc.Alarm, after: lc.Alarm, **more: Any) -> None:
    """Write the lifecycle fields that changed (and ``more``)."""
    old, new = asdict(before), asdict(after)
    values = {k: v for k, v in new.items() if old[k] != v} | more
    if values:
        conn.execute(update(alarm_t).where(alarm_t.c.id == alarm_id).values(**values))


def _audit(tx: Tx, h: HallRuntime, now: datetime, actor: str, action: str, alarm_id: str, **detail: Any) -> None:
    audit.record(tx, h.id, now, actor, action, alarm_id, **detail)


def _emit(tx: Tx, h: HallRuntime, now: datetime, type_: str, alarm_id: str, by: str, **extra: Any) -> dict[str, Any]:
    data = {**view(h, _row(tx.conn, alarm_id)), "by": by, **extra}
    tx.emit(h.id, type_, now, data)
    return data


def view(h: HallRuntime, r: Any) -> dict[str, Any]:
    """The alarm as ``GET /alarms`` and the events show it."""
    return {
        "id": r.id, "source": r.source, "subject": r.subject, "device": r.subject if r.source == "device" else None,
        "type": r.type, "severity": r.severity, "state": r.state, "raised_at": h.iso(r.raised_ms),
        "last_at": h.iso(r.last_ms or r.raised_ms), "cleared_at": h.iso(r.cleared_ms), "acked_by": r.acked_by,
        "acked_at": h.iso(r.acked_ms), "assignee": r.assignee, "count": r.count,
        "shelved_until": h.iso(r.shelved_until_ms), "escalation": r.escalation or 0,
        "escalated_at": h.iso(r.escalated_ms), "flood_id": r.flood_id, "closed_at": h.iso(r.closed_ms),
        "closed_by": r.closed_by, "detail": msgspec.json.decode(r.detail),
    }


# --------------------------------------------------------------------------- the condition

def raise_alarm(tx: Tx, h: HallRuntime, now: datetime, source: str, subject: str, type_: str, severity: str,
                detail: dict[str, Any]) -> str:
    """Raise an alarm, or count an open one again (back to active if it had cleared). Returns its id.

    ``severity`` is the caller's default; ``iot.severity`` in the hall config overrides it per type.
    """
    tx.lock_hall(h.id)  # the hall row before any alarm row, as every writer does (PostgreSQL)
    conn = tx.conn
    severity = h.cfg.iot.severity.get(type_, severity)
    prev = _open(conn, h.id, source, subject, type_, lock=True)
    alarm_id = None if prev is not None else _insert(tx, h, now, source, subject, type_, severity, detail)
    if alarm_id is None:
        # Open already, or another writer raised it since we looked (PostgreSQL, several writers).
        prev = prev or _open(conn, h.id, source, subject, type_, lock=True)
        if prev is None:  # pragma: no cover - the other writer's alarm closed in between
            raise RuntimeError("alarm vanished while raising it")
        return _count_again(tx, h, now, prev, detail)
    flood = None if source == FLOOD_SOURCE else _flood_check(tx, h, now)
    if flood is None:
        _emit(tx, h, now, "alarm.raised", alarm_id, SYSTEM)
    else:
        conn.execute(update(alarm_t).where(alarm_t.c.id == alarm_id).values(flood_id=flood.id))
        _flood_group(tx, h, now, flood, {"id": alarm_id, "source": source, "subject": subject, "type": type_,
                                         "severity": severity, "raised_at": h.iso(ms(now))})
    return alarm_id


def _insert(tx: Tx, h: HallRuntime, now: datetime, source: str, subject: str, type_: str, severity: str,
            detail: dict[str, Any], count: int = 1) -> str | None:
    """A new open alarm row (and its audit row), or None if one is open already: the insert runs in
    a savepoint, so losing the race to the unique index leaves the transaction usable."""
    alarm_id = secrets.token_hex(8)
    now_ms = ms(now)
    try:
        with tx.conn.begin_nested():
            tx.conn.execute(insert(alarm_t).values(
                id=alarm_id, hall_id=h.id, source=source, subject=subject, type=type_, severity=severity,
                state="active", raised_ms=now_ms, last_ms=now_ms, count=count, detail=_dumps(detail)))
    except IntegrityError:
        return None
    _audit(tx, h, now, SYSTEM, "alarm.raise", alarm_id, source=source, subject=subject, type=type_,
           severity=severity)
    return alarm_id


def _count_again(tx: Tx, h: HallRuntime, now: datetime, prev: Any, detail: dict[str, Any] | None,
                 *, counted: bool = True) -> str:
    """Raise an open alarm again: count it (unless not ``counted``), take the new ``detail`` (if
    given), audit and announce a state change."""
    before = _lifecycle(prev)
    after, announce = lc.raise_again(before, ms(now))
    if not counted:
        after = replace(after, count=before.count)
    _store(tx.conn, prev.id, before, after, **({"detail": _dumps(detail)} if detail is not None else {}))
    if after.state != before.state:
        _audit(tx, h, now, SYSTEM, "alarm.raise", prev.id, again=True, count=after.count)
    if announce:
        _emit(tx, h, now, "alarm.raised", prev.id, SYSTEM)
    return prev.id


def _clear_row(tx: Tx, h: HallRuntime, now: datetime, prev: Any) -> bool:
    before = _lifecycle(prev)
    after = lc.clear(before, ms(now))
    if after is None:
        return False
    _store(tx.conn, prev.id, before, after)
    _audit(tx, h, now, SYSTEM, "alarm.clear", prev.id, state=after.state)
    _emit(tx, h, now, "alarm.cleared", prev.id, SYSTEM)
    return True


def clear_alarm(tx: Tx, h: HallRuntime, now: datetime, source: str, subject: str, type_: str) -> str | None:
    """The condition is gone: an acknowledged alarm closes, an unacknowledged one waits as cleared.
    Returns the alarm's id, or None when there was nothing to clear."""
    tx.lock_hall(h.id)  # the hall row before any alarm row, as every writer does (PostgreSQL)
    prev = _open(tx.conn, h.id, source, subject, type_, lock=True)
    if prev is None or not _clear_row(tx, h, now, prev):
        return None
    return prev.id


def active_by_subject(conn: Connection, hall: str, source: str, type_: str) -> dict[str, Any]:
    """Subject -> alarm row, for the alarms of one kind whose condition holds now (active or acked)."""
    q = select(alarm_t).where(alarm_t.c.hall_id == hall, alarm_t.c.source == source, alarm_t.c.type == type_,
                              alarm_t.c.state.in_(("active", "acked")))
    return {r.subject: r for r in conn.execute(q)}


# --------------------------------------------------------------------------- flood

def _flood_text(h: HallRuntime) -> str:
    c = h.cfg.iot
    return f"报警泛滥：{c.flood_window_min}分钟内超过{c.flood_count}条报警，已合并显示"


def _flood_check(tx: Tx, h: HallRuntime, now: datetime) -> Any | None:
    """After a new alarm (already stored): the open flood alarm to group it under, or None. Starts
    the flood alarm when the threshold is passed (a cleared one not yet acknowledged comes back),
    ends it (and the new alarm is announced as usual) when the raises have fallen to half of it."""
    conn, cfg = tx.conn, h.cfg.iot
    raises = _raises_in_window(conn, h, ms(now))
    flood = _open(conn, h.id, FLOOD_SOURCE, h.id, FLOOD_TYPE, lock=True)
    flooding = flood is not None and flood.state in ("active", "acked")
    if lc.flood_mode(raises, cfg.flood_count, flooding):
        if flood is not None:
            if not flooding:  # its count goes on with what is grouped, not with this raise
                _count_again(tx, h, now, flood, None, counted=False)
            return _row(conn, flood.id)
        detail = {"text": _flood_text(h), "counts": {}, "announced": 0, "announced_ms": 0,
                  "threshold": cfg.flood_count, "window_min": cfg.flood_window_min}
        severity = cfg.severity.get(FLOOD_TYPE, FLOOD_SEVERITY)
        fid = _insert(tx, h, now, FLOOD_SOURCE, h.id, FLOOD_TYPE, severity, detail, count=0)
        if fid is None:  # pragma: no cover - another writer started it a moment ago
            return _open(conn, h.id, FLOOD_SOURCE, h.id, FLOOD_TYPE, lock=True)
        return _row(conn, fid)  # announced once the first alarm is counted under it
    if flooding:
        _flood_end(tx, h, now, flood)
    return None


def _raises_in_window(conn: Connection, h: HallRuntime, now_ms: int) -> int:
    start = now_ms - h.cfg.iot.flood_window_min * lc.MINUTE_MS
    return conn.execute(select(func.count()).select_from(alarm_t).where(
        alarm_t.c.hall_id == h.id, alarm_t.c.source != FLOOD_SOURCE, alarm_t.c.raised_ms > start,
        alarm_t.c.raised_ms <= now_ms)).scalar_one()


def _flood_group(tx: Tx, h: HallRuntime, now: datetime, flood: Any, grouped: dict[str, Any]) -> None:
    """Count one more alarm under the flood alarm (a new flood alarm is announced with its first),
    keep it for the next ``alarm.flood`` and send that if the last one is old enough."""
    detail = msgspec.json.decode(flood.detail)
    counts = detail.setdefault("counts", {})
    counts[grouped["type"]] = counts.get(grouped["type"], 0) + 1
    pending = detail.setdefault("pending", [])
    if len(pending) < FLOOD_LIST_MAX:
        pending.append(grouped)
    tx.conn.execute(update(alarm_t).where(alarm_t.c.id == flood.id).values(
        count=flood.count + 1, last_ms=ms(now), detail=_dumps(detail)))
    if flood.count == 0:
        _emit(tx, h, now, "alarm.raised", flood.id, SYSTEM)
    _flood_announce(tx, h, now, _row(tx.conn, flood.id), flooding=True)


def _flood_announce(tx: Tx, h: HallRuntime, now: datetime, flood: Any, *, flooding: bool,
                    force: bool = False) -> dict[str, Any] | None:
    """``alarm.flood`` with what was grouped since the last one (``new``, the first
    FLOOD_LIST_MAX of them, and ``more``), if anything was and the last one is at least
    FLOOD_EVENT_EVERY_MS old; with ``force`` (the flood ends) in any case."""
    detail = msgspec.json.decode(flood.detail)
    pending = flood.count - detail.get("announced", 0)
    if not force and (pending <= 0 or ms(now) - detail.get("announced_ms", 0) < FLOOD_EVENT_EVERY_MS):
        return None
    new = detail.pop("pending", [])
    detail.update(announced=flood.count, announced_ms=ms(now))
    tx.conn.execute(update(alarm_t).where(alarm_t.c.id == flood.id).values(detail=_dumps(detail)))
    return _emit(tx, h, now, "alarm.flood", flood.id, SYSTEM, flooding=flooding, counts=detail.get("counts", {}),
                 grouped=flood.count, new=new, more=max(0, pending - len(new)))


def _flood_end(tx: Tx, h: HallRuntime, now: datetime, flood: Any) -> None:
    _flood_announce(tx, h, now, flood, flooding=False, force=True)
    _clear_row(tx, h, now, _row(tx.conn, flood.id))


# --------------------------------------------------------------------------- operators' actions

def _may_handle(actor: Actor, r: Any, zh: str, en: str) -> None:
    """Facility staff handle the alarms assigned to them (they accept one by assigning it to themselves)."""
    if actor.role == "facility" and r.assignee != actor.username:
        raise Forbidden(f"只能{zh}指派给您的报警", f"you may only {en} alarms assigned to you", code="not_assigned")


def _done(tx: Tx, h: HallRuntime, now: datetime, r: Any, before: lc.Alarm, after: lc.Alarm, actor: Actor,
          action: str, event: str, audit: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Store the change, audit it, emit the event (the view, ``by`` and ``extra``); returns the view."""
    _store(tx.conn, r.id, before, after)
    _audit(tx, h, now, actor.username, action, r.id, **audit)
    data = _emit(tx, h, now, event, r.id, actor.username, **extra)
    return {k: v for k, v in data.items() if k != "by" and k not in extra}


def ack(tx: Tx, h: HallRuntime, now: datetime, actor: Actor, alarm_id: str) -> dict[str, Any]:
    """Acknowledge: active → acked, cleared → closed. 409 ``alarm_state`` otherwise."""
    tx.lock_hall(h.id)  # the hall row before any alarm row, as every writer does (PostgreSQL)
    r = _get(tx.conn, h, alarm_id, lock=True)
    _may_handle(actor, r, "确认", "acknowledge")
    before = _lifecycle(r)
    after = lc.ack(before, ms(now), actor.username)
    return _done(tx, h, now, r, before, after, actor, "alarm.ack", "alarm.acked", {"state": after.state})


def assign(tx: Tx, h: HallRuntime, now: datetime, actor: Actor, alarm_id: str, assignee: str) -> dict[str, Any]:
    """Assign an open alarm to a staff member who handles alarms; facility staff take it themselves."""
    tx.lock_hall(h.id)  # the hall row before any alarm row, as every writer does (PostgreSQL)
    r = _get(tx.conn, h, alarm_id, lock=True)
    before = _lifecycle(r)
    after = lc.assign(before, assignee)
    if actor.role == "facility" and after.assignee != actor.username:
        raise Forbidden("设施人员只能把报警指派给自己（接单）", "facility staff may only assign an alarm to themselves",
                        code="not_assigned")
    staff = tx.conn.execute(select(staff_t.c.role, staff_t.c.hall_id, staff_t.c.active)
                            .where(staff_t.c.username == after.assignee)).first()
    if staff is None or not staff.active or staff.role not in HANDLER_ROLES or staff.hall_id not in (None, h.id):
        raise BadRequest(f"「{after.assignee}」不是本大厅可处理报警的工作人员",
                         f"{after.assignee!r} is not staff of this hall who handles alarms", code="unknown_assignee")
    return _done(tx, h, now, r, before, after, actor, "alarm.assign", "alarm.assigned",
                 {"assignee": after.assignee, "previous": before.assignee}, previous=before.assignee)


def comment(tx: Tx, h: HallRuntime, now: datetime, actor: Actor, alarm_id: str, text: str) -> dict[str, Any]:
    """Add a comment (any state, also closed). The comments are in ``history``."""
    tx.lock_hall(h.id)  # the hall row before any alarm row, as every writer does (PostgreSQL)
    r = _get(tx.conn, h, alarm_id, lock=True)
    _may_handle(actor, r, "备注", "comment on")
    before = _lifecycle(r)
    body = lc.check_comment(text)
    return _done(tx, h, now, r, before, before, actor, "alarm.comment", "alarm.commented", {"text": body},
                 text=body)


def shelve(tx: Tx, h: HallRuntime, now: datetime, actor: Actor, alarm_id: str, minutes: int,
           reason: str) -> dict[str, Any]:
    """Shelve an open alarm for ``minutes``: not announced again, no escalation, until it runs out
    (the sweep lifts it: ``alarm.unshelved``) or someone unshelves it."""
    tx.lock_hall(h.id)  # the hall row before any alarm row, as every writer does (PostgreSQL)
    r = _get(tx.conn, h, alarm_id, lock=True)
    before = _lifecycle(r)
    after, why = lc.shelve(before, ms(now), minutes, reason)
    audit = {"minutes": minutes, "reason": why, "until": h.iso(after.shelved_until_ms)}
    return _done(tx, h, now, r, before, after, actor, "alarm.shelve", "alarm.shelved", audit, minutes=minutes,
                 reason=why)


def unshelve(tx: Tx, h: HallRuntime, now: datetime, actor: Actor, alarm_id: str) -> dict[str, Any]:
    tx.lock_hall(h.id)  # the hall row before any alarm row, as every writer does (PostgreSQL)
    r = _get(tx.conn, h, alarm_id, lock=True)
    before = _lifecycle(r)
    after = lc.unshelve(before)
    return _done(tx, h, now, r, before, after, actor, "alarm.unshelve", "alarm.unshelved", {"expired": False},
                 expired=False)


def resolve(tx: Tx, h: HallRuntime, now: datetime, actor: Actor, alarm_id: str,
            note: str | None = None) -> dict[str, Any]:
    """Close an open alarm whatever its state; if the condition is still there, its next raise is
    a new alarm."""
    tx.lock_hall(h.id)  # the hall row before any alarm row, as every writer does (PostgreSQL)
    r = _get(tx.conn, h, alarm_id, lock=True)
    _may_handle(actor, r, "关闭", "resolve")
    before = _lifecycle(r)
    after, text = lc.resolve(before, ms(now), actor.username, note)
    return _done(tx, h, now, r, before, after, actor, "alarm.resolve", "alarm.resolved",
                 {"note": text, "was": before.state}, note=text, was=before.state)


# --------------------------------------------------------------------------- the sweep

def sweep(tx: Tx, h: HallRuntime, now: datetime) -> list[dict[str, Any]]:
    """Run now and then: lift shelves that ran out, escalate alarms nobody acknowledged in time,
    end a flood that has calmed down, send the flood summary that was held back. Returns what it
    did: ``[{action: unshelved|escalated|flood|flood_ended, alarm, …}]``."""
    tx.lock_hall(h.id)  # the hall row before any alarm row, as every writer does (PostgreSQL)
    conn, cfg = tx.conn, h.cfg.iot
    now_ms = ms(now)
    out: list[dict[str, Any]] = []
    rows = conn.execute(select(alarm_t).where(alarm_t.c.hall_id == h.id, alarm_t.c.state.in_(OPEN_STATES))
                        .order_by(alarm_t.c.raised_ms, alarm_t.c.id).with_for_update()).all()
    open_floods = {r.id for r in rows if r.source == FLOOD_SOURCE and r.type == FLOOD_TYPE}
    for r in rows:
        a = _lifecycle(r)
        if lc.shelf_expired(a, now_ms):
            b = lc.unshelve(a)
            _store(conn, r.id, a, b)
            _audit(tx, h, now, SYSTEM, "alarm.unshelve", r.id, expired=True)
            _emit(tx, h, now, "alarm.unshelved", r.id, SYSTEM, expired=True)
            out.append({"action": "unshelved", "alarm": r.id})
            a = b
        if lc.escalation_due(a, now_ms, cfg.escalate_after_min, grouped=r.flood_id in open_floods):
            b = lc.escalate(a, now_ms)
            _store(conn, r.id, a, b)
            after_min = cfg.escalate_after_min[a.severity]
            _audit(tx, h, now, SYSTEM, "alarm.escalate", r.id, escalation=b.escalation, after_min=after_min)
            _emit(tx, h, now, "alarm.escalated", r.id, SYSTEM)
            out.append({"action": "escalated", "alarm": r.id, "escalation": b.escalation})
    flood = _open(conn, h.id, FLOOD_SOURCE, h.id, FLOOD_TYPE)
    if flood is not None and flood.state in ("active", "acked"):
        if not lc.flood_mode(_raises_in_window(conn, h, now_ms), cfg.flood_count, True):
            _flood_end(tx, h, now, flood)
            out.append({"action": "flood_ended", "alarm": flood.id})
        elif _flood_announce(tx, h, now, flood, flooding=True):
            out.append({"action": "flood", "alarm": flood.id})
    return out


# --------------------------------------------------------------------------- reads

def list_alarms(conn: Connection, h: HallRuntime, state: str | None = None, limit: int = 200, *,
                severity: str | None = None, source: str | None = None, assignee: str | None = None,
                subject: str | None = None, flood_id: str | None = None) -> list[dict[str, Any]]:
    """Alarms, newest first; ``state`` ``open`` means any of active, acked, cleared."""
    q = select(alarm_t).where(alarm_t.c.hall_id == h.id)
    if state == "open":
        q = q.where(alarm_t.c.state.in_(OPEN_STATES))
    elif state:
        q = q.where(alarm_t.c.state == state)
    for col, value in ((alarm_t.c.severity, severity), (alarm_t.c.source, source), (alarm_t.c.assignee, assignee),
                       (alarm_t.c.subject, subject), (alarm_t.c.flood_id, flood_id)):
        if value:
            q = q.where(col == value)
    q = q.order_by(alarm_t.c.raised_ms.desc(), alarm_t.c.id.desc()).limit(limit)
    return [view(h, r) for r in conn.execute(q)]


def history(conn: Connection, h: HallRuntime, alarm_id: str) -> dict[str, Any]:
    """One alarm's audit trail, oldest first (``[{at, actor, action, detail}]``), and its comments
    (``[{at, by, text}]``)."""
    q = (select(audit_t).where(audit_t.c.hall_id == h.id, audit_t.c.subject == alarm_id,
                               audit_t.c.action.like("alarm.%"), audit_t.c.outcome == audit.OK)
         .order_by(audit_t.c.at_ms, audit_t.c.id))
    trail = [{"at": h.iso(r.at_ms), "actor": r.actor, "action": r.action, "detail": msgspec.json.decode(r.detail)}
             for r in conn.execute(q)]
    comments = [{"at": e["at"], "by": e["actor"], "text": e["detail"].get("text", "")}
                for e in trail if e["action"] == "alarm.comment"]
    return {"history": trail, "comments": comments}


def get_alarm(conn: Connection, h: HallRuntime, alarm_id: str) -> dict[str, Any]:
    """The alarm's view with its history and comments; 404 ``unknown_alarm``."""
    return {**view(h, _get(conn, h, alarm_id)), **history(conn, h, alarm_id)}
