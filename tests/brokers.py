"""A real MQTT broker for tests: Mosquitto on a free port when it is installed, else the embedded one.

``start_mosquitto(tmp_path)`` starts ``mosquitto`` with a generated configuration on a free
loopback port (never 1883) and returns a :class:`Broker`; ``stop()`` ends it. With
``password_file``/``acl_file`` it refuses anonymous clients and applies the ACL, as the shipped
configuration does; ``reload()`` sends it SIGHUP (it re-reads both files).

``start_embedded(tmp_path, password_file=...)`` starts hall's embedded amqtt broker (its own
thread) on a free port with that password file and the ACL beside it (or ``acl_file``).
``start_broker(tmp_path, kind=None, ...)`` picks Mosquitto when installed, else the embedded one;
without ``password_file`` it makes a credential store in ``tmp_path / "mqtt"`` and returns the
server's account in ``broker.username``/``broker.password``. Device credentials come from
:class:`hall.iot.credentials.CredentialStore` (``store.add_device(hall, device, kind)``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Broker:
    host: str
    port: int
    kind: str  # "mosquitto" or "embedded"
    proc: subprocess.Popen | None = None
    log: Path | None = None
    _stop: object | None = None
    username: str | None = None  # the server's account, when start_broker made the credentials
    password: str | None = None
    store: Path | None = None  # the credential store's directory, when start_broker made it

    def url(self, username: str | None = None, password: str | None = None) -> str:
        auth = f"{username}:{password}@" if username else ""
        return f"mqtt://{auth}{self.host}:{self.port}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if callable(self._stop):
            self._stop()

    def reload(self) -> None:
        """Make the broker see changed password/ACL files (the embedded one watches them itself)."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGHUP)
            time.sleep(0.3)  # Mosquitto reloads in its main loop, within a few ms


def mosquitto_available() -> bool:
    return shutil.which("mosquitto") is not None or Path("/usr/sbin/mosquitto").exists()


def start_mosquitto(tmp_path: Path, *, password_file: Path | None = None, acl_file: Path | None = None,
                    extra: str = "") -> Broker:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    conf = tmp_path / f"mosquitto-{port}.conf"
    log = tmp_path / f"mosquitto-{port}.log"
    lines = [f"listener {port} 127.0.0.1", "persistence false", f"log_dest file {log}",
             "log_type error", "log_type warning", "log_type notice",
             "max_queued_messages 100000", "max_inflight_messages 0"]
    if password_file is not None:
        lines += ["allow_anonymous false", f"password_file {password_file}"]
    else:
        lines += ["allow_anonymous true"]
    if acl_file is not None:
        lines += [f"acl_file {acl_file}"]
    if os.geteuid() == 0:
        # As root, Mosquitto 2 switches to user "mosquitto" before it opens the log, password and
        # ACL files (and on SIGHUP reads them again as that user); pytest's tmp_path is 0700.
        lines += ["user root"]
    conf.write_text("\n".join(lines) + "\n" + extra)
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mosquitto exited: {log.read_text() if log.exists() else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return Broker("127.0.0.1", port, "mosquitto", proc, log)
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("mosquitto did not start")


def start_embedded(tmp_path: Path, *, password_file: Path, acl_file: Path | None = None) -> Broker:
    """hall's embedded broker on a free loopback port (port 0: the broker reports the port it took)."""
    from hall.iot.broker import EmbeddedBroker

    del tmp_path  # same signature as start_mosquitto; the embedded broker writes no files
    acl = acl_file if acl_file is not None else password_file.with_name("acl")
    broker = EmbeddedBroker(password_file, acl, "127.0.0.1", 0).start()
    return Broker("127.0.0.1", broker.port, "embedded", _stop=broker.stop)


def start_broker(tmp_path: Path, *, kind: str | None = None, password_file: Path | None = None,
                 acl_file: Path | None = None) -> Broker:
    """``kind`` "mosquitto" or "embedded"; None picks Mosquitto when it is installed.

    Without ``password_file`` a :class:`CredentialStore` in ``tmp_path / "mqtt"`` provides the
    files, and the returned broker carries the server account (``username``/``password``).
    """
    username = password = None
    if password_file is None:
        from hall.iot.credentials import CredentialStore

        store = CredentialStore(tmp_path / "mqtt")
        username, password = store.server_credentials()
        password_file, acl_file = store.password_file, store.acl_file
    # HALL_TEST_BROKER picks for tests that do not ask for one (CI: the embedded defaults in the
    # main suite, Mosquitto beside PostgreSQL and Redis).
    kind = kind or os.environ.get("HALL_TEST_BROKER") or ("mosquitto" if mosquitto_available() else "embedded")
    if kind == "mosquitto":
        acl = acl_file if acl_file is not None else password_file.with_name("acl")
        broker = start_mosquitto(tmp_path, password_file=password_file, acl_file=acl)
    else:
        broker = start_embedded(tmp_path, password_file=password_file, acl_file=acl_file)
    broker.username, broker.password = username, password
    if username is not None:
        broker.store = password_file.parent
    return broker
