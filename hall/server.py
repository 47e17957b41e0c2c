"""The running server's parts, wired once: database, halls, verifier, fan-out, metrics."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from hall.clock import Clock
from hall.db.database import Database, StoredEvent
from hall.db.models import hall_t, window_t
from hall.errors import NotFound
from hall.metrics import Metrics
from hall.queue.ankang import AnkangVerifier
from hall.runtime import HallRuntime
from hall.stream import channel_name, wire

if TYPE_CHECKING:
    from litestar.channels import ChannelsPlugin

    from hall.hallconfig import HallCfg

log = logging.getLogger(__name__)

PASSWORD_CHECKS = 1  # argon2 verifications at once per process (HallServer.password_checks)
ALARM_SWEEP_S = 5.0  # escalations, shelves running out, the held-back flood summary


@dataclass
class HallServer:
    db: Database
    halls: dict[str, HallRuntime]
    clock: Clock
    secret: bytes
    verifiers: dict[str, AnkangVerifier | None] = field(default_factory=dict)
    metrics: Metrics = field(default_factory=Metrics)
    channels: ChannelsPlugin | None = None
    sessions: dict[str, tuple[Any, float, int]] = field(default_factory=dict)  # token -> actor, until, expiry
    loop: asyncio.AbstractEventLoop | None = None
    # The staffing controller runs on its own every tidal.check_every_s; tests on a manual clock
    # turn that off and call staffing_tick() when they mean it.
    auto_staffing: bool = True
    iot: Any = None  # hall.iot.service.IotService: devices over MQTT (set by bootstrap)
    # A screen whose one send blocks this long has stopped reading: it is dropped (hall.web.stream).
    ws_send_timeout_s: float = 10.0
    # The kernel's send buffer of each stream socket (0: the system's, which grows to megabytes):
    # how far behind a client may fall before its sends block and the bound above starts.
    ws_send_buffer_bytes: int = 64 * 1024
    # Password checks running at once. Each argon2 verification holds 64 MiB while it runs (pwdlib's
    # recommended profile), so a burst of sign-ins (a shift starting, or passwords tried from many
    # addresses) would take a process past its memory budget; the rest wait their turn (~0.1 s each).
    password_checks: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(PASSWORD_CHECKS))
    leases: Any = None  # hall.leases.Leases: which halls' single-writer work runs here (None: all of them)
    node_address: str = ""  # this process's private http://host:port, for requests forwarded to a hall's owner
    node_id: str = field(default_factory=lambda: _node_id())  # this process among several (hall.leases)

    @classmethod
    def build(cls, db: Database, cfgs: list[HallCfg], clock: Clock, secret: bytes) -> HallServer:
        halls = {c.id: HallRuntime(c, clock, secret) for c in cfgs}
        return cls(db=db, halls=halls, clock=clock, secret=secret)

    def hall(self, hall_id: str) -> HallRuntime:
        h = self.halls.get(hall_id)
        if h is None:
            raise NotFound(f"没有大厅「{hall_id}」", f"unknown hall {hall_id!r}", code="unknown_hall")
        return h

    def owns(self, hall_id: str) -> bool:
        """Whether this process does the hall's single-writer work (hall.leases); without leases
        (a server built but not started, as many tests do) it does all of it."""
        return self.leases is None or self.leases.owns(hall_id)

    def owned(self) -> list[HallRuntime]:
        return [h for h in self.halls.values() if self.owns(h.id)]

    def prepare(self) -> None:
        """Migrate the schema and make sure every configured hall and window has its row."""
        self.db.migrate()
        for attempt in range(3):  # processes starting together may insert the same row: look again
            try:
                self.db.write_sync(_ensure_rows, list(self.halls.values()))
                break
            except IntegrityError:
                if attempt == 2:
                    raise
        self.close_past_days()

    def close_past_days(self) -> int:
        """Expire tickets left waiting from earlier days (a hall's day ends at midnight, local)."""
        from hall.queue.issuing import close_day

        return sum(
            self.db.write_sync(close_day, h, h.now().date().isoformat()) for h in self.owned()
        )

    def staffing_tick(self, hall_id: str | None = None) -> list[dict[str, Any]]:
        """One pass of the staffing controller now (tidal windows, AB posts, wait alerts) for one
        hall or every hall; returns its decisions, each with ``hall``. Tests call this directly."""
        from hall.windows import staffing

        out: list[dict[str, Any]] = []
        for h in [self.hall(hall_id)] if hall_id else self.owned():
            for d in self.db.write_sync(staffing.tick, h):
                self.metrics.inc("hall_staffing_decisions_total", kind=str(d.get("kind")),
                                 action=str(d.get("action")))
                out.append({"hall": h.id, **d})
        return out

    def alarm_sweep(self, hall_id: str | None = None) -> list[dict[str, Any]]:
        """One pass of the alarm sweep now (shelves run out, escalations due, the flood summary and
        its end, follow-ups past their deadline) for one hall or every hall; returns what it did,
        each with ``hall``."""
        from hall import alarms, followup

        def sweep(tx: Any, h: Any, now: Any) -> list[dict[str, Any]]:  # one transaction for both
            return followup.sweep(tx, h, now) + alarms.sweep(tx, h, now)

        out: list[dict[str, Any]] = []
        for h in [self.hall(hall_id)] if hall_id else self.owned():
            for d in self.db.write_sync(sweep, h, h.now()):
                self.metrics.inc("hall_alarm_sweep_total", action=str(d.get("action")))
                out.append({"hall": h.id, **d})
        return out

    async def housekeeping(self, every_s: float = 60.0, staffing_every_s: float | None = None) -> None:
        """Runs for the server's life: the day change of every hall each ``every_s``, and the
        staffing controller of each hall every ``tidal.check_every_s`` seconds (or
        ``staffing_every_s``). The first pass of each comes one interval after start-up. A failing
        pass is logged and the loop goes on (while the database is away, without a traceback each time)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        next_day = start + every_s
        interval = {hid: staffing_every_s or float(h.cfg.tidal.check_every_s) for hid, h in self.halls.items()
                    if self.auto_staffing or staffing_every_s is not None}
        next_tick = {hid: start + s for hid, s in interval.items()}
        next_sweep = start + ALARM_SWEEP_S if self.auto_staffing else float("inf")  # same switch as staffing
        while True:
            await asyncio.sleep(max(0.0, min([next_day, next_sweep, *next_tick.values()]) - loop.time()))
            now = loop.time()
            if now >= next_day:
                next_day = now + every_s
                try:
                    await asyncio.to_thread(self.close_past_days)
                except Exception as exc:
                    if not self.db.outage.covers(exc, "housekeeping"):  # the outage is logged once
                        log.exception("housekeeping failed")
            for hid, due in next_tick.items():
                if now < due:
                    continue
                next_tick[hid] = now + interval[hid]
                if not self.owns(hid):
                    continue
                try:
                    await asyncio.to_thread(self.staffing_tick, hid)
                except Exception as exc:
                    if not self.db.outage.covers(exc, "staffing"):  # the outage is logged once
                        log.exception("staffing controller failed (hall %s)", hid)
            if now >= next_sweep:
                next_sweep = now + ALARM_SWEEP_S
                try:
                    await asyncio.to_thread(self.alarm_sweep)
                except Exception as exc:
                    if not self.db.outage.covers(exc, "alarm sweep"):  # the outage is logged once
                        log.exception("alarm sweep failed")

    def attach(self, channels: ChannelsPlugin, loop: asyncio.AbstractEventLoop) -> None:
        """Start fanning committed events out through the channels (called at app start-up)."""
        self.channels, self.loop = channels, loop
        self.db.add_publisher(self._publish_from_writer)
        self.db.start()

    def _publish_from_writer(self, events: list[StoredEvent]) -> None:
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._publish, events)

    def _publish(self, events: list[StoredEvent]) -> None:
        if self.channels is None:
            return
        for e in events:
            self.channels.publish(wire(e), channel_name(e.hall))
            self.metrics.event(e.type)


def _node_id() -> str:
    from hall.leases import node_id

    return node_id()


def _ensure_rows(tx, halls: list[HallRuntime]) -> None:  # noqa: ANN001
    conn = tx.conn
    known = {r.id for r in conn.execute(select(hall_t.c.id))}
    windows = {(r.hall_id, r.window) for r in conn.execute(select(window_t.c.hall_id, window_t.c.window))}
    for h in halls:
        if h.id not in known:
            conn.execute(insert(hall_t).values(id=h.id, name=h.cfg.name, seq=0))
        for w in h.cfg.windows:
            if (h.id, w.number) not in windows:
                conn.execute(insert(window_t).values(hall_id=h.id, window=w.number, state="closed"))
