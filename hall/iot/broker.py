"""The embedded MQTT broker (amqtt 0.12, MQTT 3.1.1) for a hall without ``HALL_MQTT_URL``.

It runs in its own thread with its own asyncio loop, so broker load cannot stall the API's loop.
amqtt binds 0.0.0.0 unless told and its default plugins let anonymous clients in; we always
pass a listener on ``HALL_MQTT_BIND`` (default ``127.0.0.1:1883``) and our own two plugins,
which replace the defaults:

* :class:`HallAuthPlugin` checks ``$7$`` hashes from the same password file Mosquitto reads
  (re-read when it changes, so ``hall device add`` needs no restart), refuses anonymous clients
  and drops a last will on a topic the user may not publish (amqtt sends wills unchecked;
  Mosquitto drops them too);
* :class:`HallTopicPlugin` enforces the same ACL file for publish, subscribe and delivery.

``mqtt_endpoint(settings)`` is what the server calls: the external broker's URL, or an embedded
broker started for it, together with the server's own credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote, unquote, urlsplit

from amqtt.contexts import Action, BaseContext
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session

from hall.errors import ConfigError, Unavailable
from hall.iot.credentials import Acl, CredentialStore, parse_password_file, verify_password

log = logging.getLogger(__name__)
DEFAULT_PORT = 1883
_QUIET_LOGGERS = ("amqtt", "transitions")

T = TypeVar("T")


class MqttPortInUse(Unavailable):
    code = "mqtt_port_in_use"


def port_in_use(host: str, port: int) -> MqttPortInUse:
    return MqttPortInUse(
        f"MQTT 端口 {host}:{port} 已被占用（可能已有 Mosquitto 在运行）。请用 HALL_MQTT_BIND 选择其他地址，"
        f"例如 HALL_MQTT_BIND=127.0.0.1:1884，或用 HALL_MQTT_URL 连接已有的代理",
        f"MQTT port {host}:{port} is in use (perhaps by a running Mosquitto). Choose another with "
        f"HALL_MQTT_BIND, e.g. HALL_MQTT_BIND=127.0.0.1:1884, or use that broker with HALL_MQTT_URL",
        extra={"host": host, "port": port})


def parse_bind(value: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """``host:port``, ``[v6]:port``, ``host`` or ``:port`` → ``(host, port)``; the host defaults
    to loopback (never all interfaces by accident)."""
    value = value.strip()
    host, port_s = value, ""
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise ConfigError("HALL_MQTT_BIND", "", f"格式不对 / cannot read {value!r} (want host:port)")
        host, port_s = value[1:end], value[end + 1:].removeprefix(":")
    elif value.count(":") == 1:
        host, port_s = value.split(":")
    try:
        port = int(port_s) if port_s else default_port
    except ValueError:
        raise ConfigError("HALL_MQTT_BIND", "", f"端口不对 / bad port in {value!r}") from None
    if not 0 <= port <= 65535:
        raise ConfigError("HALL_MQTT_BIND", "", f"端口不对 / bad port in {value!r}")
    return host or "127.0.0.1", port


def _bindable(host: str, port: int) -> bool:
    """Whether ``host:port`` can be bound right now (as asyncio.start_server would, SO_REUSEADDR)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return False
            raise
    return True


class _Reloading(Generic[T]):
    """A parsed file, parsed again when its identity (mtime, size, inode) changes.

    Writers replace the file atomically, so the inode changes on every write even within one
    mtime tick. ``max_age`` spares a ``stat`` per message on the hot path.
    """

    def __init__(self, path: Path, parse: Callable[[str], T]) -> None:
        self.path = path
        self._parse = parse
        self._key: tuple[int, int, int] | None = None
        self._checked = 0.0
        self._value = parse("")

    def get(self, max_age: float = 0.0) -> T:
        now = time.monotonic()
        if max_age and now - self._checked < max_age:
            return self._value
        self._checked = now
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._key, self._value = None, self._parse("")
            return self._value
        key = (st.st_mtime_ns, st.st_size, st.st_ino)
        if key != self._key:
            try:
                text = self.path.read_text(encoding="utf-8")
            except OSError:
                log.warning("cannot read %s; keeping the previous version", self.path)
                return self._value
            self._key, self._value = key, self._parse(text)
        return self._value


