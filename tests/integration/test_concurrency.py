"""Eight windows press call-next at the same instant: no ticket is called twice, none is lost.

Each window gets its own Database object (its own connection and writer thread), so the race is
decided by the database itself, as between several server processes: SQLite here, and
PostgreSQL when HALL_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import threading
from collections import Counter

from sqlalchemy import select

from hall.db.database import Database
from hall.db.models import ticket_t
from hall.queue import calling
from hall.queue.issuing import IssueRequest, issue_ticket
from hall.runtime import Actor
from hall.windows.service import sign_in

SB_WINDOWS = ["1", "2", "3", "4", "6", "7", "8", "9"]  # the windows of hn-tja that serve 社保
TICKETS = 240


def _race(hall) -> None:
    server = hall.server
    h = server.halls["hn-tja"]
    db = server.db
    for _i in range(TICKETS):
        db.write_sync(issue_ticket, h, IssueRequest(service="SB", channel="walk_in"))
    actors = {}
    for n, w in enumerate(SB_WINDOWS, start=1):
        actors[w] = Actor(f"clerk{n:02d}", "clerk", "hn-tja")
        db.write_sync(sign_in, h, w, actors[w])
    barrier = threading.Barrier(len(SB_WINDOWS))
    called: dict[str, list[str]] = {w: [] for w in SB_WINDOWS}
    errors: list[BaseException] = []

    def window(w: str) -> None:
        own = Database(db.url, writers=1)  # a separate connection, as another process would have
        try:
            barrier.wait()
            while True:
                t = own.write_sync(calling.call_next, h, w, actors[w])
                if t is None:
                    break
                called[w].append(t["id"])
                own.write_sync(calling.start, h, w, actors[w])
            if called[w]:
                own.write_sync(calling.finish, h, w, actors[w])
        except BaseException as e:  # surfaced below
            errors.append(e)
        finally:
            own.close()

    threads = [threading.Thread(target=window, args=(w,)) for w in SB_WINDOWS]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    all_called = [tid for ids in called.values() for tid in ids]
    dupes = [tid for tid, n in Counter(all_called).items() if n > 1]
    assert not dupes, f"called twice: {dupes}"
    statuses = Counter(r.status for r in db.read_sync(
        lambda c: list(c.execute(select(ticket_t.c.status).where(ticket_t.c.hall_id == "hn-tja")))))
    assert len(all_called) == TICKETS
    assert statuses == {"finished": TICKETS}
    assert sum(1 for ids in called.values() if ids) >= 2, "the windows did not actually compete"


def test_eight_windows_race_on_sqlite(sqlite_hall):
    _race(sqlite_hall)


def test_eight_windows_race_on_postgresql(pg_hall):
    _race(pg_hall)
