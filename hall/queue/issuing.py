"""Use cases that put tickets into the queue: issue, re-queue after a no-show, close the day.

Each runs inside one write transaction (``fn(tx, hall, ...)``) and appends its events there.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import msgspec
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from hall.db.database import Tx
from hall.db.models import ACTIVE_STATUSES, appointment_t, idem_t, ticket_t
from hall.errors import Conflict, NotFound
from hall.queue import repo
from hall.queue.estimate import effective_windows, estimate_wait_s, mean_service_s
from hall.queue.policy import Waiting
from hall.runtime import HallRuntime, ms
from hall.windows.events import window_event
from hall.windows.states import services_of

OPEN_STATES = ("idle", "calling", "serving")
_INSERT_IDEM = insert(idem_t)


@dataclass(frozen=True)
class IssueRequest:
    service: str
    channel: str
    priority: str = "normal"
    person_hash: str | None = None
    masked_name: str | None = None
    appointment_id: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Issued:
    status: int
    body: dict[str, Any]
    replayed: bool = False


def unknown_service(code: str) -> NotFound:
    return NotFound(f"没有业务「{code}」", f"unknown service {code!r}", code="unknown_service")


def replayed(conn: Connection, hall: str, key: str | None) -> Issued | None:
    """The first answer to a request with this Idempotency-Key, if there was one."""
    if not key:
        return None
    prev = conn.execute(select(idem_t.c.status, idem_t.c.body).where(idem_t.c.hall_id == hall, idem_t.c.key == key)).first()
    return Issued(prev.status, msgspec.json.decode(prev.body), replayed=True) if prev is not None else None


def issue_ticket(tx: Tx, h: HallRuntime, req: IssueRequest) -> Issued:
    if tx.can_defer and _plain(h, req):
        svc = h.cfg.service(req.service)
        if svc is not None:
            return _issue_deferred(tx, h, svc, req)
    conn, hall = tx.conn, h.id
    prev = replayed(conn, hall, req.idempotency_key)
    if prev is not None:
        return prev
    svc = h.cfg.service(req.service)
    if svc is None:
        raise unknown_service(req.service)
    tx.lock_hall(hall)
    now = h.now()
    now_ms = ms(now)
    priority, person, masked = req.priority, req.person_hash, req.masked_name
    if req.appointment_id:
        appt = _check_in(conn, h, req, now_ms)
        priority = _appointment_priority(h, appt, now_ms) if priority == "normal" else priority
        person, masked = person or appt.person_hash, masked or appt.masked_name
    if person and holds_active(conn, hall, req.service, person):
        raise already_waiting(svc.name)
    counter = repo.allocate_number(conn, hall, svc.code, now.date().isoformat())
    ticket_id = secrets.token_hex(10)
    number = f"{svc.prefix}{counter:03d}"
    before = repo.waiting_in(conn, hall, svc.code)
    waiting = before + 1
    seq = tx.emit(hall, "ticket.issued", now, {
        "ticket": number, "ticket_id": ticket_id, "service": svc.code, "channel": req.channel,
        "priority": priority, "waiting": waiting,
    })
    try:
        repo.insert_ticket(
            conn, id=ticket_id, hall_id=hall, service=svc.code, origin_service=svc.code, day=now.date().isoformat(),
            counter=counter, number=number, channel=req.channel, status="waiting", priority=priority,
            issued_ms=now_ms, queued_ms=now_ms, qseq=seq, person_hash=person, masked_name=masked,
            appointment_id=req.appointment_id,
        )
    except IntegrityError:
        raise already_waiting(svc.name) from None
    if req.appointment_id:
        conn.execute(
            update(appointment_t)
            .where(appointment_t.c.id == req.appointment_id)
            .values(status="checked_in", ticket_id=ticket_id)
        )
    if _least_boost(h, priority):
        ahead = before  # the least boost, joining now: every waiting ticket of the service is ahead
    else:
        ahead = repo.count_ahead(conn, hall, svc.code, Waiting(ticket_id, svc.code, priority, now_ms, 0, seq),
                                 h.policy)
    body = _answer(h, ticket_id, number, svc.code, req.channel, priority, ahead,
                   estimate_for(conn, h, svc.code, ahead), now_ms)
    if req.idempotency_key:
        conn.execute(_INSERT_IDEM, {"hall_id": hall, "key": req.idempotency_key, "status": 201,
                                    "body": msgspec.json.encode(body).decode(), "created_ms": now_ms})
    return Issued(201, body)


def _plain(h: HallRuntime, req: IssueRequest) -> bool:
    """A ticket with no appointment, no person behind it (nothing to check against other rows)
    and the least priority boost (every waiting ticket of its service is ahead of it)."""
    return not req.appointment_id and not req.person_hash and _least_boost(h, req.priority)


def _least_boost(h: HallRuntime, priority: str) -> bool:
    """Whether ``priority`` has the hall's least boost: a ticket of it joining now is behind every
    waiting ticket of its service."""
    return h.policy.boost_s.get(priority, 0) <= min(h.policy.boost_s.values())


def _answer(h: HallRuntime, ticket_id: str, number: str, service: str, channel: str, priority: str,
            ahead: int, est_wait_s: int, now_ms: int) -> dict[str, Any]:
    """The 201 body of an issued ticket (also what an Idempotency-Key replays)."""
    return {
        "id": ticket_id, "number": number, "service": service, "channel": channel, "status": "waiting",
        "priority": priority, "ahead": ahead, "est_wait_s": est_wait_s, "issued_at": h.iso(now_ms),
        "track_url": f"/t/{ticket_id}",
    }


def _issue_deferred(tx: Tx, h: HallRuntime, svc: Any, req: IssueRequest) -> Issued:
    """``issue_ticket`` for a plain ticket without a statement of its own (hall.db.database._Batch).

    The first such job of a write batch locks the hall row and reads its ``seq``, the day's
    counters and the waiting counts; later ones count on from those in memory, and the ticket,
    its event, the counter and the hall's ``seq`` are written with the batch's other rows just
    before the commit. The same figures as ``issue_ticket``'s statements would give: the hall
    row stays locked to the commit, so no other writer changes them meanwhile, and a job that runs
    statements of its own stores the deferred rows before and makes the batch read them again.
    """
    hall, key = h.id, req.idempotency_key
    if key:
        prev = tx.batch_value(("idempotency", hall, key))
        if prev is None:
            prev = replayed(tx.reader(), hall, key)
        if prev is not None:
            return prev
    tx.hold_hall(hall)  # before the counters, as issue_ticket takes the hall row first
    now = h.now()
    now_ms, day = ms(now), now.date().isoformat()
    counters = tx.batch_value(("counters", hall, day), lambda conn: repo.counters_of(conn, hall, day))
    waiting_by = tx.batch_value(("waiting", hall), lambda conn: repo.waiting_counts(conn, hall))
    counter, before = counters.get(svc.code, 0) + 1, waiting_by.get(svc.code, 0)
    tx.set_batch_value(("counters", hall, day), {**counters, svc.code: counter})
    tx.set_batch_value(("waiting", hall), {**waiting_by, svc.code: before + 1})
    repo.set_counter(tx, hall, svc.code, day, counter)
    ticket_id = secrets.token_hex(10)
    number = f"{svc.prefix}{counter:03d}"
    seq = tx.emit_deferred(hall, "ticket.issued", now, {
        "ticket": number, "ticket_id": ticket_id, "service": svc.code, "channel": req.channel,
        "priority": req.priority, "waiting": before + 1,
    })
    tx.defer(repo.INSERT_TICKET, {
        "id": ticket_id, "hall_id": hall, "service": svc.code, "origin_service": svc.code, "day": day,
        "counter": counter, "number": number, "channel": req.channel, "status": "waiting",
        "priority": req.priority, "issued_ms": now_ms, "queued_ms": now_ms, "qseq": seq, "person_hash": None,
        "masked_name": req.masked_name, "appointment_id": None,
    })
    # The estimate's inputs are cached for seconds anyway; when they are read here, they miss the
    # rows this batch has not written yet (this ticket is counted through ``ahead``).
    body = _answer(h, ticket_id, number, svc.code, req.channel, req.priority, before,
                   _estimate(tx.reader, h, svc.code, before), now_ms)
    if key:
        tx.defer(_INSERT_IDEM, {"hall_id": hall, "key": key, "status": 201,
                                "body": msgspec.json.encode(body).decode(), "created_ms": now_ms})
        tx.set_batch_value(("idempotency", hall, key), Issued(201, body, replayed=True))
    return Issued(201, body)


def already_waiting(service_name: str) -> Conflict:
    return Conflict(
        f"您已有「{service_name}」的排队号，请勿重复取号",
        "you already hold a waiting ticket for this service",
        code="already_waiting",
    )


def holds_active(conn: Connection, hall: str, service: str, person_hash: str) -> bool:
    q = select(ticket_t.c.id).where(
        ticket_t.c.hall_id == hall, ticket_t.c.service == service, ticket_t.c.person_hash == person_hash,
        ticket_t.c.status.in_(ACTIVE_STATUSES),
    )
    return conn.execute(q.limit(1)).first() is not None


def _check_in(conn: Connection, h: HallRuntime, req: IssueRequest, now_ms: int) -> Any:
    """Appointment check-in rules: the appointment row when it may be checked in now."""
    appt = conn.execute(
        select(appointment_t).where(appointment_t.c.id == req.appointment_id, appointment_t.c.hall_id == h.id)
    ).first()
    if appt is None:
        raise NotFound("没有找到该预约", "unknown appointment", code="unknown_appointment")
    if appt.service != req.service:
        raise Conflict("预约的业务与所选业务不符", "the appointment is for another service",
                       code="appointment_service", extra={"service": appt.service})
    if appt.status != "booked":
        raise Conflict("该预约已签到或已取消", "the appointment was already checked in or cancelled",
                       code="appointment_used")
    rules = h.cfg.appointments
    opens = appt.slot_start_ms - rules.early_min * 60_000
    if now_ms < opens:
        at = h.iso(opens)[11:16]
        raise Conflict(f"预约时段未到，请于 {at} 后签到", f"too early: check in from {at}",
                       code="appointment_too_early")
    if now_ms <= appt.slot_end_ms or (
        rules.late_policy == "normal" and now_ms <= appt.slot_end_ms + rules.late_min * 60_000
    ):
        return appt
    raise Conflict("预约已过时，请重新预约或现场取号", "the appointment has passed; book again or take a walk-in ticket",
                   code="appointment_expired")


def _appointment_priority(h: HallRuntime, appt: Any, now_ms: int) -> str:
    """Within the slot (or the early window): appointment priority; late arrivals queue as normal."""
    return "appointment" if now_ms <= appt.slot_end_ms else "normal"


def estimate_for(conn: Connection, h: HallRuntime, service: str, ahead: int) -> int:
    """Predicted wait for a ticket with ``ahead`` people of its service before it (``_estimate``)."""
    return _estimate(lambda: conn, h, service, ahead)


def _estimate(reader: Callable[[], Connection], h: HallRuntime, service: str, ahead: int) -> int:
    """Predicted wait for a ticket with ``ahead`` people of its service before it.

    Counts the windows someone is at (a tidal window for the services it took; a closing one
    calls nobody new), and how many of them are free now. When none of them serves the service,
    the windows whose clerk is away for a moment (paused, stepped away) count instead: they are
    what the queue waits for; when none is open at all, the regular windows as they will open.
    Inputs are cached for a moment.
    """
    svc = h.cfg.service(service)
    windows_now = h.cached("open_windows", 2.0, lambda: _staffed_windows(reader(), h))
    waiting = h.cached("waiting", 1.0, lambda: repo.waiting_counts(reader(), h.id))
    day_start = ms(h.now().replace(hour=0, minute=0, second=0, microsecond=0))
    recent = h.cached(f"recent:{service}", 15.0, lambda: repo.recent_service_s(reader(), h.id, service, day_start))
    mean = mean_service_s(recent, svc.service_min)
    counts = {**waiting, service: max(waiting.get(service, 0), ahead + 1)}
    staffed = [(served, st) for served, st in windows_now if st != "away"]
    if not any(service in served for served, _ in staffed):
        staffed = windows_now
    if not any(service in served for served, _ in staffed):  # no window of the service is open
        staffed = [(frozenset(w.services), "unopened") for w in h.cfg.windows if w.kind != "tidal"]
    windows = effective_windows(service, [served for served, _ in staffed], counts)
    free = sum(1 for served, st in staffed if st == "free" and service in served)
    if any(st == "unopened" and service in served for served, st in staffed):
        free = 1  # nobody signed in yet: the first ticket waits only for the opening
    return estimate_wait_s(ahead, mean, windows, free)


def _staffed_windows(conn: Connection, h: HallRuntime) -> list[tuple[frozenset[str], str]]:
    """(services called for, "free" / "busy" / "away") of each open window; when none is open, the
    hall's regular (non-standby) windows, "unopened"."""
    out = []
    for r in repo.window_rows(conn, h.id):
        wcfg = h.cfg.window(r.window)
        if wcfg is None or r.state == "closed" or r.tidal_closing:
            continue
        if r.clerk is None or r.state not in OPEN_STATES:
            state = "away"
        else:
            state = "free" if r.state == "idle" else "busy"
        out.append((frozenset(services_of(wcfg, r)), state))
    return out or [(frozenset(w.services), "unopened") for w in h.cfg.windows if w.kind != "tidal"]