class HallAuthPlugin(BaseAuthPlugin):
    """Username and ``$7$`` password from the shared password file; no anonymous clients."""

    @dataclass
    class Config:
        password_file: str = ""
        acl_file: str = ""

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        self._users = _Reloading(Path(self.config.password_file), parse_password_file)
        self._acl = _Reloading(Path(self.config.acl_file), Acl.parse) if self.config.acl_file else None

    async def authenticate(self, *, session: Session) -> bool:
        if session is None or not session.username:
            return False
        hashed = self._users.get().get(session.username)
        if hashed is None or not verify_password(session.password or "", hashed):
            return False
        if session.will_flag and self._acl is not None and not self._acl.get().may_publish(
                session.username, session.will_topic or ""):
            # amqtt would send the will without any topic check. Mosquitto accepts such a client
            # and drops the will when it would be sent; do the same.
            log.warning("MQTT user %s: last will on %r not allowed; it will not be sent",
                        session.username, session.will_topic)
            session.will_flag = False
        return True


class HallTopicPlugin(BaseTopicPlugin):
    """Publish, subscribe and delivery checked against the shared ACL file (keyed on username)."""

    @dataclass
    class Config:
        acl_file: str = ""

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        self._acl = _Reloading(Path(self.config.acl_file), Acl.parse)

    def _current(self, username: str | None) -> Acl:
        acl = self._acl.get(max_age=1.0)
        if username not in acl.users:  # just provisioned? look at the file now
            acl = self._acl.get()
        return acl

    async def topic_filtering(self, *, session: Session | None = None, topic: str | None = None,
                              action: Action | None = None) -> bool:
        username = session.username if session is not None else None
        if not username or not topic:
            return False
        acl = self._current(username)
        if action == Action.PUBLISH:
            return acl.may_publish(username, topic)
        if action == Action.SUBSCRIBE:
            return acl.may_subscribe(username, topic)
        if action == Action.RECEIVE:
            return acl.may_receive(username, topic)
        return False


def _not_port_in_use(record: logging.LogRecord) -> bool:
    """Drop amqtt's traceback for a taken port: :class:`MqttPortInUse` says it better."""
    exc = record.exc_info[1] if record.exc_info else None
    return not (isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE)


def _quiet_amqtt() -> None:
    """amqtt logs every connection and packet at INFO; keep WARNING unless someone chose a level."""
    for name in _QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)
    broker_log = logging.getLogger("amqtt.broker")
    if _not_port_in_use not in broker_log.filters:
        broker_log.addFilter(_not_port_in_use)


