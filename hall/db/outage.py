"""When the database does not answer: recognise it, say so once, and answer 503 until it is back.

A lost or refused connection, a connect or pool timeout, a server shutting down: each request
that needs the database then fails with an error from SQLAlchemy or the driver. Those are not
bugs, so they are answered ``503 database_unavailable`` with ``Retry-After`` (not ``500
internal``), and the server's loops (housekeeping, feed, devices) go on. Nothing needs a restart:
a writer thread drops a broken connection and connects again for its next batch, and the pool
pings a connection before lending it out (``pool_pre_ping``), so the first request after the
database is back is served normally.

``Outage`` keeps the log readable: one warning when the database stops answering, a reminder each
``REMIND_S`` seconds while it stays away, one line when it answers again; no traceback per request.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

from sqlalchemy import exc as sa_exc

log = logging.getLogger("hall.db")

RETRY_AFTER_S = 5  # what a 503 tells the client to wait
REMIND_S = 60.0  # a reminder in the log this often while the database stays away
CONNECT_TIMEOUT_S = 5  # libpq connect_timeout: a host that does not answer is given up after this
POOL_TIMEOUT_S = 5.0  # waiting for a pooled connection (all in use) gives up after this

ERROR_CODE = "database_unavailable"
DETAIL = "数据库暂时不可用，请稍后重试 / database unavailable, please retry shortly"

# PostgreSQL SQLSTATE classes that mean "no usable connection": 08 connection exception,
# 53 insufficient resources (too many connections), 57P admin/crash shutdown, cannot connect now.
_PG_STATES = ("08", "53", "57P")
_SQLITE_WORDS = ("locked", "busy", "unable to open", "disk i/o")


def error_body() -> dict[str, str]:
    return {"error": ERROR_CODE, "detail": DETAIL}


def _driver_says_unavailable(err: BaseException) -> bool:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        psycopg = None  # type: ignore[assignment]
    if psycopg is not None:
        if isinstance(err, psycopg.InterfaceError):  # "the connection is closed"
            return True
        if isinstance(err, psycopg.OperationalError):
            # sqlstate None: refused, reset, timed out, "server closed the connection unexpectedly".
            # Deadlocks, serialization failures and cancelled queries are OperationalErrors too:
            # those are the statement's, not the connection's, and stay what they are.
            state = getattr(err, "sqlstate", None)
            return state is None or state.startswith(_PG_STATES)
    if isinstance(err, sqlite3.OperationalError):
        text = str(err).lower()
        return any(w in text for w in _SQLITE_WORDS)
    return isinstance(err, sqlite3.InterfaceError)


def is_unavailable(exc: BaseException) -> bool:
    """Does this error mean the database cannot be reached (rather than a bug or a refused row)?"""
    seen: set[int] = set()
    err: BaseException | None = exc
    while err is not None and id(err) not in seen and len(seen) < 8:
        seen.add(id(err))
        if isinstance(err, sa_exc.TimeoutError):  # the pool had no connection to lend in time
            return True
        if isinstance(err, sa_exc.DBAPIError):
            if err.connection_invalidated:
                return True
            if err.orig is not None and _driver_says_unavailable(err.orig):
                return True
            if isinstance(err, sa_exc.InterfaceError):
                return True
        elif _driver_says_unavailable(err):
            return True
        # SQLAlchemy's own follow-up errors (e.g. a transaction that cannot go on after its
        # connection broke) carry the original as context; anything else only as an explicit cause.
        err = err.__cause__ or (err.__context__ if isinstance(err, sa_exc.SQLAlchemyError) else None)
    return False


class Outage:
    """Whether the database is answering, as this process last saw it; logs the transitions."""

    def __init__(self, remind_s: float = REMIND_S) -> None:
        self.remind_s = remind_s
        self.since: float | None = None  # monotonic time of the first failure of this outage
        self.failures = 0  # failed operations in this outage
        self.outages = 0  # outages seen since start-up
        self._reminded = 0.0
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException, where: str) -> None:
        now = time.monotonic()
        with self._lock:
            self.failures += 1
            if self.since is None:
                self.since = self._reminded = now
                self.outages += 1
                log.warning("database unavailable (%s in %s): answering 503 %s until it answers again",
                            type(exc).__name__, where, ERROR_CODE)
            elif now - self._reminded >= self.remind_s:
                self._reminded = now
                log.warning("database still unavailable after %.0f s (%d failed operations)",
                            now - self.since, self.failures)

    def succeeded(self) -> None:
        if self.since is None:  # the usual case: no lock on the hot path
            return
        with self._lock:
            if self.since is None:
                return
            log.warning("database available again after %.0f s (%d failed operations)",
                        time.monotonic() - self.since, self.failures)
            self.since, self.failures = None, 0

    def note(self, exc: BaseException, where: str) -> bool:
        """If ``exc`` means the database is unreachable, count it (logging as above) and say so."""
        if is_unavailable(exc):
            self.failed(exc, where)
            return True
        return False

    def covers(self, exc: BaseException, where: str) -> bool:
        """For callers above the database (handlers, loops): is ``exc`` part of an outage? Then they
        log nothing of their own (the read or writer that failed has counted it; counted here only
        if no outage was noted yet)."""
        if not is_unavailable(exc):
            return False
        if self.since is None:
            self.failed(exc, where)
        return True
