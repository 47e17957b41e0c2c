"""The database adapter: one engine for reads, a writer pool with group commit for writes.

Writes go through writer threads, each with a long-lived connection. A writer takes every job
waiting in its queue (up to ``max_batch``), runs each in its own savepoint inside one transaction
and commits once: on SQLite that turns one fsync per ticket into one per batch, and since SQLite
allows a single writer anyway it removes lock contention. A job that raises is rolled back to its
savepoint alone. Events a job emits get their ``seq`` inside the transaction and are handed to the
publisher only after the commit, so nothing is pushed that is not stored first.

On PostgreSQL every batch holds its hall's row from its first write to the commit, so batches of
one hall (of all processes) run one after another. Plain ticket issuing therefore runs no statement
of its own after the first ticket of a batch: the hall's figures are read once and the rows are
written together before the commit (``_Batch``), so the row is held for a handful of statements
per batch instead of several per ticket.

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
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio.to_thread
import msgspec
from sqlalchemy import Connection, bindparam, create_engine, event, insert, select, text, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError

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
# PostgreSQL: the next seq and the event row in one round trip (a data-modifying WITH, which
# SQLite lacks). The envelope is the same text _envelope makes: its head up to the seq, the seq,
# the rest; so the stored envelope is byte for byte what Python sends.
_EMIT_PG = text(
    f"WITH s AS (UPDATE {hall_t.name} SET seq = seq + 1 WHERE id = :h RETURNING seq) "
    f"INSERT INTO {event_t.name} (hall_id, seq, type, topic, at_ms, envelope) "
    "SELECT :h, s.seq, :type, :topic, :at_ms, :head || s.seq || :tail FROM s RETURNING seq"
)
_SEQ_HEAD = '{"seq":'
_LOCK_HALL = select(hall_t.c.id).where(hall_t.c.id == bindparam("h")).with_for_update()


_READ_SEQ = select(hall_t.c.seq).where(hall_t.c.id == bindparam("h")).with_for_update()
_SET_SEQ = update(hall_t).where(hall_t.c.id == bindparam("h")).values(seq=bindparam("seq"))


class _Batch:
    """What the jobs of one write transaction share besides the connection: writes deferred to
    the end of the transaction and values read once for the rest of it.

    A job that only issues tickets (``Tx.defer``, ``Tx.batch_value``) runs no statement of its own
    once the hall's figures are known: its rows are inserted with those of the other jobs in a
    few multi-row statements just before the commit. That keeps the hall row (taken by the first
    such job, held to the commit) locked for a few statements per batch instead of several per
    ticket, which is what limits issuing on PostgreSQL when several writers take turns at it.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.values: dict[Hashable, Any] = {}
        self.writes: dict[Hashable, tuple[Any, dict[str, Any]]] = {}
        self.broken: BaseException | None = None

    def flush(self) -> None:
        """Store the deferred writes now: one executemany (one multi-row INSERT) per statement."""
        if not self.writes:
            return
        groups: dict[int, tuple[Any, list[dict[str, Any]]]] = {}
        for stmt, params in self.writes.values():
            groups.setdefault(id(stmt), (stmt, []))[1].append(params)
        self.writes.clear()
        try:
            for stmt, rows in groups.values():
                self.conn.execute(stmt, rows)
        except Exception as exc:
            self.broken = exc  # even if the job at hand catches it, the batch must fail
            raise