def requeue(tx: Tx, h: HallRuntime, ticket_id: str) -> dict[str, Any]:
    """A visitor who missed the call comes back within the grace period: back in the queue, at its end."""
    conn = tx.conn
    tx.lock_hall(h.id)
    t = repo.get_ticket(conn, h.id, ticket_id, lock=True)
    if t is None:
        raise unknown_ticket()
    now = h.now()
    grace = timedelta(minutes=h.cfg.calling.no_show_grace_min)
    if t.status != "no_show" or t.no_show_ms is None:
        raise Conflict("只有过号的票可以重新排队", "only a missed (no-show) ticket can be re-queued",
                       code="ticket_state", extra={"status": t.status})
    if ms(now) - t.no_show_ms > grace.total_seconds() * 1000:
        raise Conflict(f"已超过过号保留时间（{h.cfg.calling.no_show_grace_min} 分钟），请重新取号",
                       "the grace period for missed tickets has passed; please take a new ticket",
                       code="grace_expired")
    if t.person_hash and holds_active(conn, h.id, t.service, t.person_hash):
        raise already_waiting(h.cfg.service(t.service).name)
    seq = tx.emit(h.id, "ticket.requeued", now, {
        "ticket": t.number, "ticket_id": t.id, "service": t.service,
        "waiting": repo.waiting_in(conn, h.id, t.service) + 1,
    })
    repo.set_ticket(conn, h.id, ticket_id, status="waiting", queued_ms=ms(now), qseq=seq, window=None, overtaken=0,
                    requeues=t.requeues + 1, called_ms=None)
    return {"id": t.id, "number": t.number, "status": "waiting"}


