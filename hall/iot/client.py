"""The one module that touches paho: the server's MQTT connection.

Callbacks run on paho's network thread and do nothing but append the message to a buffer and,
if the event loop has not been told yet, tell it (``call_soon_threadsafe``): the loop drains the
buffer in batches. Device messages of QoS 1 are acknowledged to the broker only after the server
has processed them (and stored what they caused), so a crash between receipt and commit makes
the broker deliver them again instead of losing them (``manual_ack`` and a persistent session).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt

from hall.iot import topics

log = logging.getLogger(__name__)


class Message(NamedTuple):
    """One received message (a tuple: one is made per message, a frozen dataclass costs 3x as much)."""

    topic: str
    payload: bytes
    qos: int
    mid: int
    retain: bool
    recv_ms: int  # the machine's wall clock at receipt


class _Client(mqtt.Client):
    """paho's client, reading the socket in 64 KiB chunks.

    paho reads every packet with at least three ``recv`` calls (its first byte, its length byte
    by byte, its body) and handles one packet per ``select`` when nothing of ours is in flight:
    four system calls, each letting go of the GIL, per telemetry message. Here ``_sock_recv``
    serves paho's small reads from one large read, and ``loop_read`` goes on while bytes are
    left in that buffer (``select`` cannot see them), so a burst of messages costs a few system
    calls in all. paho's parsing, acks and reconnects are untouched; the buffer belongs to one
    socket and is dropped with it.
    """

    _CHUNK = 65536

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._rsock: object = None
        self._rbuf = b""
        self._rpos = 0

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rsock is not self._sock:  # a new connection: nothing of the old one is left
            self._rsock, self._rbuf, self._rpos = self._sock, b"", 0
        pos, buf = self._rpos, self._rbuf
        if pos >= len(buf):
            buf = super()._sock_recv(max(bufsize, self._CHUNK))  # raises as paho expects
            if len(buf) <= bufsize:
                self._rbuf, self._rpos = b"", 0
                return buf
            pos = 0
            self._rbuf = buf
        out = buf[pos:pos + bufsize]
        self._rpos = pos + len(out)
        return out

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        rc = super().loop_read(max_packets)
        while rc == mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS and self._sock is not None \
                and self._rsock is self._sock and self._rpos < len(self._rbuf):
            rc = super().loop_read(max_packets)
        return rc


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """``mqtt://user:pass@host:port`` (``tcp://`` too; port 1883 by default), ``mqtts://`` for TLS
        (port 8883 by default; the system's CA certificates check the broker)."""
        u = urlsplit(url if "://" in url else f"mqtt://{url}")
        if u.scheme not in ("mqtt", "tcp", "mqtts", "ssl"):
            raise ValueError(f"不支持的 MQTT 地址 / unsupported MQTT URL scheme {u.scheme!r} (use mqtt:// or mqtts://)")
        tls = u.scheme in ("mqtts", "ssl")
        return cls(u.hostname or "127.0.0.1", u.port or (8883 if tls else 1883),
                   unquote(u.username) if u.username else None, unquote(u.password) if u.password else None, tls)


class MqttLink:
    """The server's client: subscribes to every hall topic, hands messages to the loop, publishes."""

    def __init__(self, address: BrokerAddress, client_id: str, *, shared_group: str | None = None,
                 keepalive: int = 30) -> None:
        self.address = address
        self.shared_group = shared_group
        self.subscription = topics.shared(shared_group) if shared_group else topics.SUBSCRIPTION
        self._filters: set[str] = {self.subscription}  # what the server listens to (set_filters)
        self._filters_lock = threading.Lock()
        self._client = _Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                   clean_session=False, protocol=mqtt.MQTTv311, manual_ack=True)
        if address.username:
            self._client.username_pw_set(address.username, address.password)
        if address.tls:
            self._client.tls_set()
        self._client.max_inflight_messages_set(1000)
        self._client.max_queued_messages_set(0)
        self._client.reconnect_delay_set(0.2, 5)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._keepalive = keepalive
        self._buffer: deque[Message] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain: Callable[[], None] | None = None
        self._scheduled = False
        self.connected = threading.Event()
        self.refused: str | None = None
        self.received = 0

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop, drain: Callable[[], None]) -> None:
        self._loop, self._drain = loop, drain
        self._client.connect_async(self.address.host, self.address.port, keepalive=self._keepalive)
        self._client.loop_start()

    def stop(self) -> None:
        try:
            self._client.disconnect()
        finally:
            self._client.loop_stop()

    def set_filters(self, filters: set[str]) -> None:
        """Listen to exactly these topic filters from now on (a hall's lease came or went):
        subscribe to the new ones before leaving the old, so no message falls between."""
        with self._filters_lock:
            new, old = filters - self._filters, self._filters - filters
            self._filters = set(filters)
        if not self.connected.is_set():
            return  # the next connect subscribes to the whole set
        if new:
            self._client.subscribe([(f, 1) for f in sorted(new)])
        if old:
            self._client.unsubscribe(sorted(old))

    @property
    def filters(self) -> set[str]:
        with self._filters_lock:
            return set(self._filters)

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return self.connected.wait(timeout)

    # -- paho callbacks (network thread) ------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _ud: object, _flags: object, reason_code: object,
                    _props: object = None) -> None:
        if getattr(reason_code, "is_failure", False):
            self.refused = str(reason_code)
            log.error("MQTT 连接被拒绝 / broker refused the connection: %s", reason_code)
            return
        self.refused = None
        with self._filters_lock:
            filters = sorted(self._filters)
        if filters:
            client.subscribe([(f, 1) for f in filters])
        self.connected.set()
        log.info("MQTT connected to %s:%s", self.address.host, self.address.port)

    def _on_disconnect(self, _c: mqtt.Client, _ud: object, _flags: object, reason_code: object,
                       _props: object = None) -> None:
        self.connected.clear()
        if getattr(reason_code, "is_failure", False):
            log.warning("MQTT connection lost (%s); reconnecting", reason_code)

    def _on_message(self, _c: mqtt.Client, _ud: object, msg: mqtt.MQTTMessage) -> None:
        self._buffer.append(Message(msg.topic, msg.payload, msg.qos, msg.mid, bool(msg.retain),
                                    int(time.time() * 1000)))
        self.received += 1
        if not self._scheduled and self._loop is not None and self._drain is not None:
            self._scheduled = True
            with contextlib.suppress(RuntimeError):  # a closed loop: the server is stopping
                self._loop.call_soon_threadsafe(self._drain)

    # -- used on the loop ---------------------------------------------------------------------
    def take(self, limit: int) -> list[Message]:
        """Up to ``limit`` buffered messages, oldest first; the next arrival schedules a new drain."""
        self._scheduled = False
        buf = self._buffer
        n = min(limit, len(buf))
        out = [buf.popleft() for _ in range(n)]
        if buf:
            self._scheduled = True  # more waiting: the caller drains again soon
        return out

    def pending(self) -> int:
        return len(self._buffer)

    def ack(self, mids: list[int]) -> None:
        for mid in mids:
            self._client.ack(mid, 1)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> mqtt.MQTTMessageInfo:
        return self._client.publish(topic, payload, qos=qos, retain=retain)
