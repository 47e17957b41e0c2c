"""SQL for tickets and windows: the only queue module that knows the tables."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, text, update

from hall.db.models import ticket_t, window_t
from hall.queue.policy import PRIORITY_CLASSES, CallingPolicy, Waiting

_ALLOCATE = text(
    "INSERT INTO service_counter (hall_id, service, day, last) VALUES (:hall, :service, :day, 1) "
    "ON CONFLICT (hall_id, service, day) DO UPDATE SET last = service_counter.last + 1 RETURNING last"
)


def allocate_number(conn: Connection, hall: str, service: str, day: str) -> int:
    """The next counter for (hall, service, day), atomically: no duplicates, no gaps from races."""
    return conn.execute(_ALLOCATE, {"hall": hall, "service": service, "day": day}).scalar_one()


def get_ticket(conn: Connection, hall: str, ticket_id: str, *, lock: bool = False) -> Any | None:
    q = select(ticket_t).where(ticket_t.c.hall_id == hall, ticket_t.c.id == ticket_id)
    if lock:
        q = q.with_for_update()
    return conn.execute(q).first()


def get_window(conn: Connection, hall: str, window: str, *, lock: bool = False) -> Any | None:
    q = select(window_t).where(window_t.c.hall_id == hall, window_t.c.window == window)
    if lock:
        q = q.with_for_update()
    return conn.execute(q).first()


def window_rows(conn: Connection, hall: str) -> list[Any]:
    return list(conn.execute(select(window_t).where(window_t.c.hall_id == hall)))


def set_window(conn: Connection, hall: str, window: str, **values: Any) -> None:
    conn.execute(update(window_t).where(window_t.c.hall_id == hall, window_t.c.window == window).values(**values))


def set_ticket(conn: Connection, hall: str, ticket_id: str, *, expect: str | None = None, **values: Any) -> bool:
    """Update one ticket; with ``expect`` only if it is still in that status (compare-and-set)."""
    cond = [ticket_t.c.hall_id == hall, ticket_t.c.id == ticket_id]
    if expect is not None:
        cond.append(ticket_t.c.status == expect)
    return conn.execute(update(ticket_t).where(*cond).values(**values)).rowcount == 1


def _waiting(hall: str, services: Collection[str]) -> list[Any]:
    return [ticket_t.c.hall_id == hall, ticket_t.c.status == "waiting", ticket_t.c.service.in_(list(services))]


def call_candidates(
    conn: Connection, hall: str, services: Collection[str], policy: CallingPolicy
) -> list[Waiting]:
    """The tickets ``choose_next`` needs: the head of each priority class, and the oldest ticket
    at the overtake bound. Small indexed queries instead of loading a long queue."""
    cols = [ticket_t.c.id, ticket_t.c.service, ticket_t.c.priority, ticket_t.c.queued_ms, ticket_t.c.overtaken,
            ticket_t.c.qseq]
    order = (ticket_t.c.queued_ms, ticket_t.c.qseq)
    parts = [
        select(*cols).where(*_waiting(hall, services), ticket_t.c.priority == p).order_by(*order).limit(1)
        for p in PRIORITY_CLASSES
    ]
    parts.append(
        select(*cols)
        .where(*_waiting(hall, services), ticket_t.c.overtaken >= policy.max_overtakes)
        .order_by(*order)
        .limit(1)
    )
    found: dict[str, Waiting] = {}
    for q in parts:
        for r in conn.execute(q):
            found[r.id] = Waiting(r.id, r.service, r.priority, r.queued_ms, r.overtaken, r.qseq)
    return list(found.values())


def mark_passed_over(conn: Connection, hall: str, services: Collection[str], chosen: Waiting) -> int:
    """Count one overtake for every servable ticket queued before ``chosen`` (policy.passed_over)."""
    earlier = or_(
        ticket_t.c.queued_ms < chosen.queued_ms,
        and_(ticket_t.c.queued_ms == chosen.queued_ms, ticket_t.c.qseq < chosen.qseq),
    )
    return conn.execute(
        update(ticket_t).where(*_waiting(hall, services), earlier).values(overtaken=ticket_t.c.overtaken + 1)
    ).rowcount


def count_ahead(conn: Connection, hall: str, service: str, ticket: Waiting, policy: CallingPolicy) -> int:
    """Waiting tickets of ``service`` the policy orders before ``ticket`` (see policy.ahead_of)."""
    key, queued, qseq = policy.order_key(ticket)
    terms = []
    for p in PRIORITY_CLASSES:
        k = ticket_t.c.queued_ms - policy.boost_s.get(p, 0) * 1000
        tie = and_(k == key, or_(ticket_t.c.queued_ms < queued,
                                 and_(ticket_t.c.queued_ms == queued, ticket_t.c.qseq < qseq)))
        terms.append(and_(ticket_t.c.priority == p, or_(k < key, tie)))
    before = or_(*terms)
    ticket_id = ticket.id
    q = select(func.count()).where(*_waiting(hall, [service]), ticket_t.c.id != ticket_id, before)
    return conn.execute(q).scalar_one()


def waiting_counts(conn: Connection, hall: str) -> dict[str, int]:
    q = (
        select(ticket_t.c.service, func.count())
        .where(ticket_t.c.hall_id == hall, ticket_t.c.status == "waiting")
        .group_by(ticket_t.c.service)
    )
    return {s: n for s, n in conn.execute(q)}


def recent_service_s(conn: Connection, hall: str, service: str, since_ms: int, limit: int = 20) -> list[float]:
    q = (
        select((ticket_t.c.finished_ms - ticket_t.c.started_ms) / 1000.0)
        .where(
            ticket_t.c.hall_id == hall,
            ticket_t.c.service == service,
            ticket_t.c.status == "finished",
            ticket_t.c.started_ms.is_not(None),
            ticket_t.c.finished_ms >= since_ms,
        )
        .order_by(ticket_t.c.finished_ms.desc())
        .limit(limit)
    )
    return [float(v) for (v,) in conn.execute(q)]


def recent_callouts(conn: Connection, hall: str, limit: int = 10) -> Sequence[Any]:
    q = (
        select(ticket_t)
        .where(ticket_t.c.hall_id == hall, ticket_t.c.called_ms.is_not(None), ticket_t.c.window.is_not(None))
        .order_by(ticket_t.c.called_ms.desc())
        .limit(limit)
    )
    return list(conn.execute(q))
