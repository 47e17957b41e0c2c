"""Ingestion: device messages in, twins and alarm signals out (runs on the event loop).

``Ingest.process`` takes a batch of messages from the MQTT link, sorts each by topic, checks it
comes from a registered device of a known hall, decodes it strictly, and updates that device's
twin: connectivity, metrics, clock skew, the alarm rules. It does no I/O itself: what must be
stored (connectivity changes, alarms, device and locker events, rejected-message reports) is
returned as *operations*, which the IoT service writes in order, one transaction per batch.
Malformed input is counted and reported, never a crash.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hall import alarms
from hall.db.database import Tx
from hall.iot import repo, rules, twins
from hall.iot.client import Message
from hall.iot.payloads import Ack, Event, Rejected, Status, Telemetry, decode
from hall.iot.topics import Kind, Topic, classify, valid_device_id
from hall.runtime import HallRuntime

if TYPE_CHECKING:
    from hall.metrics import Metrics

log = logging.getLogger(__name__)

Op = tuple[str, Callable[..., Any], tuple[Any, ...]]  # (hall, fn(tx, h, *args), args)
HISTORY_EVERY_MS = 10_000
TOPIC_CACHE = 20_000  # topics remembered: 4 per device for 5,000 devices; anything past clears it
PRIVATE_EVENTS = frozenset({"scan"})  # what a scanner read is personal: never stored or streamed
CALLER_BUTTONS = ("call_next", "recall", "no_show", "start", "finish")  # a window caller pad's keys


@dataclass(slots=True)
class Twin:
    hall: str
    device: str
    kind: str
    location: str = ""
    window: str | None = None
    conn: twins.Conn = field(default_factory=twins.Conn)
    state: rules.DeviceState | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    fw: str | None = None
    skew_ms: int | None = None
    skewed: bool = False
    dirty: bool = False
    last_seq: int = -1
    event_seqs: deque[int] = field(default_factory=lambda: deque(maxlen=64))
    history: deque[tuple[int, dict[str, Any]]] = field(default_factory=lambda: deque(maxlen=60))
    recent: deque[tuple[int, str, str]] = field(default_factory=lambda: deque(maxlen=20))
    conn_log: deque[tuple[int, str, str | None]] = field(default_factory=lambda: deque(maxlen=20))
    messages: int = 0


@dataclass(slots=True)
class _Report:
    count: int = 0
    last_ms: int = -(10**15)
    reasons: dict[str, int] = field(default_factory=dict)


class Ingest:
    def __init__(self, halls: dict[str, HallRuntime], metrics: Metrics) -> None:
        self.halls = halls
        self.metrics = metrics
        self.twins: dict[tuple[str, str], Twin] = {}
        self.ops: list[Op] = []
        self._reports: dict[tuple[str, str], _Report] = {}
        self._topics: dict[str, Topic] = {}  # classify's answers (pure), bounded by TOPIC_CACHE
        self._conn_rules = {hid: _conn_rules(h) for hid, h in halls.items()}
        # hooks the IoT service sets: a door_opened we expect (a command of ours), door and ack events
        self.expects_open: Callable[[str, str, Any], bool] = lambda hall, device, slot: False
        self.on_door: Callable[[Twin, str, dict[str, Any], int], None] = lambda twin, type_, detail, now: None
        self.on_ack: Callable[[Twin, Ack, int], None] = lambda twin, ack, now: None
        self.on_locker_report: Callable[[Twin, list[Any], int, int], None] = lambda twin, slots, ts, now: None
        self.lookup: Callable[[str, str], Any | None] = lambda hall, device: None
        self.accepted = 0
        self.rejected = 0
        self.active: set[str] | None = None  # halls whose time-based rules run here (None: every hall)
        # Since when the server hears the devices (its MQTT link up, ms); None: the link is down.
        # Silence and last wills are judged only a full heartbeat window after it (tick).
        self.heard_from_ms: int | None = 0

    # -- registry ---------------------------------------------------------------------------
    def load(self, rows: list[Any], now_ms: int) -> None:
        """Twins from the device table. A device believed online gets one full heartbeat window
        from now before silence counts against it (the server itself was away)."""
        for r in rows:
            self.add(r, now_ms)

    def add(self, r: Any, now_ms: int) -> Twin | None:
        h = self.halls.get(r.hall_id)
        if h is None:
            return None
        t = Twin(r.hall_id, r.device, r.kind, r.location or "", r.window, fw=r.fw, skew_ms=r.skew_ms,
                 metrics=repo.decode_metrics(r.metrics))
        t.conn = twins.Conn(online=bool(r.online), boot=r.boot, last_seen_ms=now_ms if r.online else r.last_seen_ms,
                            since_ms=r.conn_since_ms, reason=None if r.online else "never_seen")
        t.state = rules.new_state(r.kind, h.cfg.iot)
        if r.kind == "screen":
            t.state.screen_seen_ms = now_ms  # a registered screen has screen_dark_s to connect
        if not r.online and r.boot is not None:
            t.state.level.add("offline")  # its offline alarm, if any, is already stored
        self.twins[(r.hall_id, r.device)] = t
        return t

    # -- messages ---------------------------------------------------------------------------
    def process(self, msgs: list[Message]) -> list[int]:
        """Handle a batch; returns the QoS 1 message ids to acknowledge once ``ops`` are stored."""
        acks: list[int] = []
        for m in msgs:
            if m.qos:
                acks.append(m.mid)
            try:
                self._one(m)
            except Rejected as r:
                self._reject(m, r.reason, r.detail)
            except Exception:  # a bug must not stop ingestion: count it, log it, go on
                log.exception("ingest: unexpected error on %s", m.topic[:120])
                self._reject(m, "error", "")
        return acks

    def _one(self, m: Message) -> None:
        t = self._topics.get(m.topic)
        if t is None:  # each device sends on a handful of topics: sort each once
            if len(self._topics) >= TOPIC_CACHE:
                self._topics.clear()
            t = self._topics[m.topic] = classify(m.topic)
        if t.kind is Kind.OWN:
            return
        if t.kind is Kind.BAD:
            raise Rejected("topic", m.topic[:120])
        twin = self.twins.get((t.hall, t.device))
        if twin is None:
            twin = self._late_registration(t.hall, t.device, m.recv_ms)
            if twin is None:
                raise Rejected("unknown_device" if t.hall in self.halls else "unknown_hall", t.device)
        h = self.halls[twin.hall]
        body = decode(t.kind.value, m.payload, h.cfg.iot.max_payload_bytes)
        twin.messages += 1
        self.accepted += 1
        now = m.recv_ms
        if t.kind is Kind.TELEMETRY:
            self._telemetry(h, twin, body, now)
        elif t.kind is Kind.EVENT:
            self._event(h, twin, body, now)
        elif t.kind is Kind.STATUS:
            self._status(h, twin, body, now)
        else:
            self._conn(h, twin, twins.on_message(twin.conn, now, self._conn_rules[h.id]))
            twin.recent.append((now, "cmd/ack", f"{body.id[:8]} {body.status}"))
            self.on_ack(twin, body, now)

    def _late_registration(self, hall: str, device: str, now: int) -> Twin | None:
        """A device registered after start-up (``hall device add`` in another process)."""
        if hall not in self.halls or not valid_device_id(device):
            return None
        if len(self._reports) > 10_000:  # bounded whatever ids arrive
            self._reports.clear()
        rep = self._reports.setdefault((hall, f"lookup:{device}"), _Report())
        if now - rep.last_ms < 5000:
            return None
        rep.last_ms = now
        row = self.lookup(hall, device)
        return self.add(row, now) if row is not None else None

    def _status(self, h: HallRuntime, twin: Twin, st: Status, now: int) -> None:
        if st.fw and st.fw != twin.fw:
            twin.fw, twin.dirty = st.fw, True
        twin.recent.append((now, "status", f"{st.state} boot={st.boot}"))
        step = twins.on_status(twin.conn, st.state == "online", st.boot, now, self._conn_rules[h.id])
        if step.stale:
            self.metrics.inc("hall_mqtt_stale_total", kind="status")
        if step.change is twins.Change.REBOOTED:
            twin.last_seq = -1
            twin.event_seqs.clear()
        self._conn(h, twin, step)

    def _telemetry(self, h: HallRuntime, twin: Twin, tm: Telemetry, now: int) -> None:
        twin.last_seq = max(twin.last_seq, tm.seq)
        twin.metrics = tm.metrics
        twin.dirty = True
        self._skew(h, twin, tm.ts, now)
        if not twin.history or now - twin.history[-1][0] >= HISTORY_EVERY_MS:
            twin.history.append((now, tm.metrics))
        self._conn(h, twin, twins.on_message(twin.conn, now, self._conn_rules[h.id]))
        assert twin.state is not None
        self._signals(h, twin, rules.on_telemetry(twin.state, tm.metrics, now, h.cfg.iot))
        if twin.kind == "locker" and isinstance(tm.metrics.get("slots"), list):
            self.on_locker_report(twin, tm.metrics["slots"], tm.ts, now)

    def _event(self, h: HallRuntime, twin: Twin, ev: Event, now: int) -> None:
        if ev.seq in twin.event_seqs:
            self.metrics.inc("hall_mqtt_duplicates_total")
            return  # a QoS 1 redelivery of an event already handled
        twin.event_seqs.append(ev.seq)
        twin.last_seq = max(twin.last_seq, ev.seq)
        self._skew(h, twin, ev.ts, now)
        self._conn(h, twin, twins.on_message(twin.conn, now, self._conn_rules[h.id]))
        twin.recent.append((now, "event", ev.type))
        if ev.type in PRIVATE_EVENTS:
            return
        detail = ev.detail
        expected = False
        if twin.kind == "caller" and ev.type in CALLER_BUTTONS:
            if twin.window:
                self.ops.append((h.id, _caller_button, (twin.device, twin.window, ev.type)))
            return
        if ev.type in ("door_opened", "door_closed"):
            expected = ev.type == "door_opened" and self.expects_open(twin.hall, twin.device, detail.get("slot"))
            self.on_door(twin, ev.type, detail, now)
        else:
            self.ops.append((h.id, _store_event, (twin.device, twin.kind, ev.type, detail)))
        assert twin.state is not None
        self._signals(h, twin, rules.on_event(twin.state, ev.type, detail, now, h.cfg.iot, expected_open=expected))

    def _skew(self, h: HallRuntime, twin: Twin, ts: int, now: int) -> None:
        skew = ts - now
        twin.skew_ms = skew
        limit = int(h.cfg.iot.skew_limit_s * 1000)
        if not twin.skewed and abs(skew) > limit:
            twin.skewed = True
            self.ops.append((h.id, _raise, (twin.device, "clock_skew", {"skew_s": round(skew / 1000, 1)})))
        elif twin.skewed and abs(skew) <= limit // 2:
            twin.skewed = False
            self.ops.append((h.id, _clear, (twin.device, "clock_skew")))

    def _conn(self, h: HallRuntime, twin: Twin, step: twins.Step) -> None:
        twin.conn = step.conn
        if step.change is None:
            return
        c = step.conn
        twin.conn_log.append((c.since_ms or c.last_seen_ms or 0, step.change.value, c.reason))
        values = {"online": c.online, "boot": c.boot, "conn_since_ms": c.since_ms, "last_seen_ms": c.last_seen_ms}
        self.ops.append((h.id, _connectivity, (twin.device, step.change.value, values, c.reason)))
        if step.change is not twins.Change.REBOOTED:
            assert twin.state is not None
            self._signals(h, twin, rules.on_connectivity(twin.state, c.online, c.reason))

    def _signals(self, h: HallRuntime, twin: Twin, signals: list[rules.Signal]) -> None:
        for s in signals:
            if s.raise_:
                self.ops.append((h.id, _raise, (twin.device, s.type, s.detail)))
            else:
                self.ops.append((h.id, _clear, (twin.device, s.type)))

    # -- time ---------------------------------------------------------------------------------
    def tick(self, now: int) -> None:
        active = self.active
        for twin in self.twins.values():
            if active is not None and twin.hall not in active:
                continue  # another server process hears this hall's devices (hall.leases)
            h = self.halls[twin.hall]
            conn_rules = self._conn_rules[h.id]
            heard = self.heard_from_ms
            if heard is not None and now - heard >= conn_rules.silence_ms:  # else we could not have heard it
                self._conn(h, twin, twins.tick(twin.conn, now, conn_rules))
            if twin.state is not None:
                self._signals(h, twin, rules.on_tick(twin.state, now, h.cfg.iot))

    def silence_ms(self, hall: str) -> int:
        """How long a device of this hall may be silent before it is offline."""
        return self._conn_rules[hall].silence_ms

    def screen_seen(self, hall: str, device: str, now: int) -> None:
        twin = self.twins.get((hall, device))
        if twin is not None and twin.state is not None:
            self._signals(self.halls[hall], twin, rules.on_screen_seen(twin.state, now))

    def dirty_rows(self) -> list[dict[str, Any]]:
        out = []
        for t in self.twins.values():
            if t.dirty:
                t.dirty = False
                out.append({"h": t.hall, "d": t.device, "m": repo.encode_metrics(t.metrics),
                            "seen": t.conn.last_seen_ms, "skew": t.skew_ms, "fw": t.fw})
        return out

    def take_ops(self) -> list[Op]:
        ops, self.ops = self.ops, []
        return ops

    # -- rejected messages ----------------------------------------------------------------------
    def _reject(self, m: Message, reason: str, detail: str) -> None:
        self.rejected += 1
        self.metrics.inc("hall_mqtt_rejected_total", reason=reason)
        t = classify(m.topic)
        hall = t.hall if t.hall in self.halls else None
        if hall is None:
            return  # not about any hall of ours: counted, nothing to report to
        subject = t.device if valid_device_id(t.device) else "mqtt"
        rep = self._reports.setdefault((hall, subject), _Report())
        rep.count += 1
        rep.reasons[reason] = rep.reasons.get(reason, 0) + 1
        every = self.halls[hall].cfg.iot.report_every_s * 1000
        if m.recv_ms - rep.last_ms < every:
            return
        data = {"device": subject if subject != "mqtt" else None, "reason": reason, "count": rep.count,
                "reasons": dict(rep.reasons), "topic": m.topic[:120]}
        rep.last_ms, rep.count, rep.reasons = m.recv_ms, 0, {}
        self.ops.append((hall, _report_rejected, (subject, data)))


def _conn_rules(h: HallRuntime) -> twins.ConnRules:
    c = h.cfg.iot
    return twins.ConnRules(heartbeat_ms=int(c.heartbeat_s * 1000), offline_after_missed=c.offline_after_missed,
                           online_after_good=c.online_after_good, reboot_grace_ms=int(c.reboot_grace_s * 1000))


# -- operations: run by the IoT service in one transaction per batch (fn(tx, h, *args)) ----------
def _connectivity(tx: Tx, h: HallRuntime, device: str, change: str, values: dict[str, Any],
                  reason: str | None) -> None:
    repo.write_connectivity(tx, h.id, device, values)
    data = {"device": device, "online": values["online"], "boot": values["boot"], "reason": reason}
    tx.emit(h.id, f"device.{change}", h.now(), data)


def _raise(tx: Tx, h: HallRuntime, device: str, type_: str, detail: dict[str, Any]) -> None:
    text = rules.TEXT.get(type_, type_)
    alarms.raise_alarm(tx, h, h.now(), "device", device, type_, rules.severity(type_, h.cfg.iot),
                       {**detail, "text": f"{device} {text}"})


def _clear(tx: Tx, h: HallRuntime, device: str, type_: str) -> None:
    alarms.clear_alarm(tx, h, h.now(), "device", device, type_)


def _store_event(tx: Tx, h: HallRuntime, device: str, kind: str, type_: str, detail: dict[str, Any]) -> None:
    tx.emit(h.id, "device.event", h.now(), {"device": device, "kind": kind, "type": type_, "detail": detail})


def _caller_button(tx: Tx, h: HallRuntime, device: str, window: str, button: str) -> None:
    """A caller pad's key acts on its window as the clerk signed in there would (nobody there: refused)."""
    from hall.errors import HallError
    from hall.queue import calling

    fn = {"call_next": calling.call_next, "recall": calling.recall, "no_show": calling.no_show,
          "start": calling.start, "finish": calling.finish}[button]
    mark = len(tx.events)
    tx.conn.exec_driver_sql("SAVEPOINT caller")
    try:
        result = fn(tx, h, window, None)
        tx.conn.exec_driver_sql("RELEASE SAVEPOINT caller")
        outcome = "ok" if result is not None else "nobody_waiting"
    except HallError as e:
        tx.conn.exec_driver_sql("ROLLBACK TO SAVEPOINT caller")
        tx.conn.exec_driver_sql("RELEASE SAVEPOINT caller")
        del tx.events[mark:]
        outcome = e.code
    tx.emit(h.id, "device.event", h.now(), {"device": device, "kind": "caller", "type": button,
                                             "detail": {"window": window, "outcome": outcome}})


def _report_rejected(tx: Tx, h: HallRuntime, subject: str, data: dict[str, Any]) -> None:
    tx.emit(h.id, "device.rejected", h.now(), data)
    source_detail = {"count": data["count"], "reasons": data["reasons"], "text": f"{subject} 设备消息异常（已丢弃）"}
    alarms.raise_alarm(tx, h, h.now(), "device", subject, "mqtt_rejected", rules.severity("mqtt_rejected", h.cfg.iot),
                       source_detail)
