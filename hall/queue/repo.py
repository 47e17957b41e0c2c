"""SQL for tickets and windows: the only queue module that knows the tables.

Statements are built once (module constants, or cached per shape) and run with bind parameters:
building a SQLAlchemy statement costs several times more than executing it, and these run on
every ticket and every call.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select, text, union_all, update

from hall.db.database import Tx
from hall.db.models import ticket_t, waiting_t, window_t
from hall.queue.policy import PRIORITY_CLASSES, CallingPolicy, Waiting

_ALLOCATE = text(
    "INSERT INTO service_counter (hall_id, service, day, last) VALUES (:hall, :service, :day, 1) "
    "ON CONFLICT (hall_id, service, day) DO UPDATE SET last = service_counter.last + 1 RETURNING last"
)
_SET_COUNTER = text(
    "INSERT INTO service_counter (hall_id, service, day, last) VALUES (:hall, :service, :day, :last) "
    "ON CONFLICT (hall_id, service, day) DO UPDATE SET last = excluded.last"
)
_COUNTERS = text("SELECT service, last FROM service_counter WHERE hall_id = :hall AND day = :day")
INSERT_TICKET = insert(ticket_t)
_GET_TICKET = select(ticket_t).where(ticket_t.c.hall_id == bindparam("h"), ticket_t.c.id == bindparam("id"))
_GET_TICKET_LOCK = _GET_TICKET.with_for_update()
_GET_WINDOW = select(window_t).where(window_t.c.hall_id == bindparam("h"), window_t.c.window == bindparam("w"))
_GET_WINDOW_LOCK = _GET_WINDOW.with_for_update()
_WINDOWS = select(window_t).where(window_t.c.hall_id == bindparam("h"))
# Waiting tickets are counted by the database itself (table waiting_count, kept by triggers on
# ticket: migration 0010), not by scanning them.
_WAITING_IN = select(waiting_t.c.n).where(waiting_t.c.hall_id == bindparam("h"), waiting_t.c.service == bindparam("s"))
_WAITING_COUNTS = select(waiting_t.c.service, waiting_t.c.n).where(waiting_t.c.hall_id == bindparam("h"),
                                                                   waiting_t.c.n > 0)


def allocate_number(conn: Connection, hall: str, service: str, day: str) -> int:
    """The next counter for (hall, service, day), atomically: no duplicates, no gaps from races."""
    return conn.execute(_ALLOCATE, {"hall": hall, "service": service, "day": day}).scalar_one()


def counters_of(conn: Connection, hall: str, day: str) -> dict[str, int]:
    """The last number given out per service of ``hall`` on ``day``."""
    return {service: last for service, last in conn.execute(_COUNTERS, {"hall": hall, "day": day})}


def set_counter(tx: Tx, hall: str, service: str, day: str, last: int) -> None:
    """Record ``last`` as the counter of (hall, service, day) with the batch's writes (the hall
    row lock, held by the caller, is what keeps other writers from the counter meanwhile)."""
    tx.defer(_SET_COUNTER, {"hall": hall, "service": service, "day": day, "last": last},
             key=("counter", hall, service, day))


def insert_ticket(conn: Connection, **values: Any) -> None:
    conn.execute(INSERT_TICKET, values)


def get_ticket(conn: Connection, hall: str, ticket_id: str, *, lock: bool = False) -> Any | None:
    return conn.execute(_GET_TICKET_LOCK if lock else _GET_TICKET, {"h": hall, "id": ticket_id}).first()


def get_window(conn: Connection, hall: str, window: str, *, lock: bool = False) -> Any | None:
    return conn.execute(_GET_WINDOW_LOCK if lock else _GET_WINDOW, {"h": hall, "w": window}).first()


def window_rows(conn: Connection, hall: str) -> list[Any]:
    return list(conn.execute(_WINDOWS, {"h": hall}))


@cache
def _update_stmt(table: str, keys: tuple[str, ...], expect: bool) -> Any:
    t = ticket_t if table == "ticket" else window_t
    key_col = t.c.id if table == "ticket" else t.c.window
    q = update(t).where(t.c.hall_id == bindparam("_h"), key_col == bindparam("_k"))
    if expect:
        q = q.where(t.c.status == bindparam("_expect"))
    return q.values({k: bindparam(f"v_{k}") for k in keys})


def _update(conn: Connection, table: str, hall: str, key: str, expect: str | None, values: dict[str, Any]) -> int:
    keys = tuple(sorted(values))
    params = {"_h": hall, "_k": key, **{f"v_{k}": values[k] for k in keys}}
    if expect is not None:
        params["_expect"] = expect
    return conn.execute(_update_stmt(table, keys, expect is not None), params).rowcount


def set_window(conn: Connection, hall: str, window: str, **values: Any) -> None:
    _update(conn, "window", hall, window, None, values)


def set_ticket(conn: Connection, hall: str, ticket_id: str, *, expect: str | None = None, **values: Any) -> bool:
    """Update one ticket; with ``expect`` only if it is still in that status (compare-and-set)."""
    return _update(conn, "ticket", hall, ticket_id, expect, values) == 1


def _services_param() -> Any:
    return bindparam("services", expanding=True)


def _waiting_here() -> list[Any]:
    return [ticket_t.c.hall_id == bindparam("h"), ticket_t.c.status == "waiting", ticket_t.c.service.in_(_services_param())]


_CAND_COLS = (ticket_t.c.id, ticket_t.c.service, ticket_t.c.priority, ticket_t.c.queued_ms, ticket_t.c.overtaken,
              ticket_t.c.qseq)
_FIFO = (ticket_t.c.queued_ms, ticket_t.c.qseq)
_CANDIDATES = union_all(
    *[
        select(*_CAND_COLS).where(*_waiting_here(), ticket_t.c.priority == p).order_by(*_FIFO).limit(1).subquery().select()
        for p in PRIORITY_CLASSES
    ],
    select(*_CAND_COLS).where(*_waiting_here(), ticket_t.c.overtaken >= bindparam("bound"))
    .order_by(*_FIFO).limit(1).subquery().select(),
)


def call_candidates(
    conn: Connection, hall: str, services: Collection[str], policy: CallingPolicy
) -> list[Waiting]:
    """The tickets ``choose_next`` needs: the head of each priority class, and the oldest ticket
    at the overtake bound. One query of small indexed parts instead of loading a long queue."""
    rows = conn.execute(_CANDIDATES, {"h": hall, "services": sorted(services), "bound": policy.max_overtakes})
    found = {r.id: Waiting(r.id, r.service, r.priority, r.queued_ms, r.overtaken, r.qseq) for r in rows}
    return list(found.values())


_PASSED_OVER = (
    update(ticket_t)
    .where(
        *_waiting_here(),
        or_(
            ticket_t.c.queued_ms < bindparam("b_q"),
            and_(ticket_t.c.queued_ms == bindparam("b_q"), ticket_t.c.qseq < bindparam("b_qseq")),
        ),
    )
    .values(overtaken=ticket_t.c.overtaken + 1)
)


def mark_passed_over(conn: Connection, hall: str, services: Collection[str], chosen: Waiting) -> int:
    """Count one overtake for every servable ticket queued before ``chosen`` (policy.passed_over)."""
    params = {"h": hall, "services": sorted(services), "b_q": chosen.queued_ms, "b_qseq": chosen.qseq}
    return conn.execute(_PASSED_OVER, params).rowcount


def count_ahead(conn: Connection, hall: str, service: str, ticket: Waiting, policy: CallingPolicy) -> int:
    """Waiting tickets of ``service`` the policy orders before ``ticket`` (see policy.ahead_of)."""
    key, queued, qseq = policy.order_key(ticket)
    terms = []
    for p in PRIORITY_CLASSES:
        k = ticket_t.c.queued_ms - policy.boost_s.get(p, 0) * 1000
        tie = and_(k == key, or_(ticket_t.c.queued_ms < queued,
                                 and_(ticket_t.c.queued_ms == queued, ticket_t.c.qseq < qseq)))
        terms.append(and_(ticket_t.c.priority == p, or_(k < key, tie)))
    q = select(func.count()).where(
        ticket_t.c.hall_id == hall, ticket_t.c.status == "waiting", ticket_t.c.service == service,
        ticket_t.c.id != ticket.id, or_(*terms),
    )
    return conn.execute(q).scalar_one()


def waiting_in(conn: Connection, hall: str, service: str) -> int:
    return conn.execute(_WAITING_IN, {"h": hall, "s": service}).scalar() or 0


def waiting_counts(conn: Connection, hall: str) -> dict[str, int]:
    return {s: n for s, n in conn.execute(_WAITING_COUNTS, {"h": hall})}


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
