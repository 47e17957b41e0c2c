"""A real MQTT broker for tests: Mosquitto on a free port when it is installed.

``start_mosquitto(tmp_path)`` starts ``mosquitto`` with a generated configuration on a free
loopback port (never 1883) and returns a :class:`Broker`; ``stop()`` ends it. With
``password_file``/``acl_file`` it refuses anonymous clients and applies the ACL, as the shipped
configuration does.
"""

from __future__ import annotations

import shutil
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