class EmbeddedBroker:
    """amqtt in a thread of its own. ``start()`` returns once it listens (or raises), ``stop()``
    returns once every connection, task and the thread are gone.

    ``port=0`` takes a free port; ``port`` then tells which.
    """

    def __init__(self, password_file: Path | str, acl_file: Path | str, host: str = "127.0.0.1",
                 port: int = DEFAULT_PORT, *, session_expiry_s: int = 86_400, revoke_check_s: float = 1.0) -> None:
        self.password_file = Path(password_file)
        self.acl_file = Path(acl_file)
        self.host = host
        self.port = port
        self.session_expiry_s = session_expiry_s
        self.revoke_check_s = revoke_check_s
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def url(self, username: str | None = None, password: str | None = None) -> str:
        auth = f"{quote(username, safe='')}:{quote(password or '', safe='')}@" if username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"mqtt://{auth}{host}:{self.port}"

    def _config(self) -> dict[str, Any]:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{host}:{self.port}"}},
            "session_expiry_interval": self.session_expiry_s,
            "plugins": {
                f"{__name__}.HallAuthPlugin": {"password_file": str(self.password_file),
                                               "acl_file": str(self.acl_file)},
                f"{__name__}.HallTopicPlugin": {"acl_file": str(self.acl_file)},
            },
        }

    def start(self, timeout: float = 10.0) -> EmbeddedBroker:
        if self.running:
            raise RuntimeError("broker already running")
        if not self.password_file.exists():
            raise ConfigError(str(self.password_file), "", "MQTT 密码文件不存在 / MQTT password file missing")
        if self.port and not _bindable(self.host, self.port):
            raise port_in_use(self.host, self.port)
        _quiet_amqtt()
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name=f"hall-mqtt-broker-{self.port}", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise RuntimeError("embedded MQTT broker did not start in time")
        if self._error is not None:
            self._thread.join(timeout)
            self._thread = None
            err = self._error
            cause = err.__cause__ or err
            if isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE:
                raise port_in_use(self.host, self.port) from err
            raise err
        log.info("embedded MQTT broker on %s:%s", self.host, self.port)
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as e:  # noqa: BLE001 - reported to start() or logged
            if not self._ready.is_set():
                self._error = e
                self._ready.set()
            else:
                log.exception("embedded MQTT broker stopped by an error")

    async def _main(self) -> None:
        from amqtt.broker import Broker
        from amqtt.plugins import manager

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        broker = Broker(self._config(), loop=self._loop)
        try:
            await broker.start()
        except BaseException as e:
            self._error = e
            self._ready.set()
            return
        revoke = asyncio.create_task(self._revoke_loop(broker))
        try:
            # amqtt does not say which port it took for port 0; its asyncio.Server does.
            server = broker._servers["default"].instance  # noqa: SLF001
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._stop.wait()
        finally:
            revoke.cancel()
            await asyncio.gather(revoke, return_exceptions=True)
            await broker.shutdown()
            # amqtt keeps the last plugin manager per namespace in a module global: let it go.
            if manager.plugins_manager.get("amqtt.broker.plugins") is broker.plugins_manager:
                manager.plugins_manager.pop("amqtt.broker.plugins", None)

    async def _revoke_loop(self, broker: Any) -> None:
        """Disconnect clients whose password was rotated or removed, as Mosquitto does on reload.

        Only users whose hash changed are checked again, so a file change costs little.
        """
        users = _Reloading(self.password_file, parse_password_file)
        known = users.get()
        while True:
            await asyncio.sleep(self.revoke_check_s)
            current = users.get()
            if current is known:
                continue
            changed = {u for u in known.keys() | current.keys() if known.get(u) != current.get(u)}
            known = current
            for session, handler in list(broker.sessions.values()):
                if session.username not in changed or not session.transitions.is_connected():
                    continue
                hashed = current.get(session.username)
                if hashed is None or not verify_password(session.password or "", hashed):
                    log.info("MQTT user %s: credentials changed, disconnecting %s", session.username,
                             session.client_id)
                    with contextlib.suppress(Exception):
                        await handler.writer.close()

    def stop(self, timeout: float = 10.0) -> None:
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None:
            return
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop closed meanwhile
                loop.call_soon_threadsafe(stop.set)
        thread.join(timeout)
        if thread.is_alive():
            log.warning("embedded MQTT broker thread did not stop within %.0f s", timeout)
        self._thread = self._loop = self._stop = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start() if not self.running else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class MqttEndpoint:
    """Where the server connects, as whom, and the embedded broker it owns (if any)."""

    host: str
    port: int
    username: str
    password: str = field(repr=False)
    tls: bool = False
    broker: EmbeddedBroker | None = None

    @property
    def url(self) -> str:
        scheme = "mqtts" if self.tls else "mqtt"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{quote(self.username, safe='')}:{quote(self.password, safe='')}@{host}:{self.port}"

    @property
    def embedded(self) -> bool:
        return self.broker is not None

    def close(self) -> None:
        if self.broker is not None:
            self.broker.stop()


def mqtt_endpoint(settings: Any, *, any_port: bool = False) -> MqttEndpoint:
    """The server's MQTT connection for these settings.

    With ``HALL_MQTT_URL`` (``mqtt://[user:pass@]host[:port]``, ``mqtts://`` for TLS) the external
    broker: without credentials in the URL the server uses its own account from the credential
    store (``hall-server``; its password is in ``{HALL_DATA_DIR}/mqtt/server.secret``).
    Otherwise it starts the embedded broker on ``HALL_MQTT_BIND``; a taken port raises
    :class:`MqttPortInUse`, unless ``any_port`` (``hall demo``) lets it take a free one.
    """
    store = CredentialStore.for_data_dir(settings.data_dir)
    if settings.mqtt_url:
        u = urlsplit(settings.mqtt_url)
        if u.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not u.hostname:
            raise ConfigError("HALL_MQTT_URL", "", "格式不对 / want mqtt://[user:password@]host[:port]")
        tls = u.scheme in ("mqtts", "ssl")
        if u.username:
            username, password = unquote(u.username), unquote(u.password or "")
        else:
            username, password = store.server_credentials()
        return MqttEndpoint(u.hostname, u.port or (8883 if tls else DEFAULT_PORT), username, password, tls)
    username, password = store.server_credentials()
    host, port = parse_bind(settings.mqtt_bind)
    broker = EmbeddedBroker(store.password_file, store.acl_file, host, port)
    try:
        broker.start()
    except MqttPortInUse:
        if not any_port:
            raise
        broker = EmbeddedBroker(store.password_file, store.acl_file, host, 0).start()
    return MqttEndpoint(broker.host, broker.port, username, password, broker=broker)