class Tx:
    """What a write job sees: the connection, and ``emit`` to append to the event log.

    In a batch of several jobs each job runs in its own savepoint, opened when it first touches the
    connection (a job that touches it not at all needs none). Writes a job defers and batch values
    it sets are staged here and handed to the batch only when the job succeeded.
    """

    def __init__(self, batch: _Batch, *, sqlite: bool = False, savepoint: bool = False) -> None:
        self._batch = batch
        self.sqlite = sqlite
        self._savepoint = savepoint  # several jobs share the transaction: run in a savepoint
        self.opened = False  # has this job touched the connection (and opened its savepoint)?
        self._general = False  # has it used ``conn`` (any statement)? Then nothing more is deferred.
        self._values: dict[Hashable, Any] = {}
        self._writes: dict[Hashable, tuple[Any, dict[str, Any]]] = {}
        self.events: list[StoredEvent] = []
        self.callbacks: list[Callable[[], None]] = []

    # -- the connection ----------------------------------------------------------------------
    def _open(self) -> Connection:
        """The connection, with earlier jobs' deferred writes stored (outside this job's
        savepoint, so that this job failing does not take them back) and the savepoint open."""
        if not self.opened:
            self._batch.flush()
            if self._savepoint:
                self._batch.conn.exec_driver_sql("SAVEPOINT job")
            self.opened = True
        return self._batch.conn

    @property
    def conn(self) -> Connection:
        """The connection for any statement. Whatever was deferred is stored first (this job's
        own writes inside its savepoint), and the batch's cached values are dropped: the
        statements may change what they describe."""
        conn = self._open()
        if not self._general:
            self._general = True
            if self._writes:
                pending = _Batch(conn)
                pending.writes = self._writes
                self._writes = {}
                pending.flush()
            self._values.clear()
            self._batch.values.clear()
        return conn

    def reader(self) -> Connection:
        """The connection for reads that may be served from a cache anyway (they do not see
        this job's deferred writes), without giving up deferring."""
        return self._open() if not self._general else self.conn

    # -- deferring ---------------------------------------------------------------------------
    @property
    def can_defer(self) -> bool:
        """False once this job has run statements of its own (``conn``): from then on its
        writes go straight to the database, in order with those statements."""
        return not self._general

    def batch_value(self, key: Hashable, load: Callable[[Connection], Any] | None = None) -> Any:
        """A value kept for the rest of the transaction: this job's, else the batch's, else
        ``load(conn)`` (None without ``load``). Values must not be changed in place."""
        if self._general:
            return load(self.conn) if load is not None else None
        if key in self._values:
            return self._values[key]
        if key in self._batch.values:
            return self._batch.values[key]
        if load is None:
            return None
        value = self._values[key] = self._load(load)
        return value

    def _load(self, load: Callable[[Connection], Any]) -> Any:
        """Run a read for ``batch_value``. Earlier jobs' deferred writes are stored first, but no
        savepoint is opened for it: a read leaves nothing a failing job would have to take back,
        and the savepoint and its release were two more round trips under the hall's row, in
        every batch. Without a savepoint a failed statement aborts the whole transaction on
        PostgreSQL, so a read that fails here fails the batch (``broken``), never just the job."""
        if self.opened:
            return load(self._batch.conn)
        try:
            self._batch.flush()
            return load(self._batch.conn)
        except BaseException as exc:
            self._batch.broken = exc
            raise

    def set_batch_value(self, key: Hashable, value: Any) -> None:
        if not self._general:
            self._values[key] = value

    def defer(self, stmt: Any, params: dict[str, Any], key: Hashable | None = None) -> None:
        """Run ``stmt`` with ``params`` just before the commit (or before the next job that
        needs the connection), batched with the same statement of other jobs. A later write with
        the same ``key`` replaces this one."""
        if self._general:
            self.conn.execute(stmt, params)
            return
        self._writes[key if key is not None else ("row", len(self._writes), id(params))] = (stmt, params)

    def _succeeded(self) -> None:
        """Hand the staged writes and values to the batch (the job is done and released)."""
        self._batch.writes.update(self._writes)
        self._batch.values.update(self._values)

    # -- the hall and its event log ----------------------------------------------------------
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

    def hold_hall(self, hall: str) -> int:
        """``lock_hall`` for a deferring job: the row is locked and its ``seq`` read once per
        transaction; the hall's last ``seq`` so far (``emit_deferred`` counts on from there)."""
        return self.batch_value(("seq", hall), lambda conn: conn.execute(_READ_SEQ, {"h": hall}).scalar_one())

    def emit(self, hall: str, type_: str, at: datetime, data: dict[str, Any]) -> int:
        at_ms = int(at.timestamp() * 1000)
        if not self.sqlite:  # one round trip instead of two (PostgreSQL)
            tail = _tail(hall, type_, at, data)
            topic = _topic(type_)
            seq = self.conn.execute(_EMIT_PG, {"h": hall, "type": type_, "topic": topic, "at_ms": at_ms,
                                               "head": _SEQ_HEAD, "tail": tail}).scalar_one()
            self.events.append(StoredEvent(hall, seq, type_, topic, f"{_SEQ_HEAD}{seq}{tail}"))
            return seq
        seq = self.conn.execute(_NEXT_SEQ, {"h": hall}).scalar_one()
        envelope, topic = _envelope(seq, hall, type_, at, data)
        self.conn.execute(
            _INSERT_EVENT,
            {"hall_id": hall, "seq": seq, "type": type_, "topic": topic, "at_ms": at_ms, "envelope": envelope},
        )
        self.events.append(StoredEvent(hall, seq, type_, topic, envelope))
        return seq

    def emit_deferred(self, hall: str, type_: str, at: datetime, data: dict[str, Any]) -> int:
        """``emit`` for a deferring job: the next ``seq`` is counted here (the hall row is ours
        to the commit), the event row and the hall's new ``seq`` are written with the batch."""
        if self._general:
            return self.emit(hall, type_, at, data)
        seq = self.hold_hall(hall) + 1
        self.set_batch_value(("seq", hall), seq)
        self.defer(_SET_SEQ, {"h": hall, "seq": seq}, key=("seq", hall))
        envelope, topic = _envelope(seq, hall, type_, at, data)
        self.defer(_INSERT_EVENT, {"hall_id": hall, "seq": seq, "type": type_, "topic": topic,
                                   "at_ms": int(at.timestamp() * 1000), "envelope": envelope})
        self.events.append(StoredEvent(hall, seq, type_, topic, envelope))
        return seq


