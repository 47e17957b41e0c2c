"""The database adapter: one engine for reads, a writer pool with group commit for writes.

Writes go through writer threads, each with a long-lived connection. A writer takes every job
waiting in its queue (up to ``max_batch``), runs each in its own savepoint inside one transaction
and commits once: on SQLite that turns one fsync per ticket into one per batch, and since SQLite
allows a single writer anyway it removes lock contention. A job that raises is rolled back to its
savepoint alone. Events a job emits get their ``seq`` inside the transaction and are handed to the
publisher only after the commit, so nothing is pushed that is not stored first.

When the database stops answering (hall.db.outage), reads and batches fail fast (connect and pool
timeouts), ``outage`` logs it once, and each writer connects again for its next batch: the same
process serves normally as soon as the database is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio.to_thread
import msgspec
from sqlalchemy import Connection, bindparam, create_engine, event, insert, select, update
from sqlalchemy.engine import Engine, make_url

from hall.db.models import event_t, hall_t
from hall.db.outage import CONNECT_TIMEOUT_S, POOL_TIMEOUT_S, Outage, is_unavailable

log = logging.getLogger(__name__)

_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class StoredEvent:
    hall: str
    seq: int
    type: str
    topic: str
    envelope: str  # the JSON text every client receives, byte for byte


# Hot statements are built once: constructing SQLAlchemy statements costs more than running them.
_NEXT_SEQ = (
    update(hall_t).where(hall_t.c.id == bindparam("h")).values(seq=hall_t.c.seq + 1).returning(hall_t.c.seq)
)
_INSERT_EVENT = insert(event_t)
_LOCK_HALL = select(hall_t.c.id).where(hall_t.c.id == bindparam("h")).with_for_update()


@dataclass
class Tx:
    """What a write job sees: the connection, and ``emit`` to append to the event log."""

    conn: Connection
    events: list[StoredEvent] = field(default_factory=list)
    sqlite: bool = False
    callbacks: list[Callable[[], None]] = field(default_factory=list)

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` (on the writer thread, quickly) once this job's transaction is committed."""
        self.callbacks.append(fn)

    def lock_hall(self, hall: str) -> None:
        """Serialize this hall's queue writes from here to commit.

        Every write ends by appending an event, which updates the hall row anyway; taking that
        row lock first means transactions of one hall never interleave their ticket updates (on
        PostgreSQL they could deadlock otherwise). On SQLite, BEGIN IMMEDIATE already did this.
        """
        if not self.sqlite:
            self.conn.execute(_LOCK_HALL, {"h": hall})

    def emit(self, hall: str, type_: str, at: datetime, data: dict[str, Any]) -> int:
        seq = self.conn.execute(_NEXT_SEQ, {"h": hall}).scalar_one()
        envelope = _encode(
            {"seq": seq, "type": type_, "at": at.isoformat(timespec="seconds"), "hall": hall, "data": data}
        ).decode()
        topic = type_.split(".", 1)[0]
        self.conn.execute(
            _INSERT_EVENT,
            {"hall_id": hall, "seq": seq, "type": type_, "topic": topic, "at_ms": int(at.timestamp() * 1000),
             "envelope": envelope},
        )
        self.events.append(StoredEvent(hall, seq, type_, topic, envelope))
        return seq


@dataclass
class _Job:
    fn: Callable[..., Any]
    args: tuple
    future: Future


Publisher = Callable[[list[StoredEvent]], None]


