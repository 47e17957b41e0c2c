"""The waiting counts the database keeps (table ``waiting_count``, triggers of migration 0010)
stay equal to the waiting tickets through everything that moves a ticket into or out of the
queue: issuing (one ticket and many in one batch), calling, transfer, no-show and the missed
visitor's return, and the day's close. On SQLite, and on PostgreSQL when HALL_TEST_DATABASE_URL
is set (its triggers are another code). Also: an upgrade fills the counts from the tickets
already waiting."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy import create_engine, func, select, text

from hall.bootstrap import Hall
from hall.db.migrate import upgrade
from hall.db.models import ticket_t, waiting_t
from hall.queue import repo
from hall.queue.issuing import IssueRequest, close_day, issue_ticket
from tests.conftest import signed_in
from tests.integration.test_issue_batch import _Boom, _issue_then_fail

API = "/api/v1/halls/hn-tja"


def _counted(hall: Hall) -> tuple[dict[str, int], dict[str, int]]:
    """(what the counts say, what the tickets say)."""
    def q(conn):  # noqa: ANN001, ANN202
        kept = repo.waiting_counts(conn, "hn-tja")
        rows = conn.execute(select(ticket_t.c.service, func.count()).where(
            ticket_t.c.hall_id == "hn-tja", ticket_t.c.status == "waiting").group_by(ticket_t.c.service))
        return kept, {s: n for s, n in rows}
    return hall.server.db.read_sync(q)


def _agree(hall: Hall) -> dict[str, int]:
    kept, real = _counted(hall)
    assert kept == real
    return kept


def test_counts_follow_every_move_of_a_ticket(hall: Hall, client: TestClient) -> None:
    assert _agree(hall) == {}
    ids = {}
    for service in ["SB", "SB", "YB", "GJJ", "SB", "YB"]:
        r = client.post(f"{API}/tickets", json={"service": service, "channel": "walk_in"})
        assert r.status_code == 201, r.text
        ids.setdefault(service, []).append(r.json()["id"])
    assert _agree(hall) == {"SB": 3, "YB": 2, "GJJ": 1}

    clerk = signed_in(client, "1", "clerk01")
    r = client.post(f"{API}/windows/1/call-next", headers=clerk)
    assert r.status_code == 200, r.text
    missed = r.json()["ticket"]["id"]
    assert sum(_agree(hall).values()) == 5
    assert client.post(f"{API}/windows/1/no-show", headers=clerk).status_code == 200
    assert sum(_agree(hall).values()) == 5
    r = client.post(f"{API}/tickets/{missed}/requeue", headers=clerk)  # the missed visitor is back
    assert r.status_code == 200, r.text
    assert sum(_agree(hall).values()) == 6

    assert client.post(f"{API}/windows/1/call-next", headers=clerk).status_code == 200
    assert client.post(f"{API}/windows/1/start", headers=clerk).status_code == 200
    r = client.post(f"{API}/windows/1/transfer", json={"service": "GJJ"}, headers=clerk)
    assert r.status_code == 200, r.text
    assert sum(_agree(hall).values()) == 6  # left one queue, joined another

    # many tickets in one write batch (the deferred issuing path), one of them failing after issuing
    db, h = hall.server.db, hall.server.halls["hn-tja"]
    gate = threading.Event()
    db.submit(lambda tx: gate.wait(10))  # holds the writer until the whole batch is queued
    futures = [db.submit(issue_ticket, h, IssueRequest(service=["SB", "YB", "GJJ"][i % 3], channel="walk_in"))
               for i in range(30)]
    futures.append(db.submit(_issue_then_fail, h, IssueRequest(service="SB", channel="walk_in")))
    gate.set()
    for f in futures[:-1]:
        f.result(10)
    with pytest.raises(_Boom):
        futures[-1].result(10)
    assert sum(_agree(hall).values()) == 36

    # the day's close expires whoever still waits
    assert db.write_sync(close_day, h) > 0
    assert _agree(hall) == {}


def test_upgrade_fills_the_counts_from_the_waiting_tickets(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0009")
    with engine.begin() as conn:
        for i, (service, status) in enumerate([("SB", "waiting"), ("SB", "waiting"), ("YB", "waiting"),
                                               ("YB", "finished"), ("GJJ", "called")]):
            conn.execute(text(
                "INSERT INTO ticket (id, hall_id, service, origin_service, day, counter, number, channel, status,"
                " priority, issued_ms, queued_ms, qseq, recall_count, overtaken, transfers, requeues) VALUES"
                f" ('t{i}', 'hn-tja', :s, :s, '2026-11-23', {i + 1}, 'A00{i}', 'walk_in', :st, 'normal', 0, 0,"
                f" {i}, 0, 0, 0, 0)"), {"s": service, "st": status})
    upgrade(engine)
    with engine.connect() as conn:
        kept = {r.service: r.n for r in conn.execute(select(waiting_t))}
    engine.dispose()
    assert kept == {"SB": 2, "YB": 1}
