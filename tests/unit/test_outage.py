"""Which database errors mean "the database is away" (503 database_unavailable) and which do not
(a bug or a refused row stays what it is), on real drivers: nothing is mocked."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

from hall.db.database import Database
from hall.db.outage import Outage, is_unavailable


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


def test_a_postgresql_server_that_refuses_connections_is_unavailable() -> None:
    db = Database(f"postgresql+psycopg://hall@127.0.0.1:{_closed_port()}/hall")
    try:
        with pytest.raises(OperationalError) as e:
            db.ping()
        assert is_unavailable(e.value)
        assert db.outage.down
    finally:
        db.close()


def test_a_sqlite_bug_or_a_refused_row_is_not_unavailable(tmp_path: Path) -> None:
    eng = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with eng.begin() as c:
            c.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
            c.execute(text("INSERT INTO t VALUES (1)"))
        with pytest.raises(OperationalError) as missing, eng.connect() as c:
            c.execute(text("SELECT * FROM no_such_table"))
        assert not is_unavailable(missing.value)
        with pytest.raises(IntegrityError) as dup, eng.begin() as c:
            c.execute(text("INSERT INTO t VALUES (1)"))
        assert not is_unavailable(dup.value)
        assert not is_unavailable(ValueError("not the database"))
    finally:
        eng.dispose()


def test_an_outage_is_logged_once_then_once_when_it_ends(caplog: pytest.LogCaptureFixture) -> None:
    outage = Outage(remind_s=3600)
    err = ConnectionRefusedError("refused")
    with caplog.at_level(logging.WARNING, logger="hall.db"):
        outage.succeeded()  # nothing to say while all is well
        for _ in range(50):
            outage.failed(err, "read")
        assert outage.down and outage.failures == 50
        outage.succeeded()
        outage.succeeded()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith("database unavailable (ConnectionRefusedError in read)")
    assert lines[1].startswith("database available again after") and "50 failed operations" in lines[1]
    assert not outage.down and outage.outages == 1