def close_day(tx: Tx, h: HallRuntime, before_day: str | None = None) -> int:
    """End of day: every ticket still waiting or called expires (a final state). Returns how many.

    With ``before_day`` only tickets of earlier days are closed (the housekeeping run at start-up).
    """
    conn = tx.conn
    tx.lock_hall(h.id)
    cond = [ticket_t.c.hall_id == h.id, ticket_t.c.status.in_(("waiting", "called"))]
    if before_day:
        cond.append(ticket_t.c.day < before_day)
    rows = list(conn.execute(select(ticket_t.c.id, ticket_t.c.number, ticket_t.c.service).where(*cond)))
    if not rows:
        return 0
    now = h.now()
    conn.execute(update(ticket_t).where(*cond).values(status="expired", finished_ms=ms(now)))
    for r in rows:
        tx.emit(h.id, "ticket.expired", now, {"ticket": r.number, "ticket_id": r.id, "service": r.service})
    expired = {r.id for r in rows}
    for w in repo.window_rows(conn, h.id):
        if w.ticket_id in expired:  # a window left calling an expired ticket is free again
            repo.set_window(conn, h.id, w.window, state="idle", ticket_id=None, updated_ms=ms(now))
            window_event(tx, h, w.window, "idle", now)
    return len(rows)


def unknown_ticket() -> NotFound:
    return NotFound("没有找到该票号", "unknown ticket", code="unknown_ticket")
