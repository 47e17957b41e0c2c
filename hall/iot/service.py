"""The IoT side of the running server: the MQTT link, ingestion, commands, and their timers.

Everything ingestion decides is written by one serial pipeline: while one batch of operations
is being committed, the next accumulates, so a device's alarms and connectivity changes are
stored in the order they happened, and QoS 1 messages are acknowledged to the broker only after
what they caused is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from hall.db.database import Tx
from hall.errors import NotFound, Unavailable
from hall.iot import commands, display, lockers, repo, topics
from hall.iot.client import BrokerAddress, MqttLink
from hall.iot.ingest import Ingest, Op, Twin
from hall.iot.payloads import Ack
from hall.runtime import HallRuntime
from hall.tasks import cancel_and_wait

if TYPE_CHECKING:
    from hall.server import HallServer

log = logging.getLogger(__name__)

BATCH = 5000
TICK_S = 1.0
FLUSH_S = 5.0
RETRY_MIN_S, RETRY_MAX_S = 0.5, 5.0
PRESENCE_S = 5.0  # how often a process says which registered screens are open on it (screen_dark_s is larger)


def presence_channel(hall: str) -> str:
    return f"screens:{hall}"


class IotService:
    def __init__(self, server: HallServer, address: BrokerAddress | None = None, *, client_id: str = "hall-server",
                 shared_group: str | None = None, wall: Callable[[], float] = time.time) -> None:
        self.server = server
        self.address = address
        self.client_id = client_id
        self.shared_group = shared_group
        self.wall = wall
        self.ingest = Ingest(server.halls, server.metrics)
        self.ingest.lookup = self._lookup
        self.ingest.on_ack = self._on_ack
        self.ingest.expects_open = self._expects_open
        self.ingest.on_door = self._on_door
        self.ingest.on_locker_report = self._on_locker_report
        # open_door commands waiting for their door_opened: (hall, device, slot) -> (deadline ms, purpose)
        self._expected: dict[tuple[str, str, int], tuple[int, str | None]] = {}
        self._jammed: set[tuple[str, str]] = set()
        self._reconciled: set[tuple[str, str]] = set()
        self._started_ms = 0  # wall ms of start(): locker reports stamped earlier are not reconciled
        self._screens: dict[tuple[str, str], int] = {}  # registered screens with a WebSocket open: count
        self.link: MqttLink | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[tuple[list[Op], list[int]]] = []
        self._inflight = False
        self._tasks: list[asyncio.Task] = []
        self._waiters: dict[str, list[asyncio.Future]] = {}
        self.started = False
        self.credentials: Any = None  # hall.iot.credentials.CredentialStore, for registering devices
        self._lease_rounds = 0
        self._retry_s = 0.0  # the pause before storing a failed batch again (doubles, up to RETRY_MAX_S)
        self._retry_due = False

    # -- lifecycle --------------------------------------------------------------------------
    def prepare(self) -> None:
        """Before serving (synchronously, at start-up): config devices registered, twins loaded,
        commands left in flight by the last run marked ``unknown``."""
        from sqlalchemy.exc import IntegrityError

        db, halls = self.server.db, list(self.server.halls.values())
        for attempt in range(3):  # processes starting together may insert the same row: look again
            try:
                db.write_sync(_prepare_op, halls, self._now_ms(), self.server.node_id)
                break
            except IntegrityError:
                if attempt == 2:
                    raise
        self.ingest.load(db.read_sync(repo.all_devices), self._now_ms())

    # -- several server processes (hall.leases) --------------------------------------------------
    def _filters(self) -> set[str]:
        """What to listen to: every hall's topics while this process owns every hall (one server,
        the usual case: messages of unknown halls are seen and counted too), else the owned halls'."""
        owned = self.ingest.active
        if owned is None or owned >= set(self.server.halls):
            return {topics.shared(self.shared_group) if self.shared_group else topics.SUBSCRIPTION}
        return {topics.hall_filter(h, self.shared_group) for h in owned}

    def on_leases(self, gained: set[str], lost: set[str]) -> None:
        """The halls this process owns changed (called on the lease renewal's thread). A gained
        hall's twins are loaded afresh from the database, each device with a full heartbeat window
        from now (its messages came to another process until now); commands another process left
        in flight become ``unknown``, as after a restart."""
        now = self._now_ms()
        first = not self._lease_rounds
        self._lease_rounds += 1
        rows: list[Any] = []
        if gained:
            try:
                rows = [r for r in self.server.db.read_sync(repo.all_devices) if r.hall_id in gained]
                if not first:
                    halls = [self.server.halls[h] for h in gained if h in self.server.halls]
                    self.server.db.write_sync(_takeover_op, halls)
            except Exception as exc:  # the twins this process has are used as they are
                if not self.server.db.outage.covers(exc, "iot leases"):
                    log.exception("iot: loading the devices of halls %s failed", sorted(gained))
        loop = self.loop

        def apply() -> None:
            active = set(self.ingest.active if self.ingest.active is not None else ()) | gained
            self.ingest.active = active - lost
            for r in rows:
                self.ingest.add(r, now)
            for key in [k for k in self._expected if k[0] in lost]:
                self._expected.pop(key, None)  # the new owner judges these doors
            if self.link is not None:
                self.link.set_filters(self._filters())

        if loop is None or not self.started:
            apply()
        else:
            _call_soon(loop, apply)

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._started_ms = self._now_ms()
        if self.address is not None:
            self.link = MqttLink(self.address, self.client_id, shared_group=self.shared_group)
            self.link.set_filters(self._filters())
            self.link.start(self.loop, self._drain)
            self.server.db.add_publisher(self._displays)
        self._tasks.append(asyncio.create_task(self._timers()))
        if self.server.channels is not None:
            self._tasks.append(asyncio.create_task(self._screens_elsewhere()))
        self.started = True

    async def _screens_elsewhere(self) -> None:
        """Registered screens whose WebSocket is open on another server process: that process says
        so every ``PRESENCE_S`` on ``screens:{hall}`` (Redis carries it between processes), and the
        hall's owner counts it as seen, so a screen on another process is not taken for dark."""
        channels = self.server.channels
        assert channels is not None
        names = [presence_channel(h) for h in self.server.halls]
        while True:
            try:
                async with channels.start_subscription(names) as sub:
                    async for item in sub.iter_events():
                        hall, _, device = item.decode().partition("|")
                        if hall in self.server.halls and self.server.owns(hall):
                            self.ingest.screen_seen(hall, device, self._now_ms())
                            self._queue(self.ingest.take_ops(), [])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("iot: screen presence subscription failed; subscribing again")
                await asyncio.sleep(1)

    def _presence_s(self) -> float:
        """How often to announce: ``PRESENCE_S``, or a third of the shortest ``screen_dark_s`` of
        the halls when that is shorter, so a screen open here is never dark for its owner."""
        return min([PRESENCE_S] + [h.cfg.iot.screen_dark_s / 3 for h in self.server.halls.values()])

    def _announce_screens(self) -> None:
        """Say which registered screens are open here, for the owners of their halls elsewhere."""
        channels = self.server.channels
        if channels is None:
            return
        for hall, device in list(self._screens):
            if not self.server.owns(hall):
                channels.publish(f"{hall}|{device}".encode(), presence_channel(hall))

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks, what="iot")
        self._tasks.clear()
        if self.link is not None:
            await asyncio.to_thread(self.link.stop)
        # what is still waiting to be stored is stored now (bounded: a dead database must not hang a stop)
        deadline = time.monotonic() + 10
        while (self._pending or self._inflight) and time.monotonic() < deadline:
            if not self._inflight:
                self._pump()
            await asyncio.sleep(0.01)
        self.started = False

    def _now_ms(self) -> int:
        return int(self.wall() * 1000)

    # -- ingestion ----------------------------------------------------------------------------
    def _drain(self) -> None:
        link = self.link
        if link is None:
            return
        msgs = link.take(BATCH)
        if msgs:
            before = self.ingest.accepted
            acks = self.ingest.process(msgs)
            self.server.metrics.inc("hall_mqtt_received_total", len(msgs))
            self.server.metrics.inc("hall_mqtt_accepted_total", self.ingest.accepted - before)
            self._queue(self.ingest.take_ops(), acks)
        if link.pending() and self.loop is not None:
            self.loop.call_soon(self._drain)

    def _queue(self, ops: list[Op], acks: list[int]) -> None:
        if not ops:
            if acks and self.link is not None and not self._pending and not self._inflight:
                self.link.ack(acks)
                return
            if not acks:
                return
        self._pending.append((ops, acks))
        self._pump()

    def _pump(self) -> None:
        if self._inflight or not self._pending or self._retry_due:
            return
        batch, self._pending = self._pending, []
        ops = [op for batch_ops, _ in batch for op in batch_ops]
        acks = [mid for _, batch_acks in batch for mid in batch_acks]
        self._inflight = True
        fut = self.server.db.submit(_apply, ops, self.server.halls)
        loop = self.loop
        if loop is None:  # not started (tests that drive ingestion by hand)
            fut.result()
            self._done(fut, acks, ops)
            return
        fut.add_done_callback(lambda f: _call_soon(loop, self._done, f, acks, ops))

    def _done(self, fut: Future, acks: list[int], ops: list[Op] | None = None) -> None:
        self._inflight = False
        exc = fut.exception()
        if exc is not None:
            # The batch's transaction was rolled back whole (an operation that fails on its own is
            # rolled back alone inside it, see _apply): what failed is the database itself (gone,
            # a deadlock). Keep the batch first in line and try again after a pause; its QoS 1
            # messages stay unacknowledged meanwhile, so the broker holds back more of them.
            if not self.server.db.outage.covers(exc, "iot"):  # an outage is logged once
                log.error("iot: storing a batch failed (%s); trying again", type(exc).__name__)
            self._pending.insert(0, (ops or [], acks))
            self._retry_s = min(RETRY_MAX_S, self._retry_s * 2 if self._retry_s else RETRY_MIN_S)
            self.server.metrics.inc("hall_mqtt_batch_retries_total")
            if self.loop is not None and not self._retry_due:
                self._retry_due = True
                self.loop.call_later(self._retry_s, self._retry)
            return
        self._retry_s = 0.0
        if acks and self.link is not None:
            self.link.ack(acks)
        self._pump()

    def _retry(self) -> None:
        self._retry_due = False
        self._pump()

    async def _timers(self) -> None:
        last_flush = last_presence = time.monotonic()
        while True:
            await asyncio.sleep(TICK_S)
            try:
                if time.monotonic() - last_presence >= self._presence_s():
                    last_presence = time.monotonic()
                    self._announce_screens()
                self.tick()
                if time.monotonic() - last_flush >= FLUSH_S:
                    last_flush = time.monotonic()
                    await self.flush()
                await self.sweep_commands()
            except Exception as exc:
                if not self.server.db.outage.covers(exc, "iot timers"):  # an outage is logged once
                    log.exception("iot timers failed; going on")

    def tick(self) -> None:
        """Connectivity and time-based rules, now (the timer calls it every second)."""
        now = self._now_ms()
        self._watch_link(now)
        for hall, device in self._screens:
            self.ingest.screen_seen(hall, device, now)
        self.ingest.tick(now)
        self._locker_tick()
        self._queue(self.ingest.take_ops(), [])

    _link_up_ms: int | None = None  # since when the server's MQTT link is up (seen by tick)
    _link_down_ms: int | None = None  # since when it is down
    _link_alarms: set[str] | None = None  # halls with mqtt_down raised by us; None: not known yet

    def _watch_link(self, now: int) -> None:
        """While the server's own MQTT link is down it hears no device, so no device's silence or
        last will counts, nor for one heartbeat window after the link is back (``heard_from_ms``):
        devices reconnect and speak again first. The hall gets one ``mqtt_down`` alarm instead,
        raised when the link has been down that long and cleared when it is back."""
        link = self.link
        if link is None:
            return
        up = link.connected.is_set()
        self.server.metrics.set_gauge("hall_mqtt_connected", 1 if up else 0)
        if up and self._link_up_ms is None:
            self._link_up_ms, self._link_down_ms = now, None
        elif not up and self._link_down_ms is None:
            self._link_up_ms, self._link_down_ms = None, now
        self.ingest.heard_from_ms = self._link_up_ms
        alarmed = self._link_alarms
        for h in self.server.owned():
            if up:
                if alarmed is None or h.id in alarmed:  # at start, clear what a former run left open
                    self.ingest.ops.append((h.id, _mqtt_down_op, (self.client_id[:64], None)))
            elif alarmed is None or h.id not in alarmed:
                assert self._link_down_ms is not None
                if now - self._link_down_ms >= self.ingest.silence_ms(h.id):
                    detail = {"broker": f"{link.address.host}:{link.address.port}", "since_ms": self._link_down_ms,
                              "text": "服务器与设备消息服务（MQTT）的连接中断，设备状态暂不可知"}
                    self.ingest.ops.append((h.id, _mqtt_down_op, (self.client_id[:64], detail)))
                    alarmed = set() if alarmed is None else alarmed
                    alarmed.add(h.id)
        self._link_alarms = set() if up else alarmed

    async def flush(self) -> None:
        rows = self.ingest.dirty_rows()
        if rows:
            await self.server.db.write(repo.flush_metrics, rows)

    async def settle(self, timeout: float = 5.0) -> None:
        """Wait until every message received so far is processed and stored (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (self.link is None or self.link.pending() == 0) and not self._pending and not self._inflight:
                return
            await asyncio.sleep(0.01)

    def _lookup(self, hall: str, device: str) -> Any | None:
        return self.server.db.read_sync(repo.one_device, hall, device)

    # -- commands -------------------------------------------------------------------------------
    def twin(self, h: HallRuntime, device: str) -> Twin:
        t = self.ingest.twins.get((h.id, device))
        if t is None:
            t = self.ingest.add(r, self._now_ms()) if (r := self._lookup(h.id, device)) is not None else None
        if t is None:
            raise NotFound(f"没有设备「{device}」", f"unknown device {device!r}", code="unknown_device")
        return t

    def slots_of(self, h: HallRuntime, device: str) -> int:
        d = next((d for d in h.cfg.devices if d.id == device), None)
        if d is not None and d.slots:
            return d.slots
        slots = self.twin(h, device).metrics.get("slots")
        return len(slots) if isinstance(slots, list) else 0

    async def command(self, h: HallRuntime, device: str, name: str, args: dict[str, Any], actor: str | None,
                      *, ttl_s: int | None = None, purpose: str | None = None) -> dict[str, Any]:
        """Store a command, then publish it once. Returns the command as stored after sending."""
        twin = self.twin(h, device)
        args = commands.check(name, args, twin.kind, self.slots_of(h, device) if name == "open_door" else 0)
        ttl = ttl_s or h.cfg.iot.command_ttl_s
        row = await self.server.db.write(commands.create, h, h.now(), device, name, args, actor, ttl, purpose)
        if name == "open_door":
            deadline = self._now_ms() + h.cfg.iot.locker.door_confirm_s * 1000
            key = (h.id, device, args["slot"])
            self._expected[key] = (deadline, purpose)  # before publishing: the door may answer at once
            sent = await self._send(h, row, ttl)
            if sent["state"] == "pending":
                self._expected.pop(key, None)  # never sent: no door to wait for
            return sent
        return await self._send(h, row, ttl)

    async def _send(self, h: HallRuntime, row: dict[str, Any], ttl_s: int) -> dict[str, Any]:
        if self.link is None or not self.link.connected.is_set():
            # not connected: it is not sent now and is never sent later; it expires visibly
            return row
        payload = commands.payload(row, self._now_ms() + ttl_s * 1000)
        at = h.now()
        self.link.publish(topics.cmd(h.id, row["device"]), payload, qos=1)
        sent = await self.server.db.write(commands.mark_sent, h, at, row["id"])
        return sent or await self.server.db.read(commands.get, h, row["id"])

    def _on_ack(self, twin: Twin, ack: Ack, now: int) -> None:
        self.ingest.ops.append((twin.hall, _ack_op, (twin.device, ack.id, ack.status, ack.detail)))

    def _displays(self, events: list[Any]) -> None:
        """After a commit (writer thread): window LED screens get what changed, retained."""
        link = self.link
        if link is None or not self.started:
            return
        for e in events:
            out = display.display_for(e.type, e.envelope)
            if out is not None:
                link.publish(topics.display(e.hall, out[0]), out[1], qos=1, retain=True)

    # -- registry -----------------------------------------------------------------------------------
    async def register(self, h: HallRuntime, device: str, kind: str, location: str | None, window: str | None,
                       slots: int, actor: str) -> dict[str, Any]:
        from hall.iot.credentials import register_device

        if self.credentials is None:
            raise Unavailable("本服务器未配置设备凭据目录", "no credential store on this server",
                              code="no_credentials")
        res = await self.server.db.write(_register_op, h, device, kind, location, window, slots, actor,
                                         self._now_ms(), register_device)
        row = await self.server.db.read(repo.one_device, h.id, device)
        old = self.ingest.twins.get((h.id, device))
        twin = self.ingest.add(row, self._now_ms())
        if old is not None and twin is not None:
            twin.conn, twin.metrics = old.conn, old.metrics  # a re-registration keeps what it knows
        creds = await asyncio.to_thread(self.credentials.add_device, h.id, device, kind)
        return {**creds.as_dict(), "created": res["created"]}

    # -- hall screens -----------------------------------------------------------------------------
    def screen_connected(self, h: HallRuntime, device: str) -> tuple[str, str] | None:
        """A WebSocket of a registered screen opened (``?device=``); others are ordinary clients."""
        t = self.ingest.twins.get((h.id, device))
        if t is None or t.kind != "screen":
            return None
        key = (h.id, device)
        self._screens[key] = self._screens.get(key, 0) + 1
        self.ingest.screen_seen(h.id, device, self._now_ms())
        self._queue(self.ingest.take_ops(), [])
        if not self.server.owns(h.id) and self.server.channels is not None:
            self.server.channels.publish(f"{h.id}|{device}".encode(), presence_channel(h.id))  # the owner: now
        return key

    def screen_disconnected(self, key: tuple[str, str]) -> None:
        n = self._screens.get(key, 0) - 1
        if n > 0:
            self._screens[key] = n
        else:
            self._screens.pop(key, None)
            self.ingest.screen_seen(key[0], key[1], self._now_ms())  # dark from now on, after the limit

    # -- lockers -----------------------------------------------------------------------------------
    def _expects_open(self, hall: str, device: str, slot: Any) -> bool:
        return isinstance(slot, int) and (hall, device, slot) in self._expected

    def _on_door(self, twin: Twin, type_: str, detail: dict[str, Any], now: int) -> None:
        slot = detail.get("slot")
        if not isinstance(slot, int):
            return
        occupied = detail.get("occupied") if isinstance(detail.get("occupied"), bool) else None
        if type_ == "door_opened":
            self._expected.pop((twin.hall, twin.device, slot), None)
            if (twin.hall, twin.device) in self._jammed:
                self._jammed.discard((twin.hall, twin.device))
                self.ingest.ops.append((twin.hall, _clear_jam_op, (twin.device,)))
        self.ingest.ops.append((twin.hall, _door_op, (twin.device, type_, slot, occupied, self)))

    def _on_locker_report(self, twin: Twin, slots: list[Any], ts: int, now: int) -> None:
        key = (twin.hall, twin.device)
        if key in self._reconciled:
            return
        if ts < self._started_ms:
            # Stamped before this process started: a report the broker kept for us while the server
            # was away (some brokers queue QoS 0 for a persistent session). The doors may have changed
            # since; the next report is the locker as it is now.
            return
        self._reconciled.add(key)
        reported = {s["slot"]: bool(s.get("occupied")) for s in slots
                    if isinstance(s, dict) and isinstance(s.get("slot"), int)}
        self.ingest.ops.append((twin.hall, _reconcile_op, (twin.device, reported)))

    def _locker_tick(self) -> None:
        """open_door commands whose door never reported open in time: the door is jammed."""
        now = self._now_ms()
        for key, (deadline, purpose) in list(self._expected.items()):
            if now < deadline:
                continue
            del self._expected[key]
            hall, device, slot = key
            self._jammed.add((hall, device))
            self.ingest.ops.append((hall, _jam_op, (device, slot, purpose, self)))

    async def deposit(self, h: HallRuntime, device: str, item: str, actor: str,
                      holder_hash: str | None) -> dict[str, Any]:
        """Reserve a slot and open its door for the item; the code is valid once the door closes on it."""
        twin = self.twin(h, device)
        if twin.kind != "locker":
            raise NotFound(f"「{device}」不是智能柜", f"{device!r} is not a locker", code="unknown_locker")
        self._require_online(twin)
        res = await self.server.db.write(lockers.start_deposit, h, h.now(), device, item, actor, holder_hash)
        cmd = await self.command(h, device, "open_door", {"slot": res["slot"]}, actor,
                                 purpose=f"deposit:{res['deposit']}")
        if cmd["state"] == "pending":  # could not be sent: give the slot back at once
            await self.server.db.write(lockers.deposit_failed, h, h.now(), res["deposit"], "not_sent")
            raise _offline(device)
        return {**res, "command": cmd["id"], "command_state": cmd["state"]}

    def _require_online(self, twin: Twin) -> None:
        if not twin.conn.online or self.link is None or not self.link.connected.is_set():
            raise _offline(twin.device)

    async def pickup(self, h: HallRuntime, code: str, source: str) -> dict[str, Any]:
        """Check the code, open the door, and answer once the locker confirms it open."""
        if source.startswith("device:"):
            t = self.twin(h, source[7:])
            if t.kind == "locker":
                self._require_online(t)
        res = await self.server.db.write(lockers.start_pickup, h, h.now(), code, source)
        if res.get("error") == "locked_out":
            raise lockers.LockedOut(f"取件码输错次数过多，请{-(-res['retry_after_s'] // 60)}分钟后再试",
                                    f"too many wrong codes; try again in {res['retry_after_s']} s",
                                    extra={"retry_after_s": res["retry_after_s"]})
        if res.get("error") == "bad_code":
            raise NotFound(f"取件码无效，还可尝试{res['tries_left']}次",
                           f"no item for this code; {res['tries_left']} tries left", code="bad_code",
                           extra={"tries_left": res["tries_left"]})
        fut = self._wait_deposit(res["deposit"])
        await self.command(h, res["device"], "open_door", {"slot": res["slot"]}, None,
                           purpose=f"pickup:{res['deposit']}")
        try:
            outcome = await asyncio.wait_for(fut, h.cfg.iot.locker.door_confirm_s + 2)
        except TimeoutError:
            outcome = "no_confirmation"
            self._waiters.pop(f"deposit:{res['deposit']}", None)  # nobody waits for it any more
        if outcome != "picked_up":
            # the code stays valid (a no-op if the jam handling already gave the deposit back)
            await self.server.db.write(lockers.pickup_failed, h, h.now(), res["deposit"], outcome)
            raise lockers.DoorJammed("柜门未能打开，已通知工作人员，取件码仍然有效",
                                     "the door did not open; staff have been told and the code still works",
                                     extra={"device": res["device"], "slot": res["slot"]})
        place = self.ingest.twins.get((h.id, res["device"]))
        return {"device": res["device"], "slot": res["slot"], "status": "opened",
                "location": place.location.split(" / ")[0] if place is not None else ""}

    def _wait_deposit(self, dep_id: str) -> asyncio.Future:
        assert self.loop is not None
        fut = self.loop.create_future()
        self._waiters.setdefault(f"deposit:{dep_id}", []).append(fut)
        return fut

    def settle_deposit(self, dep_id: str, outcome: str) -> None:
        for fut in self._waiters.pop(f"deposit:{dep_id}", []):
            if not fut.done():
                fut.set_result(outcome)

    async def sweep_commands(self) -> None:
        for h in self.server.owned():
            await self.server.db.write(commands.sweep, h, h.now())

    # -- views ------------------------------------------------------------------------------------
    def device_view(self, h: HallRuntime, t: Twin, active: list[dict[str, Any]]) -> dict[str, Any]:
        c = t.conn
        return {
            "device": t.device, "kind": t.kind, "location": t.location, "window": t.window, "online": c.online,
            "boot": c.boot, "fw": t.fw, "last_seen": h.iso(c.last_seen_ms), "since": h.iso(c.since_ms),
            "offline_reason": None if c.online else c.reason, "metrics": t.metrics,
            "clock_skew_s": None if t.skew_ms is None else round(t.skew_ms / 1000, 1), "clock_skewed": t.skewed,
            "active_alarms": active,
        }

    def devices(self, h: HallRuntime, active: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
        ts = sorted((t for t in self.ingest.twins.values() if t.hall == h.id), key=lambda t: t.device)
        return [self.device_view(h, t, active.get(t.device, [])) for t in ts]

    def device_detail(self, h: HallRuntime, device: str, active: list[dict[str, Any]]) -> dict[str, Any]:
        t = self.twin(h, device)
        return {
            **self.device_view(h, t, active),
            "history": [{"at": h.iso(at), "metrics": m} for at, m in t.history],
            "recent_messages": [{"at": h.iso(at), "kind": k, "summary": s} for at, k, s in t.recent],
            "connectivity": [{"at": h.iso(at), "change": ch, "reason": r} for at, ch, r in t.conn_log],
            "messages": t.messages,
        }


def _mqtt_down_op(tx: Tx, h: HallRuntime, server: str, detail: dict[str, Any] | None) -> None:
    """Raise (``detail``) or clear (None) the hall's ``mqtt_down`` alarm, subject the server's client id."""
    from hall import alarms

    if detail is not None:
        alarms.raise_alarm(tx, h, h.now(), "hall", server, "mqtt_down", "major", detail)
    else:
        alarms.clear_alarm(tx, h, h.now(), "hall", server, "mqtt_down")


def _offline(device: str) -> Unavailable:
    return Unavailable(f"智能柜「{device}」离线，暂不能开门，请联系工作人员",
                       f"the locker {device!r} is offline; no door can open now", code="locker_offline")


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], *args: Any) -> None:
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(fn, *args)


def _ack_op(tx: Tx, h: HallRuntime, device: str, cmd_id: str, status: str, detail: dict[str, Any]) -> None:
    commands.on_ack(tx, h, h.now(), device, cmd_id, status, detail)


def _prepare_op(tx: Tx, halls: list[HallRuntime], now_ms: int, me: str) -> None:
    """At start-up, in one transaction: the hall files' devices and locker slots registered, and
    the commands the last run left in flight marked ``unknown`` (not those of a hall another live
    process owns: they are its commands, in flight now)."""
    from hall.leases import owners

    repo.ensure_config_devices(tx, halls, now_ms)
    others = {h for h, (node, _addr) in owners(tx.conn, int(time.time() * 1000)).items() if node != me}
    for h in halls:
        lockers.ensure_slots(tx, h, now_ms)
        if h.id not in others:
            commands.at_start(tx, h, h.now())


def _takeover_op(tx: Tx, halls: list[HallRuntime]) -> None:
    """Halls taken over from another process: its commands in flight have an unknown outcome."""
    for h in halls:
        commands.at_start(tx, h, h.now())


def _register_op(tx: Tx, h: HallRuntime, device: str, kind: str, location: str | None, window: str | None,
                 slots: int, actor: str, now_ms: int, register: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    tx.lock_hall(h.id)
    res = register(tx, h.id, device, kind, location, window, now_ms, slots)
    tx.emit(h.id, "device.registered", h.now(), {"device": device, "kind": kind, "location": location,
                                                  "window": window, "by": actor, "created": res["created"]})
    from hall import audit  # the registration and its audit row: one transaction

    audit.record(tx, h.id, now_ms, actor, "device.register", device, kind=kind, window=window, slots=slots,
                 created=res["created"])
    return res


def _door_op(tx: Tx, h: HallRuntime, device: str, type_: str, slot: int, occupied: bool | None,
             svc: IotService) -> None:
    res = lockers.on_door(tx, h, h.now(), device, type_, slot, occupied)
    if res is not None and svc.loop is not None:
        tx.after_commit(lambda: _call_soon(svc.loop, svc.settle_deposit, res["deposit"], res["state"]))


def _jam_op(tx: Tx, h: HallRuntime, device: str, slot: int, purpose: str | None, svc: IotService) -> None:
    lockers.raise_jam(tx, h, h.now(), device, slot)
    kind, _, dep_id = (purpose or "").partition(":")
    if kind == "pickup":
        lockers.pickup_failed(tx, h, h.now(), dep_id, "door_jam")
    elif kind == "deposit":
        lockers.deposit_failed(tx, h, h.now(), dep_id, "door_jam")
    if dep_id and svc.loop is not None:
        tx.after_commit(lambda: _call_soon(svc.loop, svc.settle_deposit, dep_id, "jammed"))


def _clear_jam_op(tx: Tx, h: HallRuntime, device: str) -> None:
    lockers.clear_jam(tx, h, h.now(), device)


def _reconcile_op(tx: Tx, h: HallRuntime, device: str, reported: dict[int, bool]) -> None:
    lockers.reconcile(tx, h, h.now(), device, reported)


def _apply(tx: Tx, ops: list[Op], halls: dict[str, HallRuntime]) -> None:
    """Run a batch of ingestion operations in order, each in its own savepoint: one that fails is
    logged and rolled back alone (with the events it appended), the others are stored."""
    for hall in sorted({hall for hall, _, _ in ops}):
        tx.lock_hall(hall)
    conn = tx.conn
    for hall, fn, args in ops:
        mark, marked_cb = len(tx.events), len(tx.callbacks)
        conn.exec_driver_sql("SAVEPOINT iot_op")
        try:
            fn(tx, halls[hall], *args)
            conn.exec_driver_sql("RELEASE SAVEPOINT iot_op")
        except Exception:
            conn.exec_driver_sql("ROLLBACK TO SAVEPOINT iot_op")
            conn.exec_driver_sql("RELEASE SAVEPOINT iot_op")
            del tx.events[mark:]
            del tx.callbacks[marked_cb:]
            log.exception("iot: operation %s failed for hall %s", getattr(fn, "__name__", fn), hall)
