"""The provincial feed: queue, call and rating events POSTed to the province's platform (#7).

The event log is the outbox. Every change is already stored there, in order, in the same
transaction as the change; the feed only remembers how far delivery has got (``feed_cursor``:
every wanted event up to ``last_seq`` has been accepted). So nothing is lost between a change and
its delivery, and nothing needs to be written twice.

Delivery, per hall with ``[feed] url``, one asyncio task for the whole server:

- read the wanted events (``[feed] types``) with ``seq`` after the cursor, at most ``batch``;
- POST them, in ``seq`` order, as one request; on a 2xx answer move the cursor past them (and past
  the events of other types in between), on anything else keep the same batch and retry it after
  a backoff (``retry_min_s`` doubling up to ``retry_max_s``, equal jitter, at least what a
  ``Retry-After`` asks, capped at ``retry_max_s``). A batch is never skipped: a platform that keeps
  refusing one (a 400, say) holds the hall's feed until someone looks (the backlog, the alarm).
- Delivery is at least once: a batch the platform accepted whose answer was lost, or whose cursor
  move did not reach the database before a crash, is sent again. Each event carries its own key
  ``{hall}:{seq}``, which never changes, so the receiver removes duplicates by it. The request's
  ``Idempotency-Key`` (``{hall}:{first_seq}-{last_seq}``) is the same for every retry of one batch
  in one process; after a restart the batch may be cut differently, so the per-event key is the one
  to deduplicate on.

Wire format (``Content-Type: application/json``; ``Authorization: Bearer <key>`` when the
environment variable named by ``api_key_env`` is set)::

    POST <url>
    Idempotency-Key: hn-tja:12-57
    {"hall": "hn-tja",
     "events": [{"key": "hn-tja:12", "seq": 12, "type": "ticket.issued", "at": "2026-11-23T09:30:00+08:00",
                 "hall": "hn-tja", "data": {...}}, ...]}

Each event is the stream's envelope (README, event types) with ``key`` added; ``data`` holds no
personal data.

The feed wakes when a commit of this process carries a wanted event (``Database.add_publisher``,
used only as a signal: what is sent is always read back from the log) and otherwise looks every
``POLL_S`` seconds (events written by other processes). The backlog is in ``/metrics``
(``hall_feed_backlog{hall}``, ``hall_feed_failures{hall}``, ``hall_feed_last_success_seconds{hall}``)
and ``GET /api/v1/halls/{hall}/feed``; a feed failing for ``DOWN_ALARM_MIN`` minutes of the hall's
clock raises the hall alarm ``feed_down``, cleared by the next delivery.

With several server processes on one database each would deliver (duplicates, removed by the key;
the cursor never moves back); running the feed in one of them is for #8.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import msgspec
from sqlalchemy import Connection, func, insert, select, update

from hall import alarms
from hall.db.database import StoredEvent, Tx
from hall.db.models import event_t, feed_cursor_t
from hall.runtime import HallRuntime, ms
from hall.stream import current_seq
from hall.tasks import cancel_and_wait

if TYPE_CHECKING:
    from hall.server import HallServer

log = logging.getLogger(__name__)

POLL_S = 2.0  # look at the log this often even without a wake-up (other processes' events)
DOWN_ALARM_MIN = 10  # a feed failing this long (hall clock) raises the feed_down alarm
MAX_BATCHES_PER_PASS = 20  # then the other halls get their turn
ERROR_CHARS = 200

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode


def event_key(hall: str, seq: int) -> str:
    """The idempotency key of one event: stable for ever, whatever batch carries it."""
    return f"{hall}:{seq}"


def batch_key(hall: str, first: int, last: int) -> str:
    return f"{hall}:{first}-{last}"


def url_host(url: str | None) -> str | None:
    """Host (and port) of the endpoint, without any credentials or path, for the status view."""
    if not url:
        return None
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    return f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname


def backoff_s(failures: int, min_s: float, max_s: float, retry_after: float | None = None,
              rand: random.Random | None = None) -> float:
    """Seconds before retry number ``failures`` (1 = after the first failure): ``min_s`` doubling up
    to ``max_s``, with equal jitter (half fixed, half random) so that halls restarted together do not
    knock in step; at least ``retry_after`` (the platform's ``Retry-After``), never above ``max_s``."""
    base = min(max_s, min_s * 2 ** min(max(failures - 1, 0), 30))
    delay = base / 2 + (rand or random).uniform(0, base / 2)
    if retry_after is not None and retry_after > delay:
        delay = min(retry_after, max_s)
    return delay


# --------------------------------------------------------------------------- reads and writes

def load_cursor(conn: Connection, hall: str) -> Any | None:
    return conn.execute(select(feed_cursor_t).where(feed_cursor_t.c.hall_id == hall)).first()


def scan(conn: Connection, hall: str, after: int, types: Collection[str], limit: int
         ) -> tuple[list[tuple[int, str]], int]:
    """Up to ``limit`` wanted events after ``after``, in order, and how far the cursor may move once
    they are delivered: to the last of them when there may be more, else to the end of the log.

    The end of the log is read first: every event up to the hall's ``seq`` is committed when that
    ``seq`` is (the hall row is updated in the event's transaction), so on PostgreSQL's read
    committed an event committed between the two statements cannot be passed over unseen.
    """
    top = current_seq(conn, hall)
    rows = [(r.seq, r.envelope) for r in conn.execute(
        select(event_t.c.seq, event_t.c.envelope)
        .where(event_t.c.hall_id == hall, event_t.c.seq > after, event_t.c.seq <= top,
               event_t.c.type.in_(list(types)))
        .order_by(event_t.c.seq).limit(limit))]
    return rows, rows[-1][0] if len(rows) == limit else max(top, after)


def backlog(conn: Connection, hall: str, after: int, types: Collection[str]) -> int:
    """Wanted events not yet delivered."""
    return conn.execute(
        select(func.count()).select_from(event_t)
        .where(event_t.c.hall_id == hall, event_t.c.seq > after, event_t.c.type.in_(list(types)))
    ).scalar_one()


def _save(tx: Tx, hall: str, **values: Any) -> None:
    """Update the hall's cursor row (made on first use); ``last_seq`` never moves back (another
    process may have got further)."""
    conn = tx.conn
    row = conn.execute(select(feed_cursor_t.c.last_seq).where(feed_cursor_t.c.hall_id == hall)).first()
    if row is None:
        base = {"last_seq": 0, "updated_ms": 0, "failures": 0, "next_try_ms": None, "last_error": None}
        conn.execute(insert(feed_cursor_t).values(hall_id=hall, **(base | values)))
        return
    if "last_seq" in values and values["last_seq"] < row.last_seq:
        del values["last_seq"]
    conn.execute(update(feed_cursor_t).where(feed_cursor_t.c.hall_id == hall).values(**values))


def record_delivered(tx: Tx, h: HallRuntime, now: datetime, to_seq: int, delivered: bool,
                     clear_alarm: bool) -> None:
    """The platform accepted everything up to ``to_seq`` (or there was nothing it wants there):
    move the cursor, forget the failures; ``updated_ms`` is the last accepted delivery."""
    if clear_alarm:
        tx.lock_hall(h.id)  # hall row first, as every writer does (PostgreSQL)
    values: dict[str, Any] = {"last_seq": to_seq, "failures": 0, "next_try_ms": None, "last_error": None}
    if delivered:
        values["updated_ms"] = ms(now)
    _save(tx, h.id, **values)
    if clear_alarm:
        alarms.clear_alarm(tx, h, now, "hall", h.id, "feed_down")


def record_failure(tx: Tx, h: HallRuntime, now: datetime, failures: int, next_try_ms: int, error: str,
                   alarm: dict[str, Any] | None) -> None:
    """A delivery failed: how often in a row, when the next try is, why; and the alarm when due."""
    if alarm is not None:
        tx.lock_hall(h.id)
    _save(tx, h.id, failures=failures, next_try_ms=next_try_ms, last_error=error)
    if alarm is not None:
        alarms.raise_alarm(tx, h, now, "hall", h.id, "feed_down", "major", alarm)


def status(conn: Connection, h: HallRuntime) -> dict[str, Any]:
    """``GET /feed``: how delivery stands, from the database (so any server process answers alike)."""
    cfg = h.cfg.feed
    row = load_cursor(conn, h.id)
    last_seq = row.last_seq if row else 0
    return {
        "enabled": bool(cfg.url),
        "url_host": url_host(cfg.url),
        "types": list(cfg.types),
        "last_seq": last_seq,
        "backlog": backlog(conn, h.id, last_seq, cfg.types) if cfg.url else None,
        "failures": row.failures if row else 0,
        "last_error": row.last_error if row else None,
        "next_try_at": h.iso(row.next_try_ms) if row else None,
        "last_delivered_at": h.iso(row.updated_ms or None) if row else None,
    }


# --------------------------------------------------------------------------- the task

@dataclass
class _HallFeed:
    h: HallRuntime
    cursor: int | None = None  # loaded from the database on first use
    batch: list[tuple[int, str]] | None = None  # being delivered: kept, unchanged, until accepted
    body: bytes = b""
    reach: int = 0  # where the cursor goes once the batch is accepted
    failures: int = 0
    retry_at: float = 0.0  # event-loop time of the next try
    down_since: datetime | None = None  # hall clock, first failure of the current run of failures
    alarm: bool | None = None  # feed_down raised by us; None: unknown (a previous process's may be open)
    types: frozenset[str] = field(default_factory=frozenset)


class Feed:
    """One per server: delivers every hall's feed from one asyncio task (``start``/``stop``)."""

    def __init__(self, server: HallServer, *, poll_s: float = POLL_S,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.server = server
        self.poll_s = poll_s
        self.halls = {hid: _HallFeed(h, types=frozenset(h.cfg.feed.types))
                      for hid, h in server.halls.items() if h.cfg.feed.url}
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._listening = False

    @property
    def enabled(self) -> bool:
        return bool(self.halls)

    def start(self) -> None:
        """Start delivering (in the running event loop); nothing happens when no hall has a feed."""
        if not self.halls or self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._client = httpx.AsyncClient(transport=self._transport, follow_redirects=False)
        if not self._listening:
            self.server.db.add_publisher(self._on_commit)
            self._listening = True
        self._task = self._loop.create_task(self._run(), name="hall-feed")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait([task], what="feed")
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _on_commit(self, events: list[StoredEvent]) -> None:
        """On the writer thread after a commit: only a wake-up, the feed reads the log itself."""
        loop, wake = self._loop, self._wake
        if self._task is None or loop is None or wake is None or loop.is_closed():
            return
        for e in events:
            f = self.halls.get(e.hall)
            if f is not None and e.type in f.types:
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    loop.call_soon_threadsafe(wake.set)
                return

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            delay = self.poll_s
            for f in self.halls.values():
                if not self.server.owns(f.h.id):  # another process delivers this hall's feed
                    continue
                try:
                    delay = min(delay, await self._serve(f))
                except Exception as exc:
                    if not self.server.db.outage.covers(exc, "feed"):  # an outage is logged once
                        log.exception("feed: delivery pass failed (hall %s)", f.h.id)
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def _serve(self, f: _HallFeed) -> float:
        """Deliver what is due for one hall; returns the seconds until it wants to run again."""
        db, h = self.server.db, f.h
        loop = asyncio.get_running_loop()
        cfg = h.cfg.feed
        if f.cursor is None:
            row = await db.read(load_cursor, h.id)
            f.cursor = row.last_seq if row else 0
            if row is not None and row.updated_ms:
                self._metric("hall_feed_last_success_seconds", row.updated_ms / 1000, h.id)
        wait = self.poll_s
        if loop.time() < f.retry_at:
            wait = f.retry_at - loop.time()
        else:
            for _ in range(MAX_BATCHES_PER_PASS):
                if f.batch is None:
                    rows, reach = await db.read(scan, h.id, f.cursor, f.types, cfg.batch)
                    if not rows:
                        if reach > f.cursor:  # only events the province does not take
                            await db.write(record_delivered, h, h.now(), reach, False, False)
                            f.cursor = reach
                        break
                    f.batch, f.reach = rows, reach
                    f.body = _encode({"hall": h.id, "events": [
                        {"key": event_key(h.id, seq), **_decode(env)} for seq, env in rows]})
                error, retry_after = await self._post(f)
                if error is not None:
                    wait = await self._failed(f, error, retry_after)
                    break
                await self._delivered(f)
            else:
                wait = 0.0  # more to send: come straight back after the other halls
        self._metric("hall_feed_backlog", await db.read(backlog, h.id, f.cursor, f.types), h.id)
        self._metric("hall_feed_failures", f.failures, h.id)
        return wait

    async def _post(self, f: _HallFeed) -> tuple[str | None, float | None]:
        """Send the batch; ``(None, None)`` when accepted, else the error and any ``Retry-After``."""
        assert f.batch is not None and self._client is not None
        cfg = f.h.cfg.feed
        headers = {"Content-Type": "application/json", "User-Agent": "hall-feed/1",
                   "Idempotency-Key": batch_key(f.h.id, f.batch[0][0], f.batch[-1][0])}
        key = os.environ.get(cfg.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        try:
            r = await self._client.post(cfg.url or "", content=f.body, headers=headers, timeout=cfg.timeout_s)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:ERROR_CHARS], None
        if 200 <= r.status_code < 300:
            return None, None
        retry_after = None
        with contextlib.suppress(ValueError):
            retry_after = float(r.headers.get("retry-after", ""))
        return f"HTTP {r.status_code}: {r.text[:100]}".strip().rstrip(":")[:ERROR_CHARS], retry_after

    async def _delivered(self, f: _HallFeed) -> None:
        assert f.batch is not None
        h, n = f.h, len(f.batch)
        now = h.now()
        await self.server.db.write(record_delivered, h, now, f.reach, True, f.alarm is not False)
        if f.failures:
            log.info("feed: hall %s delivering again after %d failures", h.id, f.failures)
        f.cursor, f.batch, f.body = f.reach, None, b""
        f.failures, f.retry_at, f.down_since, f.alarm = 0, 0.0, None, False
        self.server.metrics.inc("hall_feed_requests_total", hall=h.id, result="ok")
        self.server.metrics.inc("hall_feed_events_total", n, hall=h.id)
        self._metric("hall_feed_last_success_seconds", ms(now) / 1000, h.id)

    async def _failed(self, f: _HallFeed, error: str, retry_after: float | None) -> float:
        h, cfg = f.h, f.h.cfg.feed
        now = h.now()
        f.failures += 1
        delay = backoff_s(f.failures, cfg.retry_min_s, cfg.retry_max_s, retry_after)
        f.retry_at = asyncio.get_running_loop().time() + delay
        f.down_since = f.down_since or now
        down_min = (now - f.down_since).total_seconds() / 60
        alarm = None
        if f.alarm is not True and down_min >= DOWN_ALARM_MIN:
            alarm = {"text": f"省平台数据推送失败已{int(down_min)}分钟",
                     "since": f.down_since.isoformat(timespec="seconds"), "failures": f.failures,
                     "error": error, "url_host": url_host(cfg.url)}
        if f.failures == 1 or alarm is not None:
            log.warning("feed: hall %s delivery failed (%s); retrying with backoff", h.id, error)
        next_try_ms = ms(now) + int(delay * 1000)
        await self.server.db.write(record_failure, h, now, f.failures, next_try_ms, error, alarm)
        if alarm is not None:
            f.alarm = True
        self.server.metrics.inc("hall_feed_requests_total", hall=h.id, result="error")
        return delay

    def _metric(self, name: str, value: float, hall: str) -> None:
        self.server.metrics.set_gauge(name, value, hall=hall)