class Database:
    def __init__(self, url: str, *, writers: int | None = None, max_batch: int = 128) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = url.split("///", 1)[1] if "///" in url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.engine = self._make_engine(immediate=True)
        self.read_engine = self._make_engine(immediate=False) if self.is_sqlite else self.engine
        self._writers_n = writers or (1 if self.is_sqlite else 4)
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._publishers: list[Publisher] = []
        self._started = False
        self._lock = threading.Lock()
        self.outage = Outage()  # is the database answering? (logged once per outage)

    # -- setup -------------------------------------------------------------------------------
    def _make_engine(self, *, immediate: bool) -> Engine:
        if not self.is_sqlite:
            # Never hang on a database that is away: give up connecting after CONNECT_TIMEOUT_S,
            # waiting for a pooled connection after POOL_TIMEOUT_S, and notice a silent peer (TCP
            # keepalives, unacknowledged data) within tens of seconds. The URL's own values win.
            given = make_url(self.url).query
            args: dict[str, Any] = {}
            if self.url.startswith("postgresql"):
                defaults = {"connect_timeout": CONNECT_TIMEOUT_S, "keepalives": 1, "keepalives_idle": 10,
                            "keepalives_interval": 5, "keepalives_count": 3, "tcp_user_timeout": 20_000}
                args = {k: v for k, v in defaults.items() if k not in given}
            return create_engine(self.url, pool_size=10, max_overflow=10, pool_pre_ping=True,
                                 pool_timeout=POOL_TIMEOUT_S, connect_args=args)
        engine = create_engine(self.url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (pysqlite recipe)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")  # durable at commit; group commit pays for it
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    def migrate(self) -> None:
        from hall.db.migrate import upgrade

        upgrade(self.engine)

    def add_publisher(self, publisher: Publisher) -> None:
        self._publishers.append(publisher)

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
            for i in range(self._writers_n):
                t = threading.Thread(target=self._writer_loop, name=f"hall-writer-{i}", daemon=True)
                t.start()
                self._threads.append(t)

    def close(self) -> None:
        with self._lock:
            if self._started:
                for _ in self._threads:
                    self._queue.put(None)
                for t in self._threads:
                    t.join(timeout=10)
                self._threads.clear()
                self._started = False
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()

    # -- writes ------------------------------------------------------------------------------
    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Queue ``fn(tx, *args)`` for a writer; the future holds its result once committed."""
        if not self._started:
            self.start()
        fut: Future = Future()
        self._queue.put(_Job(fn, args, fut))
        return fut

    async def write(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.wrap_future(self.submit(fn, *args))

    def write_sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self.submit(fn, *args).result()

    def _writer_loop(self) -> None:
        conn: Connection | None = None
        while True:
            job = self._queue.get()
            if job is None:
                break
            batch = [job]
            while len(batch) < self._max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)  # let this thread finish the batch, then stop
                    break
                batch.append(nxt)
            try:
                if conn is None or conn.closed or conn.invalidated:
                    conn = self.engine.connect()
                self._run_batch(conn, batch)
                self.outage.succeeded()
            except Exception as exc:  # connection lost: fail the batch, reconnect next time
                if not self.outage.note(exc, "writer"):
                    log.warning("writer: batch failed: %s", type(exc).__name__)
                for j in batch:
                    if not j.future.done():
                        j.future.set_exception(exc)
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                conn = None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _run_batch(self, conn: Connection, batch: list[_Job]) -> None:
        outcomes: list[tuple[_Job, Any, BaseException | None, list[StoredEvent]]] = []
        callbacks: list[Callable[[], None]] = []
        if len(batch) == 1:
            job = batch[0]
            tx = Tx(conn, sqlite=self.is_sqlite)
            try:
                with conn.begin():
                    result = job.fn(tx, *job.args)
                outcomes.append((job, result, None, tx.events))
                callbacks += tx.callbacks
            except Exception as exc:
                if conn.invalidated or is_unavailable(exc):
                    raise
                outcomes.append((job, None, exc, []))
        else:
            with conn.begin():
                for job in batch:
                    tx = Tx(conn, sqlite=self.is_sqlite)
                    # Plain SAVEPOINT statements: SQLAlchemy's nested-transaction objects cost more
                    # than the statements themselves, once per ticket.
                    conn.exec_driver_sql("SAVEPOINT job")
                    try:
                        result = job.fn(tx, *job.args)
                        conn.exec_driver_sql("RELEASE SAVEPOINT job")
                        outcomes.append((job, result, None, tx.events))
                        callbacks += tx.callbacks
                    except Exception as exc:
                        if conn.invalidated or is_unavailable(exc):
                            raise  # the whole batch fails, its connection is replaced
                        conn.exec_driver_sql("ROLLBACK TO SAVEPOINT job")
                        conn.exec_driver_sql("RELEASE SAVEPOINT job")
                        outcomes.append((job, None, exc, []))
        committed = [e for _, _, err, evs in outcomes if err is None for e in evs]
        if committed:
            for publish in self._publishers:
                try:
                    publish(committed)
                except Exception:
                    log.exception("publisher failed")
        for fn in callbacks:
            try:
                fn()
            except Exception:
                log.exception("after-commit callback failed")
        for job, result, err, _ in outcomes:
            if err is None:
                job.future.set_result(result)
            else:
                job.future.set_exception(err)

    # -- reads -------------------------------------------------------------------------------
    def read_sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            with self.read_engine.connect() as conn:
                result = fn(conn, *args)
        except Exception as exc:
            self.outage.note(exc, "read")
            raise
        self.outage.succeeded()
        return result

    def ping(self) -> None:
        """Raise unless the database answers a trivial query now (readiness)."""
        self.read_sync(lambda conn: conn.exec_driver_sql("SELECT 1").scalar_one())

    async def read(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await anyio.to_thread.run_sync(self.read_sync, fn, *args)
