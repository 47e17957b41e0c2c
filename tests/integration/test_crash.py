"""Fault: ``hall serve`` killed with SIGKILL in the middle of issuing and calling, then restarted.

The promises (CONTRACT.md): an acknowledged (201) ticket is durable; a number never repeats within
a day (service counter and ticket row are written in one transaction, so the numbers in the
database are exactly 1..last per service, and the counter never goes back, even across the crash);
``seq`` is durable, gap-free and strictly increasing, and a screen that reconnects with its last
``seq`` misses nothing (the screens stay away until the restarted hall has gone on without them,
so their ``?since=`` replay has something to replay). No timing is asserted: only what was
acknowledged and what was received.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

HALL = "hn-tja"
API = f"/api/v1/halls/{HALL}"
PASSWORD = "crash-test-2026"
CLOCK = "2026-11-23T09:30+08:00"
SERVICES = ["SB", "YB", "GJJ", "BDC", "QY"]
WINDOWS = {"1": "clerk01", "2": "clerk02"}  # comprehensive windows: every service
ROOT = Path(__file__).parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(data: Path, mqtt_port: int) -> dict[str, str]:
    env = {**os.environ, "HALL_DATA_DIR": str(data), "HALL_SECRET": "crash-secret", "HALL_CLOCK": CLOCK,
           "HALL_MQTT_BIND": f"127.0.0.1:{mqtt_port}"}
    for k in ("HALL_DATABASE_URL", "HALL_REDIS_URL", "HALL_MQTT_URL"):
        env.pop(k, None)
    return env


class Server:
    """``hall serve`` in a process group of its own, on a fixed port and data directory."""

    def __init__(self, data: Path, port: int) -> None:
        self.data, self.port = data, port
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{port}"
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = open(self.data / f"serve-{self.starts}.log", "wb")  # noqa: SIM115 - the child writes it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hall.cli", "serve", "--port", str(self.port)],
            env=_env(self.data, _free_port()), cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"hall serve exited {self.proc.returncode}: {self.log()}"
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"hall serve did not answer in 60 s: {self.log()}")

    def log(self) -> str:
        return (self.data / f"serve-{self.starts}.log").read_text(errors="replace")[-3000:]

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> int:
        """SIGTERM, as an operator stops it; SIGKILL after 30 s."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"hall serve did not stop on SIGTERM: {self.log()}") from None


