"""Hall leases: which server process does a hall's single-writer work (#8).

Several ``hall serve`` processes may run behind one address on one PostgreSQL database. Most
work is safe anywhere: a request's transaction takes the hall row first, so numbers and ``seq``
stay gap-free whichever process serves it, and Redis carries every committed event to every
process's screens. Some work must run in exactly one place per hall, because it keeps state in
memory or acts on a timer: the hall's MQTT ingestion and device twins (missed heartbeats, rules
with on-delays, lockers waiting for a door), the staffing controller, the alarm sweep, the day
change and the provincial feed. That work belongs to the process holding the hall's **lease**.

- Every process (a *node*) says it is alive in ``node`` every ``RENEW_S``, with the private
  address other nodes forward a hall's device requests to (``hall.web.forward``).
- A lease lasts ``LEASE_MS`` and is renewed every ``RENEW_S``; a node that stops renewing (killed,
  cut off from the database) loses its halls when their leases run out, and the others take them.
- Halls are spread evenly: a node holds at most ``ceil(halls / live nodes)``; one holding more gives
  the surplus back (the lease is ended at once), and a node with room takes free halls. A new node
  so gets its share within two renewals; a dead node's halls move within ``LEASE_MS`` + ``RENEW_S``.
- ``epoch`` grows at each change of owner, so a change is visible to whoever looks.

The decision (:func:`plan`) is pure; :class:`Leases` runs it against the database. Time is the
machine's wall clock (not the hall's clock, which a test or a demo may set): nodes on several
machines need their clocks in step (NTP) to within a small part of ``LEASE_MS``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from hall.db.database import Database, Tx
from hall.db.models import hall_lease_t, node_t
from hall.tasks import cancel_and_wait

log = logging.getLogger(__name__)

LEASE_MS = 10_000
RENEW_S = 2.0


@dataclass(frozen=True, slots=True)
class Lease:
    owner: str
    expires_ms: int
    epoch: int = 0


@dataclass(frozen=True, slots=True)
class Plan:
    renew: tuple[str, ...] = ()
    take: tuple[str, ...] = ()
    release: tuple[str, ...] = ()


def plan(me: str, halls: list[str], leases: dict[str, Lease], live_nodes: int, now_ms: int) -> Plan:
    """What ``me`` should do with the halls' leases now: renew what it holds (within its fair
    share), give back the surplus, take free halls up to its share. Halls are taken in order, so
    nodes that decide at the same moment mostly want different halls; the database settles ties."""
    share = math.ceil(len(halls) / max(1, live_nodes))
    mine = [h for h in halls if (le := leases.get(h)) is not None and le.owner == me and le.expires_ms > now_ms]
    free = [h for h in halls if (le := leases.get(h)) is None or le.expires_ms <= now_ms]
    keep, release = mine[:share], mine[share:]
    room = max(0, share - len(keep))
    take = free[:room]
    return Plan(renew=tuple(keep), take=tuple(take), release=tuple(release))


def node_id() -> str:
    """``HALL_NODE``, else host-pid-random: unique per process, stable for its life."""
    return os.environ.get("HALL_NODE") or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


# -- database side -----------------------------------------------------------------------------------
def _read(conn: Connection, now_ms: int) -> tuple[dict[str, Lease], int]:
    leases = {r.hall_id: Lease(r.owner, r.expires_ms, r.epoch) for r in conn.execute(select(hall_lease_t))}
    live = len(list(conn.execute(select(node_t.c.id).where(node_t.c.seen_ms > now_ms - LEASE_MS))))
    return leases, live


def _round(tx: Tx, me: str, address: str, halls: list[str], now_ms: int, started_ms: int) -> tuple[set[str], dict]:
    """One renewal round in one transaction: say I am alive, then renew, release and take."""
    conn = tx.conn
    seen = conn.execute(update(node_t).where(node_t.c.id == me).values(seen_ms=now_ms, address=address)).rowcount
    if not seen:
        conn.execute(insert(node_t).values(id=me, address=address, started_ms=started_ms, seen_ms=now_ms))
    conn.execute(delete(node_t).where(node_t.c.seen_ms < now_ms - 6 * LEASE_MS))  # long gone
    leases, live = _read(conn, now_ms)
    p = plan(me, halls, leases, live, now_ms)
    held: set[str] = set()
    until = now_ms + LEASE_MS
    for h in p.renew:
        n = conn.execute(update(hall_lease_t).where(hall_lease_t.c.hall_id == h, hall_lease_t.c.owner == me)
                         .values(expires_ms=until)).rowcount
        if n:
            held.add(h)
    for h in p.release:
        conn.execute(update(hall_lease_t).where(hall_lease_t.c.hall_id == h, hall_lease_t.c.owner == me)
                     .values(expires_ms=0))
    for h in p.take:
        le = leases.get(h)
        if le is None:
            # Two nodes inserting at once: the primary key lets one win; the other's savepoint
            # is rolled back, and it looks again next round.
            try:
                with conn.begin_nested():
                    conn.execute(insert(hall_lease_t).values(hall_id=h, owner=me, expires_ms=until,
                                                             taken_ms=now_ms, epoch=1))
                held.add(h)
            except IntegrityError:
                pass
        else:
            # Compare-and-set on what was read: only one node can move a lease from one state.
            n = conn.execute(update(hall_lease_t).where(hall_lease_t.c.hall_id == h,
                                                        hall_lease_t.c.owner == le.owner,
                                                        hall_lease_t.c.expires_ms == le.expires_ms,
                                                        hall_lease_t.c.epoch == le.epoch)
                             .values(owner=me, expires_ms=until, taken_ms=now_ms, epoch=le.epoch + 1)).rowcount
            if n:
                held.add(h)
    return held, {"live": live, "released": list(p.release)}


def _leave(tx: Tx, me: str) -> None:
    tx.conn.execute(update(hall_lease_t).where(hall_lease_t.c.owner == me).values(expires_ms=0))
    tx.conn.execute(delete(node_t).where(node_t.c.id == me))


def owners(conn: Connection, now_ms: int) -> dict[str, tuple[str, str]]:
    """Hall -> (owner node, its address), for leases that are live now."""
    q = (select(hall_lease_t.c.hall_id, hall_lease_t.c.owner, node_t.c.address)
         .join(node_t, node_t.c.id == hall_lease_t.c.owner)
         .where(hall_lease_t.c.expires_ms > now_ms))
    return {r.hall_id: (r.owner, r.address) for r in conn.execute(q)}


@dataclass
class Leases:
    """This process's leases, renewed in the background; ``owns(hall)`` is what the rest asks."""

    db: Database
    halls: list[str]
    me: str = field(default_factory=node_id)
    address: str = ""
    wall: Callable[[], float] = time.time
    held: set[str] = field(default_factory=set)
    on_change: list[Callable[[set[str], set[str]], None]] = field(default_factory=list)  # (gained, lost)
    _owners: dict[str, tuple[str, str]] = field(default_factory=dict)
    _owners_at: float = 0.0
    _task: asyncio.Task | None = None
    _started_ms: int = 0
    _failing: bool = False
    _last_ok_ms: int = 0

    def _now_ms(self) -> int:
        return int(self.wall() * 1000)

    def owns(self, hall: str) -> bool:
        return hall in self.held

    def renew_now(self) -> set[str]:
        """One round now (synchronously: at start-up, so a single process owns its halls before it
        serves). Returns the halls held after it."""
        now = self._now_ms()
        self._started_ms = self._started_ms or now
        try:
            held, info = self.db.write_sync(_round, self.me, self.address, self.halls, now, self._started_ms)
        except Exception as e:
            # Cut off from the database: what we hold runs out by itself (others take it then);
            # stop acting as owner a little before that, so two never act at once.
            if not self._failing:
                log.warning("leases: renewal failed (%s); halls are let go when their leases run out",
                            type(e).__name__)
            self._failing = True
            if self.held and now - self._last_ok_ms > LEASE_MS - 2 * RENEW_S * 1000:
                self._set(set())
            return self.held
        if self._failing:
            log.info("leases: renewing again")
        self._failing = False
        self._last_ok_ms = now
        self._set(held)
        return held

    def _set(self, held: set[str]) -> None:
        gained, lost = held - self.held, self.held - held
        self.held = held
        if gained or lost:
            log.info("leases: node %s holds %s (gained %s, lost %s)", self.me, sorted(held) or "-",
                     sorted(gained) or "-", sorted(lost) or "-")
            for fn in self.on_change:
                try:
                    fn(gained, lost)
                except Exception:
                    log.exception("leases: a change callback failed")

    async def owner_of(self, hall: str) -> tuple[str, str] | None:
        """The live owner of a hall and its address (read at most once a second)."""
        if time.monotonic() - self._owners_at > 1.0:
            self._owners = await self.db.read(owners, self._now_ms())
            self._owners_at = time.monotonic()
        return self._owners.get(hall)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(RENEW_S)
            await asyncio.to_thread(self.renew_now)

    async def stop(self) -> None:
        """Cancel renewals and give the halls back at once (a clean stop hands over immediately)."""
        await cancel_and_wait([self._task], what="leases")
        try:
            await asyncio.to_thread(self.db.write_sync, _leave, self.me)
        except Exception as e:
            log.warning("leases: could not give the halls back (%s); they run out by themselves", type(e).__name__)
        self._set(set())


def describe(leases: Leases | None) -> dict[str, Any]:
    if leases is None:
        return {"node": None, "halls": []}
    return {"node": leases.me, "halls": sorted(leases.held)}
