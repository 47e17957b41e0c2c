"""The simulated device's base: one MQTT client that follows CONTRACT.md ("MQTT"), and fault injection.

A :class:`SimDevice` is what a kiosk, printer, locker, screen, sensor or caller pad has in common:

- it connects with its last will set to the retained ``status`` ``{"state": "offline", "boot": B, ...}``
  and, once connected, publishes the retained ``online`` status with the same ``boot``;
- ``boot`` is new (and strictly larger) at every start; ``seq`` counts up within a boot across
  telemetry and events;
- telemetry (QoS 0) at least every ``heartbeat_s``; events and command acks at QoS 1;
- commands arrive on ``.../cmd``; each id is executed at most once (a repeated id is answered with
  the earlier outcome), expired commands are ``rejected`` with ``{"reason": "expired"}``.

The device speaks only MQTT JSON (it imports nothing from the server). Work never happens in a paho
callback: the callbacks hand messages to the device's own worker thread, which runs commands and
timers (heartbeat, a locker door closing by itself, ...). Public methods may be called from any
thread.

Fault injection: :meth:`SimDevice.cut_network` (the TCP connection goes silent or is reset, without
an MQTT DISCONNECT, so the broker publishes the last will), :meth:`SimDevice.reboot`,
:meth:`SimDevice.set_clock_skew`, :meth:`SimDevice.send_malformed`, :meth:`SimDevice.fault` and
:meth:`SimDevice.clear_fault`, :meth:`SimDevice.tamper`.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import logging
import queue
import socket
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt

log = logging.getLogger("firmware_sim")

MALFORMED_KINDS = ("invalid_json", "wrong_schema", "oversized", "other_leaf", "other_device")
_SEEN_COMMANDS_KEPT = 1000


def real_now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class BrokerAddress:
    """Where the broker listens, and the credentials in its URL (``mqtt://user:pass@host:port``)."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        if "://" not in url:
            url = "mqtt://" + url
        u = urlsplit(url)
        if u.scheme not in ("mqtt", "tcp"):
            raise ValueError(f"unsupported broker URL scheme {u.scheme!r} (use mqtt://host:port)")
        return cls(
            host=u.hostname or "127.0.0.1",
            port=u.port or 1883,
            username=unquote(u.username) if u.username else None,
            password=unquote(u.password) if u.password else None,
        )


class _Timer:
    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class _Worker:
    """The device's own thread: runs queued calls in order and timers when due."""

    def __init__(self, name: str) -> None:
        self._queue: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = queue.Queue()
        self._timers: list[tuple[float, int, _Timer, Callable[..., Any], tuple[Any, ...]]] = []
        self._order = itertools.count()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._stopping = False

    def start(self) -> None:
        self._thread.start()

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        self._queue.put((fn, args))

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> _Timer:
        timer = _Timer()
        due = time.monotonic() + max(0.0, delay)
        self._queue.put((self._add_timer, (due, timer, fn, args)))
        return timer

    def _add_timer(self, due: float, timer: _Timer, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        heapq.heappush(self._timers, (due, next(self._order), timer, fn, args))

    def in_worker(self) -> bool:
        return threading.current_thread() is self._thread

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping = True
        self._queue.put(None)
        if self._thread.is_alive() and not self.in_worker():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping:
            timeout = None
            if self._timers:
                timeout = max(0.0, self._timers[0][0] - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = ()
            if item is None:
                break
            if item:
                self._safe(*item)
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now and not self._stopping:
                _, _, timer, fn, args = heapq.heappop(self._timers)
                if not timer.cancelled:
                    self._safe(fn, args)

    @staticmethod
    def _safe(fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            fn(*args)
        except Exception:  # a bug in one step must not kill the device
            log.exception("device worker step %s failed", getattr(fn, "__name__", fn))


@dataclass
class DeviceStats:
    """What a device sent and received since it was created (across boots)."""

    telemetry: int = 0
    events: int = 0
    acks: int = 0
    commands: int = 0
    malformed: int = 0
    dropped: int = 0  # messages not sent because the network was cut or the device stopped
    connects: int = 0
    boots: int = 0


class SimDevice:
    """A simulated device on the hall floor. Subclasses set ``kind``, add metrics and commands.

    ``broker`` is a :class:`BrokerAddress` or a URL; ``username``/``password`` override the URL's.
    ``now_ms`` is the device's clock (default: real time); :meth:`set_clock_skew` shifts it.
    ``heartbeat_s`` is the longest gap between telemetry messages; ``keepalive`` is the MQTT keepalive
    (the broker publishes the last will about 1.5 × keepalive after the network goes silent).
    """

    kind: ClassVar[str] = "device"
    #: command name -> method name; subclasses extend it.
    commands: ClassVar[dict[str, str]] = {"reboot": "_cmd_reboot"}

    def __init__(
        self,
        device_id: str,
        hall: str,
        broker: BrokerAddress | str = BrokerAddress(),
        *,
        username: str | None = None,
        password: str | None = None,
        fw: str = "1.0.0",
        heartbeat_s: float = 30.0,
        keepalive: int = 30,
        now_ms: Callable[[], int] | None = None,
        location: str = "",
        window: str | None = None,
        reconnect_delay: tuple[float, float] = (0.2, 5.0),
    ) -> None:
        self.device_id = device_id
        self.hall = hall
        self.broker = BrokerAddress.parse(broker) if isinstance(broker, str) else broker
        self.username = username if username is not None else self.broker.username
        self.password = password if password is not None else self.broker.password
        self.fw = fw
        self.heartbeat_s = heartbeat_s
        self.keepalive = int(keepalive)
        self.location = location
        self.window = window
        self.reconnect_delay = reconnect_delay
        self._now_ms = now_ms or real_now_ms
        self._skew_ms = 0
        self.stats = DeviceStats()
        self.boot = 0
        self._seq = 0
        self._seq_lock = threading.Lock()
        # Held while publishing and while the network is cut, so nothing is written to a socket
        # that is meant to be silent.
        self._pub_lock = threading.Lock()
        self._conn_lock = threading.RLock()
        self._client: mqtt.Client | None = None
        self._net_up = False
        self._running = False
        self._connected = threading.Event()
        # Clients whose socket a silent network cut left open. The client object is kept too: paho
        # closes its socket when the client is garbage-collected, which would end the silence.
        self._orphans: list[tuple[mqtt.Client, socket.socket]] = []
        self._worker: _Worker | None = None
        self._heartbeat_timer: _Timer | None = None
        self._last_telemetry = 0.0
        self._outcomes: OrderedDict[str, tuple[str, dict[str, Any]]] = OrderedDict()
        self.faults: dict[str, dict[str, Any]] = {}  # active faults by code
        self.prefix = f"hall/{hall}/device/{device_id}/"

    # ----------------------------------------------------------------------------- topics and clock

    def topic(self, leaf: str) -> str:
        return self.prefix + leaf

    def now_ms(self) -> int:
        """The device's own clock: the injected clock plus the skew."""
        return int(self._now_ms()) + self._skew_ms

    def set_clock_skew(self, seconds: float) -> None:
        """The device clock runs ``seconds`` ahead (negative: behind) of the true clock."""
        self._skew_ms = int(seconds * 1000)

    @property
    def seq(self) -> int:
        return self._seq

    def _next_seq(self) -> int:
        with self._seq_lock:
            self._seq += 1
            return self._seq

    def _new_boot(self) -> int:
        # The true wall clock in ms (never the skewed one), and always above the previous boot.
        return max(real_now_ms(), self.boot + 1)

    def status_payload(self, state: str) -> dict[str, Any]:
        return {"state": state, "boot": self.boot, "kind": self.kind, "fw": self.fw}

    # ----------------------------------------------------------------------------- lifecycle

    @property
    def online(self) -> bool:
        """Connected to the broker, subscribed to its commands, and the network not cut."""
        return self._connected.is_set() and self._net_up

    def wait_connected(self, timeout: float = 10.0) -> bool:
        """Wait until connected and subscribed to its commands (so a command sent now is received)."""
        return self._connected.wait(timeout)

    def start(self) -> SimDevice:
        """Power on: a new boot, then connect (asynchronously; see :meth:`wait_connected`)."""
        with self._conn_lock:
            if self._running:
                return self
            self._running = True
            if self._worker is None:
                self._worker = _Worker(f"sim-{self.device_id}")
                self._worker.start()
            self.boot = self._new_boot()
            with self._seq_lock:
                self._seq = 0
            self.stats.boots += 1
            self.on_boot()
            self._connect()
            self._schedule_heartbeat(self.heartbeat_s)
        return self

    def stop(self, clean: bool = True) -> None:
        """Power off. ``clean``: announce ``offline`` (retained) and send DISCONNECT, so no last will
        follows; otherwise the connection is dropped and the broker publishes the last will."""
        with self._conn_lock:
            if self._running:
                self._running = False
                self._disconnect(clean)
            self._close_orphans()
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop()

    def reboot(self, clean: bool = True, down_s: float = 0.0) -> int:
        """Restart with a new boot id (returned). ``clean=False`` is a power cut: no DISCONNECT."""
        with self._conn_lock:
            if self._worker is None:  # was stopped: rebooting is just powering on
                return self.start().boot
            if self._running:
                self._disconnect(clean)
            self._close_orphans()
            if down_s > 0:
                time.sleep(down_s)
            self.boot = self._new_boot()
            with self._seq_lock:
                self._seq = 0
            self.stats.boots += 1
            self._running = True
            self.on_boot()
            self._connect()
            self._schedule_heartbeat(self.heartbeat_s)
            return self.boot

    def cut_network(self, mode: str = "silent") -> None:
        """The network goes away without an MQTT DISCONNECT.

        ``silent`` (a pulled cable): the TCP connection stays open but nothing more is sent, so the
        broker publishes the last will after about 1.5 × keepalive. ``reset``: the connection is
        reset at once (RST), and the broker publishes the last will immediately. The device keeps
        running (same boot, seq goes on); what it would send meanwhile is dropped.
        """
        if mode not in ("silent", "reset"):
            raise ValueError("mode is 'silent' or 'reset'")
        with self._conn_lock:
            client = self._client
            with self._pub_lock:
                self._net_up = False
            self._client = None
            self._connected.clear()
            if client is None:
                return
            # Stop paho's network thread without DISCONNECT; it also stops sending PINGREQ.
            client.loop_stop()
            sock = client.socket()
            if isinstance(sock, socket.socket):
                if mode == "silent":
                    self._orphans.append((client, sock))
                else:
                    _abort(sock)

    def restore_network(self) -> None:
        """The network is back: reconnect with the same boot (the retained status goes online again)."""
        with self._conn_lock:
            self._close_orphans()
            if self._running and self._client is None:
                self._connect()

    # ----------------------------------------------------------------------------- connection

    def _make_client(self) -> mqtt.Client:
        # Unique per broker: device ids are unique within a hall, and one broker serves many halls
        # (two clients with one id cut each other off, over and over).
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{self.hall}.{self.device_id}",
                             protocol=mqtt.MQTTv311)
        if self.username:
            client.username_pw_set(self.username, self.password)
        client.will_set(self.topic("status"), json.dumps(self.status_payload("offline")), qos=1, retain=True)
        client.reconnect_delay_set(*self.reconnect_delay)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    def _connect(self) -> None:
        client = self._make_client()
        self._client = client
        with self._pub_lock:
            self._net_up = True
        client.connect_async(self.broker.host, self.broker.port, keepalive=self.keepalive)
        client.loop_start()

    def _disconnect(self, clean: bool) -> None:
        client = self._client
        if clean and client is not None and self._connected.is_set():
            info = self._publish_json("status", self.status_payload("offline"), qos=1, retain=True)
            if info is not None:
                _wait(info, 2.0)
        with self._pub_lock:
            self._net_up = False
        self._client = None
        self._connected.clear()
        if client is None:
            return
        if clean:
            client.disconnect()
            client.loop_stop()
        else:
            client.loop_stop()
            sock = client.socket()
            if isinstance(sock, socket.socket):
                _abort(sock)

    def _close_orphans(self) -> None:
        for _client, sock in self._orphans:
            _abort(sock)
        self._orphans.clear()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any,
                    properties: Any) -> None:
        if client is not self._client:
            return
        if reason_code.is_failure:
            log.warning("%s: broker refused the connection: %s", self.device_id, reason_code)
            return
        self.stats.connects += 1
        # Subscribe before announcing online: the broker handles both in order, so a server that
        # sees the online status can send commands at once.
        client.subscribe(self.topic("cmd"), qos=1)
        client.publish(self.topic("status"), json.dumps(self.status_payload("online")), qos=1, retain=True)
        if self._worker is not None:
            self._worker.call(self._after_connect, client)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reason_codes: Any,
                      properties: Any) -> None:
        if client is self._client:
            self._connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any,
                       properties: Any) -> None:
        if client is self._client:
            self._connected.clear()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if client is self._client and self._worker is not None and message.topic == self.topic("cmd"):
            self._worker.call(self._handle_command, message.payload)

    def _after_connect(self, client: mqtt.Client) -> None:
        if client is self._client:
            self.send_telemetry()

    # ----------------------------------------------------------------------------- publishing

    def _publish_raw(self, topic: str, payload: bytes | str, qos: int = 0,
                     retain: bool = False) -> mqtt.MQTTMessageInfo | None:
        with self._pub_lock:
            client = self._client
            if not self._net_up or client is None:
                self.stats.dropped += 1
                return None
            return client.publish(topic, payload, qos=qos, retain=retain)

    def _publish_json(self, leaf: str, body: dict[str, Any], qos: int = 0,
                      retain: bool = False) -> mqtt.MQTTMessageInfo | None:
        return self._publish_raw(self.topic(leaf), json.dumps(body, ensure_ascii=False), qos, retain)

    def metrics(self) -> dict[str, Any]:
        """The kind's telemetry metrics; subclasses override."""
        return {}

    def send_telemetry(self) -> bool:
        """Publish telemetry now (QoS 0). Returns False when it was dropped."""
        self._last_telemetry = time.monotonic()
        body = {"ts": self.now_ms(), "seq": self._next_seq(), "metrics": self.metrics()}
        ok = self._publish_json("telemetry", body, qos=0) is not None
        if ok:
            self.stats.telemetry += 1
        return ok

    def emit(self, type_: str, detail: dict[str, Any] | None = None) -> mqtt.MQTTMessageInfo | None:
        """Publish an event (QoS 1)."""
        body = {"ts": self.now_ms(), "seq": self._next_seq(), "type": type_, "detail": detail or {}}
        info = self._publish_json("event", body, qos=1)
        if info is not None:
            self.stats.events += 1
        return info

    def _schedule_heartbeat(self, delay: float) -> None:
        if self._worker is None:
            return
        if self._heartbeat_timer is not None:
            self._heartbeat_timer.cancel()
        self._heartbeat_timer = self._worker.call_later(delay, self._heartbeat)

    def _heartbeat(self) -> None:
        if not self._running:
            return
        since = time.monotonic() - self._last_telemetry
        if since >= self.heartbeat_s * 0.98:
            self.send_telemetry()
            since = 0.0
        self.tick()
        self._schedule_heartbeat(max(0.01, self.heartbeat_s - since))

    def tick(self) -> None:
        """Called on the worker about once per heartbeat: metrics drift here. Subclasses override."""

    def on_boot(self) -> None:
        """Called at every start, before connecting (RAM state a real device loses). Subclasses override."""

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> _Timer | None:
        """Run ``fn`` on the device's worker after ``delay`` seconds."""
        return self._worker.call_later(delay, fn, *args) if self._worker is not None else None

    # ----------------------------------------------------------------------------- commands

    def ack(self, cmd_id: str, status: str, detail: dict[str, Any] | None = None) -> mqtt.MQTTMessageInfo | None:
        """Answer a command (QoS 1) and remember the outcome for a repeated id."""
        detail = detail or {}
        self._outcomes[cmd_id] = (status, detail)
        self._outcomes.move_to_end(cmd_id)
        while len(self._outcomes) > _SEEN_COMMANDS_KEPT:
            self._outcomes.popitem(last=False)
        info = self._publish_json("cmd/ack", {"id": cmd_id, "status": status, "detail": detail}, qos=1)
        if info is not None:
            self.stats.acks += 1
        return info

    def _handle_command(self, payload: bytes) -> None:
        try:
            cmd = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            log.warning("%s: command is not JSON: %r", self.device_id, payload[:100])
            return
        if not isinstance(cmd, dict) or not isinstance(cmd.get("id"), str) or not cmd["id"]:
            log.warning("%s: command without an id: %r", self.device_id, payload[:100])
            return
        self.stats.commands += 1
        cmd_id: str = cmd["id"]
        earlier = self._outcomes.get(cmd_id)
        if earlier is not None:
            status, detail = earlier
            self._publish_json("cmd/ack", {"id": cmd_id, "status": status, "detail": {**detail, "duplicate": True}},
                               qos=1)
            self.stats.acks += 1
            return
        name, args, expires_at = cmd.get("name"), cmd.get("args") or {}, cmd.get("expires_at")
        if not isinstance(name, str) or not isinstance(args, dict):
            self.ack(cmd_id, "rejected", {"reason": "bad_command"})
            return
        if isinstance(expires_at, int | float) and expires_at < self.now_ms():
            self.ack(cmd_id, "rejected", {"reason": "expired"})
            return
        method = self.commands.get(name)
        if method is None:
            self.ack(cmd_id, "rejected", {"reason": "unknown_command", "name": name})
            return
        getattr(self, method)(cmd_id, args)

    def _cmd_reboot(self, cmd_id: str, args: dict[str, Any]) -> None:
        self.ack(cmd_id, "accepted")
        info = self.ack(cmd_id, "done")
        if info is not None:
            _wait(info, 2.0)  # done must reach the broker before the connection goes
        self.reboot(clean=True)

    # ----------------------------------------------------------------------------- faults

    def fault(self, code: str = "hardware", message: str = "") -> None:
        """A hardware fault: event ``fault {code, message}``; it stays until :meth:`clear_fault`."""
        detail = {"code": code, "message": message or f"simulated fault {code}"}
        self.faults[code] = detail
        self.emit("fault", detail)

    def clear_fault(self, code: str | None = None) -> None:
        """Clear one fault (or all): event ``fault_cleared {code}`` for each."""
        codes = [code] if code is not None else list(self.faults)
        for c in codes:
            if self.faults.pop(c, None) is not None:
                self.emit("fault_cleared", {"code": c})

    def tamper(self, detail: dict[str, Any] | None = None) -> None:
        """The enclosure was opened or the device moved: event ``tamper``."""
        self.emit("tamper", detail or {})

    def send_malformed(self, kind: str, *, size: int = 300_000) -> tuple[str, bytes]:
        """Publish something the server must reject; returns the (topic, payload) sent.

        ``invalid_json``: not JSON, on ``telemetry``. ``wrong_schema``: JSON of the wrong shape on
        ``telemetry``. ``oversized``: valid telemetry padded to ``size`` bytes. ``other_leaf``: valid
        telemetry under this device's prefix but a leaf the contract has not (``.../diag``).
        ``other_device``: this device's telemetry under another device's topic.
        """
        ts, seq = self.now_ms(), self._seq
        if kind == "invalid_json":
            topic, payload = self.topic("telemetry"), b'{"ts": 1, "seq": ' + b"\xff\xfe{{"
        elif kind == "wrong_schema":
            topic = self.topic("telemetry")
            payload = json.dumps({"ts": "yesterday", "seq": [seq], "metrics": "none"}).encode()
        elif kind == "oversized":
            topic = self.topic("telemetry")
            base = {"ts": ts, "seq": seq, "metrics": {"pad": ""}}
            pad = max(0, size - len(json.dumps(base)))
            payload = json.dumps({"ts": ts, "seq": seq, "metrics": {"pad": "x" * pad}}).encode()
        elif kind == "other_leaf":
            topic = self.topic("diag")
            payload = json.dumps({"ts": ts, "seq": seq, "metrics": self.metrics()}).encode()
        elif kind == "other_device":
            topic = f"hall/{self.hall}/device/{self.device_id}-x/telemetry"
            payload = json.dumps({"ts": ts, "seq": seq, "metrics": self.metrics()}).encode()
        else:
            raise ValueError(f"malformed kind is one of {', '.join(MALFORMED_KINDS)}")
        info = self._publish_raw(topic, payload, qos=1)
        if info is not None:
            self.stats.malformed += 1
            _wait(info, 5.0)
        return topic, payload

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.hall}/{self.device_id} boot={self.boot} seq={self._seq}>"


def _wait(info: mqtt.MQTTMessageInfo, timeout: float) -> None:
    """Wait for a QoS 1 publish to be acknowledged; never from a paho callback."""
    with contextlib.suppress(RuntimeError, ValueError):  # not queued (no connection): nothing to wait for
        info.wait_for_publish(timeout)


def _abort(sock: socket.socket) -> None:
    """Close a socket with a TCP reset (SO_LINGER 0): no FIN handshake, no MQTT DISCONNECT."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()
