"""差评回访 (issue #7): a 不满意 / 非常不满意 rating opens a follow-up item; the manager records the
call-back and then the fix; the sweep raises an alarm for an item past a deadline.

The rules (deadlines in working days, which ratings count, what is overdue) are the pure functions
of ``hall.followup_policy``; this module reads and writes the ``followup`` rows, one audit row per
action and one event per change.

- ``open_for_rating`` runs in the transaction that stores the rating (the window's ``finish`` and
  the rating pad), so a rating never exists without its item; at most one item per ticket
  (``ux_followup_ticket``), so a second call for the same ticket returns the first item.
- The clerk named on an item is the one signed in to the ticket's window when the rating arrives:
  at ``finish`` the clerk who served; from the pad (up to 15 minutes later) normally the same one.
- Overdue: the call-back while the item is ``open``, the fix while it is not ``fixed``. The sweep
  raises one ``followup_overdue`` alarm per item (source ``followup``, subject the item's id,
  severity ``minor`` unless ``iot.severity`` says otherwise) when a step becomes overdue and sets
  ``overdue``; a step that becomes overdue later (the fix, the call-back still not done) raises it
  again with the new step. Recording the late steps clears the alarm (and ``overdue``) once nothing
  is overdue. As with every alarm whose condition holds, resolving it by hand while the item is
  still overdue makes the next sweep raise a new one: record the step, or shelve the alarm.
- Events: ``followup.opened``, ``followup.called_back``, ``followup.fixed``, ``followup.overdue``.
  They carry the ticket number, never the clerk, the visitor or the notes (which may hold a phone
  number); the notes stay in the row.
- Audit actions (subject: the item's id): ``followup.open`` and ``followup.overdue`` by ``system``,
  ``followup.callback`` and ``followup.fix`` by the manager.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Connection, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from hall import alarms, audit
from hall import followup_policy as fp
from hall.db.database import Tx
from hall.db.models import alarm_t, followup_t, window_t
from hall.errors import BadRequest, Conflict, NotFound
from hall.runtime import Actor, HallRuntime, ms

SOURCE = "followup"
ALARM_TYPE = "followup_overdue"
SEVERITY = "minor"
SYSTEM = alarms.SYSTEM
NOTE_MAX = 2000
LIST_STATES = (*fp.STATES, "pending")  # pending: not fixed yet
STEP_ZH = {"callback": "回访", "fix": "整改"}

_json = msgspec.json.Encoder()


# --------------------------------------------------------------------------- helpers

def calendar(h: HallRuntime) -> fp.Calendar:
    """The hall's working days: the weekdays any service opens on (Monday to Friday without
    services), less ``followup.holidays``."""
    days = {d for s in h.cfg.services for d in s.days} or {1, 2, 3, 4, 5}
    return fp.Calendar(frozenset(days), fp.parse_days(h.cfg.followup.holidays))


def _field(t: Any, name: str) -> Any:
    return t.get(name) if isinstance(t, Mapping) else getattr(t, name, None)


def _get(conn: Connection, h: HallRuntime, followup_id: str, *, lock: bool = False) -> Any:
    q = select(followup_t).where(followup_t.c.hall_id == h.id, followup_t.c.id == followup_id)
    r = conn.execute(q.with_for_update() if lock else q).first()
    if r is None:
        raise NotFound(f"没有找到回访工单「{followup_id}」", f"unknown follow-up {followup_id!r}",
                       code="unknown_followup")
    return r


def _audit(tx: Tx, h: HallRuntime, now: datetime, actor: str, action: str, followup_id: str,
           **detail: Any) -> None:
    audit.record(tx, h.id, now, actor, action, followup_id, **detail)


def _steps(r: Any, now_ms: int) -> tuple[str, ...]:
    return fp.overdue_steps(r.state, now_ms, r.callback_due_ms, r.fix_due_ms)


def view(h: HallRuntime, r: Any, now_ms: int) -> dict[str, Any]:
    """The item as the API shows it (staff only: it names the clerk and holds the notes)."""
    from hall.queue.rating import LEVELS  # not at the top: the rating use case imports this module

    steps = _steps(r, now_ms)
    service = h.cfg.service(r.service)
    return {
        "id": r.id, "ticket_id": r.ticket_id, "ticket": r.number, "service": r.service,
        "service_name": service.name if service else r.service, "window": r.window, "clerk": r.clerk,
        "rating": r.rating, "level": LEVELS.get(r.rating), "state": r.state, "created_at": h.iso(r.created_ms),
        "callback_due": h.iso(r.callback_due_ms), "fix_due": h.iso(r.fix_due_ms),
        "called_back_at": h.iso(r.called_back_ms), "called_back_by": r.called_back_by,
        "callback_note": r.callback_note, "fixed_at": h.iso(r.fixed_ms), "fixed_by": r.fixed_by,
        "fix_note": r.fix_note, "overdue": bool(steps), "overdue_steps": list(steps),
        "late_steps": list(fp.late_steps(r.called_back_ms, r.fixed_ms, r.callback_due_ms, r.fix_due_ms)),
    }


def _event(h: HallRuntime, r: Any, **extra: Any) -> dict[str, Any]:
    """What the stream carries: no clerk, no notes, nothing about the visitor but the number."""
    return {"id": r.id, "ticket": r.number, "ticket_id": r.ticket_id, "service": r.service, "window": r.window,
            "rating": r.rating, "state": r.state, "callback_due": h.iso(r.callback_due_ms),
            "fix_due": h.iso(r.fix_due_ms), **extra}


def _clerk_at(conn: Connection, h: HallRuntime, window: str | None) -> str | None:
    if not window:
        return None
    return conn.execute(select(window_t.c.clerk).where(window_t.c.hall_id == h.id,
                                                      window_t.c.window == window)).scalar_one_or_none()


# --------------------------------------------------------------------------- use cases

def open_for_rating(tx: Tx, h: HallRuntime, now: datetime, ticket: Any, rating: int | None, *,
                    clerk: str | None = None) -> dict[str, Any] | None:
    """Open the follow-up a poor rating calls for, in the rating's transaction. ``ticket`` is the
    ticket row or a mapping with ``id``, ``number``, ``service``, ``window``. Returns the item's
    view (the existing one if the ticket has one already), or None when the rating opens none."""
    cfg = h.cfg.followup
    if not fp.opens_followup(rating, cfg.ratings):
        return None
    tx.lock_hall(h.id)
    ticket_id, window = _field(ticket, "id"), _field(ticket, "window")
    now_ms = ms(now)
    existing = tx.conn.execute(select(followup_t).where(followup_t.c.hall_id == h.id,
                                                        followup_t.c.ticket_id == ticket_id)).first()
    if existing is not None:
        return view(h, existing, now_ms)
    callback_due, fix_due = fp.due_dates(now, cfg.callback_working_days, cfg.fix_working_days, calendar(h))
    followup_id = secrets.token_hex(8)
    try:
        with tx.conn.begin_nested():  # the unique index decides a race; the transaction stays usable
            tx.conn.execute(insert(followup_t).values(
                id=followup_id, hall_id=h.id, ticket_id=ticket_id, number=_field(ticket, "number"),
                service=_field(ticket, "service"), window=window,
                clerk=clerk if clerk is not None else _clerk_at(tx.conn, h, window), rating=rating, state="open",
                created_ms=now_ms, callback_due_ms=ms(callback_due), fix_due_ms=ms(fix_due), overdue=False))
    except IntegrityError:
        r = tx.conn.execute(select(followup_t).where(followup_t.c.hall_id == h.id,
                                                     followup_t.c.ticket_id == ticket_id)).one()
        return view(h, r, now_ms)
    r = _get(tx.conn, h, followup_id)
    _audit(tx, h, now, SYSTEM, "followup.open", followup_id, ticket=r.number, rating=rating,
           callback_due=h.iso(r.callback_due_ms), fix_due=h.iso(r.fix_due_ms))
    tx.emit(h.id, "followup.opened", now, _event(h, r))
    return view(h, r, now_ms)


def check_note(note: str | None) -> str:
    """The note, stripped: 1 to NOTE_MAX characters (400 ``bad_note``)."""
    body = (note or "").strip()
    if not body or len(body) > NOTE_MAX:
        raise BadRequest(f"请填写处理情况（1-{NOTE_MAX}个字符）", f"a note of 1-{NOTE_MAX} characters is required",
                         code="bad_note")
    return body


def _record(tx: Tx, h: HallRuntime, now: datetime, actor: Actor, followup_id: str, note: str | None,
            step: str) -> dict[str, Any]:
    body = check_note(note)
    tx.lock_hall(h.id)
    r = _get(tx.conn, h, followup_id, lock=True)
    state = fp.next_state(r.state, step)
    if state is None:
        zh = "该工单已回访" if step == "callback" else "须先回访，再记录整改" if r.state == "open" else "该工单已整改完毕"
        raise Conflict(zh, f"cannot record the {step} of a follow-up that is {r.state}", code="followup_state",
                       extra={"state": r.state})
    now_ms = ms(now)
    if step == "callback":
        values = {"called_back_ms": now_ms, "called_back_by": actor.username, "callback_note": body}
        late = now_ms > r.callback_due_ms
    else:
        values = {"fixed_ms": now_ms, "fixed_by": actor.username, "fix_note": body}
        late = now_ms > r.fix_due_ms
    tx.conn.execute(update(followup_t).where(followup_t.c.id == r.id).values(state=state, **values))
    r = _get(tx.conn, h, followup_id)
    _audit(tx, h, now, actor.username, f"followup.{step}", r.id, state=state, late=late)
    tx.emit(h.id, "followup.called_back" if step == "callback" else "followup.fixed", now,
            _event(h, r, by=actor.username, late=late))
    _reconcile(tx, h, now, r, _open_alarms(tx.conn, h, r.id).get(r.id))
    return view(h, _get(tx.conn, h, followup_id), now_ms)


def record_callback(tx: Tx, h: HallRuntime, now: datetime, actor: Actor, followup_id: str,
                    note: str | None) -> dict[str, Any]:
    """回访: the manager called the visitor back (``open`` → ``called_back``); 409 ``followup_state``."""
    return _record(tx, h, now, actor, followup_id, note, "callback")


def record_fix(tx: Tx, h: HallRuntime, now: datetime, actor: Actor, followup_id: str,
               note: str | None) -> dict[str, Any]:
    """整改: what was put right (``called_back`` → ``fixed``, closing the item); 409 ``followup_state``."""
    return _record(tx, h, now, actor, followup_id, note, "fix")


# --------------------------------------------------------------------------- overdue

def _open_alarms(conn: Connection, h: HallRuntime, followup_id: str | None = None) -> dict[str, Any]:
    """Item id -> its open ``followup_overdue`` alarm (active, acked or cleared)."""
    q = select(alarm_t).where(alarm_t.c.hall_id == h.id, alarm_t.c.source == SOURCE,
                              alarm_t.c.type == ALARM_TYPE, alarm_t.c.state.in_(alarms.OPEN_STATES))
    if followup_id is not None:
        q = q.where(alarm_t.c.subject == followup_id)
    return {a.subject: a for a in conn.execute(q)}


def _alarm_text(r: Any, steps: tuple[str, ...], due_ms: int, h: HallRuntime) -> str:
    due = datetime.fromtimestamp(due_ms / 1000, h.cfg.tz)
    what = "、".join(STEP_ZH[s] for s in steps)
    return f"{r.number}号差评{what}超期（应于{due.month}月{due.day}日前完成）"


def _reconcile(tx: Tx, h: HallRuntime, now: datetime, r: Any, alarm: Any | None) -> dict[str, Any] | None:
    """Bring the item's alarm and ``overdue`` in line with its steps now; what was done, or None.

    ``alarm`` is the item's open alarm, if any. An alarm is raised when the item has overdue steps
    and no alarm that holds (active or acknowledged) names them all."""
    steps = _steps(r, ms(now))
    if not steps:
        if not r.overdue:
            return None
        tx.conn.execute(update(followup_t).where(followup_t.c.id == r.id).values(overdue=False))
        alarms.clear_alarm(tx, h, now, SOURCE, r.id, ALARM_TYPE)
        return {"action": "followup_cleared", "followup": r.id}
    holding = alarm is not None and alarm.state in ("active", "acked")
    announced = tuple(msgspec.json.decode(alarm.detail).get("steps", ())) if holding else ()
    new = tuple(s for s in steps if s not in announced)
    if not new:
        return None
    due_ms = r.callback_due_ms if new[0] == "callback" else r.fix_due_ms
    detail = {"followup": r.id, "ticket": r.number, "service": r.service, "window": r.window,
              "steps": list(steps), "due": h.iso(due_ms), "text": _alarm_text(r, new, due_ms, h)}
    alarm_id = alarms.raise_alarm(tx, h, now, SOURCE, r.id, ALARM_TYPE, SEVERITY, detail)
    if not r.overdue:
        tx.conn.execute(update(followup_t).where(followup_t.c.id == r.id).values(overdue=True))
    _audit(tx, h, now, SYSTEM, "followup.overdue", r.id, steps=list(new), alarm=alarm_id)
    tx.emit(h.id, "followup.overdue", now, _event(h, r, steps=list(steps), new=list(new), alarm=alarm_id))
    return {"action": "followup_overdue", "followup": r.id, "steps": list(new), "alarm": alarm_id}


def sweep(tx: Tx, h: HallRuntime, now: datetime) -> list[dict[str, Any]]:
    """Run now and then (with the alarm sweep): items that became overdue raise their alarm, items
    no longer overdue clear it. Returns ``[{action: followup_overdue|followup_cleared, followup, …}]``."""
    tx.lock_hall(h.id)
    now_ms = ms(now)
    c = followup_t.c
    rows = tx.conn.execute(select(followup_t).where(
        c.hall_id == h.id, c.state != "fixed",
        or_(c.overdue.is_(True), c.fix_due_ms < now_ms, and_(c.state == "open", c.callback_due_ms < now_ms)),
    ).order_by(c.created_ms, c.id).with_for_update()).all()
    if not rows:
        return []
    open_alarms = _open_alarms(tx.conn, h)
    out = [_reconcile(tx, h, now, r, open_alarms.get(r.id)) for r in rows]
    return [d for d in out if d is not None]


# --------------------------------------------------------------------------- reads

def list_followups(conn: Connection, h: HallRuntime, state: str | None = None, overdue: bool | None = None,
                   limit: int = 500, now: datetime | None = None) -> list[dict[str, Any]]:
    """Items, newest first. ``state``: ``open``, ``called_back``, ``fixed`` or ``pending`` (not
    fixed); ``overdue``: past a deadline with the step not done now (True) or not (False)."""
    now_ms = ms(now or h.now())
    c = followup_t.c
    q = select(followup_t).where(c.hall_id == h.id)
    if state == "pending":
        q = q.where(c.state != "fixed")
    elif state:
        q = q.where(c.state == state)
    if overdue is not None:
        late = and_(c.state != "fixed",
                    or_(c.fix_due_ms < now_ms, and_(c.state == "open", c.callback_due_ms < now_ms)))
        q = q.where(late if overdue else ~late)
    q = q.order_by(c.created_ms.desc(), c.id.desc()).limit(limit)
    return [view(h, r, now_ms) for r in conn.execute(q)]


def get_followup(conn: Connection, h: HallRuntime, followup_id: str, now: datetime | None = None) -> dict[str, Any]:
    """One item; 404 ``unknown_followup``."""
    return view(h, _get(conn, h, followup_id), ms(now or h.now()))