class Screen(threading.Thread):
    """A screen on the stream: snapshot first, then reconnects with ``?since=`` its last seq."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.first: int | None = None  # the snapshot's seq
        self.seqs: list[int] = []
        self.events: list[dict[str, Any]] = []
        self.connects = 0
        self.stop = threading.Event()
        self.may_reconnect = threading.Event()  # cleared: a lost connection stays lost (the screen is away)
        self.may_reconnect.set()
        self.error: BaseException | None = None

    @property
    def last(self) -> int | None:
        return self.seqs[-1] if self.seqs else self.first

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                url = f"ws://127.0.0.1:{self.port}/ws/halls/{HALL}"
                if self.last is not None:
                    url += f"?since={self.last}"
                try:
                    with connect(url, open_timeout=10, close_timeout=2) as ws:
                        self.connects += 1
                        while not self.stop.is_set():
                            try:
                                m = json.loads(ws.recv(timeout=0.5))
                            except TimeoutError:
                                continue
                            if m["type"] == "snapshot":
                                if self.first is None:
                                    self.first = m["seq"]
                                continue
                            self.seqs.append(m["seq"])
                            self.events.append(m)
                except (ConnectionClosed, OSError, TimeoutError):
                    time.sleep(0.1)  # the server is away: try again
                while not self.may_reconnect.wait(0.1) and not self.stop.is_set():
                    pass
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e


class Load:
    """Visitors taking tickets and clerks calling, recording every acknowledged answer."""

    def __init__(self, url: str, tokens: dict[str, dict[str, str]]) -> None:
        self.url, self.tokens = url, tokens
        self.issued: list[dict[str, Any]] = []
        self.called: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self, visitors: int = 3) -> None:
        self.stop.clear()
        self.threads = [threading.Thread(target=self._visitor, args=(i,), daemon=True) for i in range(visitors)]
        self.threads += [threading.Thread(target=self._clerk, args=(w,), daemon=True) for w in self.tokens]
        for t in self.threads:
            t.start()

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)
            assert not t.is_alive(), "a load thread hung"

    def _visitor(self, i: int) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as http:
            n = i
            while not self.stop.is_set():
                n += 1
                try:
                    r = http.post(f"{API}/tickets", json={"service": SERVICES[n % len(SERVICES)],
                                                          "channel": "walk_in"})
                except httpx.HTTPError:
                    time.sleep(0.05)  # in flight when the server died: not acknowledged
                    continue
                if r.status_code == 201:
                    body = r.json()
                    with self.lock:
                        self.issued.append({k: body[k] for k in ("id", "number", "service")})
                time.sleep(0.005)

    def _clerk(self, window: str) -> None:
        headers = self.tokens[window]
        with httpx.Client(base_url=self.url, timeout=10, headers=headers) as http:
            while not self.stop.is_set():
                try:
                    r = http.post(f"{API}/windows/{window}/call-next")
                    if r.status_code == 200:
                        with self.lock:
                            self.called.append(r.json()["ticket"])
                        http.post(f"{API}/windows/{window}/start")  # call-next from serving finishes it
                    elif r.status_code == 204:
                        time.sleep(0.02)
                    elif r.status_code == 409:
                        http.post(f"{API}/windows/{window}/start")  # e.g. left calling by the crash
                    else:
                        time.sleep(0.05)
                except httpx.HTTPError:
                    time.sleep(0.05)


def _user_add(data: Path, name: str) -> None:
    r = subprocess.run([sys.executable, "-m", "hall.cli", "user", "add", name, "--role", "clerk", "--password",
                        PASSWORD, "--hall", HALL], capture_output=True, text=True, env=_env(data, _free_port()),
                       cwd=ROOT, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr


def _sign_in(url: str) -> dict[str, dict[str, str]]:
    tokens = {}
    with httpx.Client(base_url=url, timeout=10) as http:
        for window, user in WINDOWS.items():
            r = http.post("/api/v1/auth/login", json={"username": user, "password": PASSWORD})
            assert r.status_code == 200, r.text
            headers = {"Authorization": f"Bearer {r.json()['token']}"}
            r = http.post(f"{API}/windows/{window}/sign-in", headers=headers)
            assert r.status_code == 200, r.text
            tokens[window] = headers
    return tokens


def _current_seq(port: int) -> int:
    with connect(f"ws://127.0.0.1:{port}/ws/halls/{HALL}", open_timeout=10) as ws:
        m = json.loads(ws.recv(timeout=10))
    assert m["type"] == "snapshot"
    return m["seq"]


def _wait(cond, what: str, timeout: float = 30) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_sigkill_under_load_loses_no_acknowledged_ticket_reuses_no_number_and_screens_resume(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for user in WINDOWS.values():
        _user_add(data, user)
    server = Server(data, _free_port())
    screens = [Screen(server.port) for _ in range(2)]
    load: Load | None = None
    try:
        server.start()
        tokens = _sign_in(server.url)
        for s in screens:
            s.start()
        _wait(lambda: all(s.first is not None for s in screens), "screens got no snapshot")
        load = Load(server.url, tokens)
        load.start()
        _wait(lambda: len(load.issued) >= 30 and len(load.called) >= 5, "no load before the crash", 60)
        time.sleep(0.5)
        for s in screens:
            s.may_reconnect.clear()  # away until the restarted hall has gone on without them
        server.kill()  # in the middle of it: requests in flight get no answer
        before = (len(load.issued), len(load.called))
        connects = [s.connects for s in screens]
        server.start()
        _wait(lambda: len(load.issued) >= before[0] + 30 and len(load.called) >= before[1] + 5,
              "no load after the restart", 60)
        missed = _current_seq(server.port)
        for s, c in zip(screens, connects, strict=True):
            assert s.last is not None and s.last < missed and s.connects == c  # they missed events
            s.may_reconnect.set()
        time.sleep(0.5)  # live events again while they catch up
        load.finish()
        _wait(lambda: all(s.connects > c for s, c in zip(screens, connects, strict=True)),
              "a screen did not reconnect")
        final = _current_seq(server.port)  # the hall may go on (alarms, staffing ticks): at least this
        _wait(lambda: all(s.last >= final for s in screens), f"screens did not reach seq {final}")
        for s in screens:
            s.stop.set()
            s.join(timeout=10)
            assert s.error is None, repr(s.error)
        assert server.stop() == 0, server.log()
    finally:
        if load is not None:
            load.stop.set()
        for s in screens:
            s.stop.set()
        server.kill()

    issued, called = load.issued, load.called
    db = sqlite3.connect(data / "hall.db")
    try:
        tickets = {r[0]: r[1:] for r in db.execute(
            "SELECT id, number, origin_service, day, counter FROM ticket WHERE hall_id = ?", (HALL,))}
        counters = {(r[0], r[1]): r[2] for r in db.execute(
            "SELECT service, day, last FROM service_counter WHERE hall_id = ?", (HALL,))}
        seqs = [r[0] for r in db.execute("SELECT seq FROM event WHERE hall_id = ? ORDER BY seq", (HALL,))]
        called_events = {json.loads(r[0])["data"]["ticket_id"] for r in db.execute(
            "SELECT envelope FROM event WHERE hall_id = ? AND type = 'ticket.called'", (HALL,))}
    finally:
        db.close()

    # Every acknowledged ticket is stored, with the number and service it was given.
    missing = [t for t in issued if t["id"] not in tickets]
    assert not missing, f"acknowledged tickets lost in the crash: {missing}"
    for t in issued:
        assert tickets[t["id"]][:2] == (t["number"], t["service"]), t
    # No number reused: acknowledged numbers are unique per service (one day: the clock starts at 09:30) ...
    dup = [k for k, n in Counter((t["service"], t["number"]) for t in issued).items() if n > 1]
    assert not dup, f"numbers given twice: {dup}"
    # ... and every stored number of a service and day is exactly 1..last of its counter: a number
    # allocated by a transaction the crash cut short was never stored, nor is the counter behind.
    by_service: dict[tuple[str, str], list[int]] = {}
    for _number, service, day, counter in tickets.values():
        by_service.setdefault((service, day), []).append(counter)
    assert set(by_service) == set(counters)
    for key, got in by_service.items():
        assert sorted(got) == list(range(1, counters[key] + 1)), key
    # The event log is gap-free, and every acknowledged call-out is in it.
    assert seqs == list(range(1, len(seqs) + 1))
    assert not [c for c in called if c["id"] not in called_events]
    # Each screen saw every event from its snapshot to the end, once, in order, across the crash.
    for s in screens:
        assert s.first is not None and s.seqs, "a screen saw nothing"
        assert s.seqs[-1] >= final and s.seqs[-1] <= seqs[-1]
        assert s.seqs == list(range(s.first + 1, s.seqs[-1] + 1)), "a screen missed or repeated events"
        seen_called = {m["data"]["ticket_id"] for m in s.events if m["type"] == "ticket.called"}
        assert not [c for c in called if c["id"] not in seen_called], "a screen missed a call-out"
    assert len(issued) >= 60 and len(called) >= 10