def _envelope(seq: int, hall: str, type_: str, at: datetime, data: dict[str, Any]) -> tuple[str, str]:
    """The JSON text of an event: ``{"seq":N,"type":…,"at":…,"hall":…,"data":…}``."""
    return f"{_SEQ_HEAD}{seq}{_tail(hall, type_, at, data)}", _topic(type_)


def _topic(type_: str) -> str:
    """An event's topic: its type up to the first dot (``ticket.called`` -> ``ticket``)."""
    return type_.split(".", 1)[0]


def _tail(hall: str, type_: str, at: datetime, data: dict[str, Any]) -> str:
    """An envelope after its seq: ``,"type":…}``."""
    body = _encode({"type": type_, "at": at.isoformat(timespec="seconds"), "hall": hall, "data": data}).decode()
    return "," + body[1:]


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
        # One writer on PostgreSQL too: every batch holds its hall's row to the commit, so a second
        # writer of the same process would only wait for it, taking half the jobs that could have
        # joined its batch (measured: 4 writers 276-384 tickets/s over two processes, 1 writer 964).
        self._writers_n = writers or 1
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
        shared = _Batch(conn)
        if len(batch) == 1:
            job = batch[0]
            tx = Tx(shared, sqlite=self.is_sqlite)
            try:
                with conn.begin():
                    result = job.fn(tx, *job.args)
                    tx._succeeded()
                    shared.flush()
                outcomes.append((job, result, None, tx.events))
                callbacks += tx.callbacks
            except Exception as exc:
                if conn.invalidated or is_unavailable(exc):
                    raise
                outcomes.append((job, None, exc, []))
        else:
            with conn.begin():
                for job in batch:
                    # Plain SAVEPOINT statements (opened by the job when it first needs the
                    # connection): SQLAlchemy's nested-transaction objects cost more than the
                    # statements themselves, once per ticket.
                    tx = Tx(shared, sqlite=self.is_sqlite, savepoint=True)
                    try:
                        result = job.fn(tx, *job.args)
                        if shared.broken is not None:
                            raise shared.broken
                        if tx.opened:
                            conn.exec_driver_sql("RELEASE SAVEPOINT job")
                        tx._succeeded()
                        outcomes.append((job, result, None, tx.events))
                        callbacks += tx.callbacks
                    except Exception as exc:
                        if shared.broken is not None or conn.invalidated or is_unavailable(exc) or (
                                not tx.opened and isinstance(exc, DBAPIError)):
                            # The whole batch fails, its connection is replaced. A statement that
                            # failed outside a savepoint has aborted PostgreSQL's transaction, and
                            # its COMMIT would then roll back without raising: never answer a job
                            # as done from such a batch.
                            raise
                        if tx.opened:
                            conn.exec_driver_sql("ROLLBACK TO SAVEPOINT job")
                            conn.exec_driver_sql("RELEASE SAVEPOINT job")
                        outcomes.append((job, None, exc, []))
                shared.flush()
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
