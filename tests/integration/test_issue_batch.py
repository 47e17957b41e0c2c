"""Plain tickets issued in one write batch write their rows together before the commit
(hall.db.database._Batch): the figures must be those of one statement per ticket.

One batch mixes deferred issuing with a job that fails after issuing, a repeated Idempotency-Key,
an unknown service and a call-next (statements of its own) in between; afterwards the event log
is gap-free, every ticket's qseq is its event's seq, the numbers run on without a gap, and the
call saw the tickets issued before it. On SQLite, and on PostgreSQL when HALL_TEST_DATABASE_URL
is set (the ``hall`` fixture).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

from sqlalchemy import select

from hall.db.database import Tx
from hall.db.models import event_t, ticket_t
from hall.errors import NotFound
from hall.queue import calling
from hall.queue.issuing import IssueRequest, issue_ticket
from hall.runtime import Actor, HallRuntime
from hall.windows.service import sign_in


class _Boom(Exception):
    pass


def _issue_then_fail(tx: Tx, h: HallRuntime, req: IssueRequest) -> None:
    issue_ticket(tx, h, req)
    raise _Boom


def test_one_batch_of_mixed_jobs(hall) -> None:
    db = hall.server.db
    h = hall.server.halls["hn-tja"]
    actor = Actor("clerk01", "clerk", "hn-tja")
    db.write_sync(sign_in, h, "1", actor)  # window 1 serves SB

    gate = threading.Event()
    db.submit(lambda tx: gate.wait(10))  # holds the writer until the whole batch is queued
    sb = IssueRequest(service="SB", channel="walk_in")
    yb = IssueRequest(service="YB", channel="kiosk")
    keyed = IssueRequest(service="YB", channel="kiosk", idempotency_key="k-1")
    futures: list[tuple[str, Any]] = [
        ("sb", db.submit(issue_ticket, h, sb)),
        ("yb", db.submit(issue_ticket, h, yb)),
        ("fail", db.submit(_issue_then_fail, h, sb)),
        ("keyed", db.submit(issue_ticket, h, keyed)),
        ("keyed_again", db.submit(issue_ticket, h, keyed)),
        ("unknown", db.submit(issue_ticket, h, IssueRequest(service="NOPE", channel="walk_in"))),
        ("call", db.submit(calling.call_next, h, "1", actor)),
        ("sb", db.submit(issue_ticket, h, sb)),
        ("yb", db.submit(issue_ticket, h, yb)),
    ]
    gate.set()
    results = {}
    for name, fut in futures:
        try:
            results.setdefault(name, []).append(fut.result(timeout=30))
        except Exception as e:  # checked below
            results.setdefault(name, []).append(e)

    assert isinstance(results["fail"][0], _Boom)
    assert isinstance(results["unknown"][0], NotFound)
    first, again = results["keyed"][0], results["keyed_again"][0]
    assert not first.replayed and again.replayed and again.body == first.body
    called = results["call"][0]
    assert called is not None and called["id"] == results["sb"][0].body["id"]  # a deferred row, stored first

    def rows(conn) -> tuple[list[Any], list[Any]]:  # noqa: ANN001
        tickets = list(conn.execute(select(ticket_t).where(ticket_t.c.hall_id == "hn-tja")))
        events = list(conn.execute(select(event_t.c.seq, event_t.c.type, event_t.c.envelope)
                                   .where(event_t.c.hall_id == "hn-tja").order_by(event_t.c.seq)))
        return tickets, events

    tickets, events = db.read_sync(rows)
    seqs = [e.seq for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "the event log has a gap"
    issued = {e.seq for e in events if e.type == "ticket.issued"}
    assert {t.qseq for t in tickets} == issued  # every ticket has its event, and no event is left over
    by_service = defaultdict(list)
    for t in tickets:
        by_service[t.service].append(t.counter)
    assert sorted(by_service["SB"]) == [1, 2]  # the failed job's number is given to the next ticket
    assert sorted(by_service["YB"]) == [1, 2, 3]
    assert len(tickets) == 5
    waiting = [r.body["ahead"] for r in results["yb"]]
    assert waiting == [0, 2]  # the second YB ticket has the first and the keyed one ahead


def _read_fails(tx: Tx) -> None:
    tx.batch_value(("broken", 1), lambda conn: conn.exec_driver_sql("SELECT * FROM no_such_table").all())


def test_a_read_failing_in_a_batch_fails_the_whole_batch(hall) -> None:
    """A job's cached reads run without a savepoint of their own (two round trips fewer under the
    hall's row): when one fails, PostgreSQL has aborted the transaction, so every job of the batch
    must fail with it. No job may be answered as done for a ticket that was never stored."""
    db = hall.server.db
    h = hall.server.halls["hn-tja"]
    gate = threading.Event()
    db.submit(lambda tx: gate.wait(10))
    sb = IssueRequest(service="SB", channel="walk_in")
    # the failing read comes last: the tickets' deferred rows are stored before it, and nothing is
    # left to store after it that would fail on its own
    before = db.submit(issue_ticket, h, sb)
    after = db.submit(issue_ticket, h, IssueRequest(service="YB", channel="walk_in"))
    broken = db.submit(_read_fails)
    gate.set()
    outcomes = []
    for fut in (before, broken, after):
        try:
            outcomes.append(fut.result(timeout=30))
        except Exception as e:  # checked below
            outcomes.append(e)
    assert isinstance(outcomes[1], Exception)
    stored = db.read_sync(lambda conn: [r.id for r in conn.execute(
        select(ticket_t.c.id).where(ticket_t.c.hall_id == "hn-tja"))])
    answered = [o.body["id"] for o in (outcomes[0], outcomes[2]) if not isinstance(o, Exception)]
    assert sorted(answered) == sorted(stored)  # answered as issued exactly when stored
    # and the hall issues again afterwards
    assert db.write_sync(issue_ticket, h, sb).body["id"]
