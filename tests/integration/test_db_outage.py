"""Fault: the database goes away for a minute (issue #8) under a running ``hall serve``.

``hall serve`` reaches PostgreSQL through a TCP proxy (tests/faults.py). With tickets being issued
and called, the proxy is cut: every connection to the database closes and new ones are refused, for
``HALL_TEST_DB_OUTAGE_S`` seconds (default 60). Meanwhile, every few seconds, issuing a ticket,
calling the next one and reading the queue must answer 503 ``database_unavailable`` (Chinese and
English, ``Retry-After``), never 500 and never hang; a screen's stream is refused clearly (the error
body, close code 4503) and tries again; ``/healthz`` stays 200 and ``/readyz`` says 503. Then the
link is restored and, without restarting anything, the same process issues tickets again, numbers
go on after the last one given, every acknowledged ticket is stored, the screen comes back with
``?since=`` and sees every event once, and the log told the story in a few lines, not a traceback
per request. No timing is asserted: only answers, what is stored and what was received.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import _reset_pg, pg_url
from tests.faults import TcpProxy

pytestmark = pytest.mark.skipif(not pg_url(), reason="HALL_TEST_DATABASE_URL not set (a PostgreSQL test)")

HALL = "hn-tja"
API = f"/api/v1/halls/{HALL}"
PASSWORD = "outage-test-2026"
CLOCK = "2026-11-23T09:30+08:00"
SERVICES = ["SB", "YB", "GJJ", "BDC", "QY"]
WINDOW, CLERK = "1", "clerk01"  # a comprehensive window: every service
OUTAGE_S = float(os.environ.get("HALL_TEST_DB_OUTAGE_S") or 60)
PROBE_EVERY_S = 3.0
TIMEOUT_S = 20.0  # a client that waits longer than this calls it a hang (503 comes in a few seconds)
ROOT = Path(__file__).parents[2]
UNAVAILABLE = "database_unavailable"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(data: Path, database_url: str) -> dict[str, str]:
    env = {**os.environ, "HALL_DATA_DIR": str(data), "HALL_SECRET": "outage-secret", "HALL_CLOCK": CLOCK,
           "HALL_MQTT_BIND": f"127.0.0.1:{_free_port()}", "HALL_DATABASE_URL": database_url}
    for k in ("HALL_REDIS_URL", "HALL_MQTT_URL"):
        env.pop(k, None)
    return env


class Server:
    """``hall serve`` in a process group of its own, its output in ``serve.log``."""

    def __init__(self, data: Path, database_url: str) -> None:
        self.data, self.port = data, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data / "serve.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hall.cli", "serve", "--port", str(self.port)],
                env=_env(data, database_url), cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"hall serve exited {self.proc.returncode}: {self.log()}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/readyz", timeout=5).status_code == 200:
                    return
            time.sleep(0.2)
        raise AssertionError(f"hall serve did not become ready in 60 s: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"hall serve did not stop on SIGTERM: {self.log()[-3000:]}") from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


class Screen(threading.Thread):
    """A hall screen: snapshot first, then on every reconnection ``?since=`` its last seq. ``reboot``
    makes it drop its connection (as a screen switched off and on) and come back."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.first: int | None = None
        self.seqs: list[int] = []
        self.refusals: list[tuple[dict[str, Any], int | None]] = []  # (error body, close code)
        self.connects = 0
        self.stop = threading.Event()
        self.reboot = threading.Event()
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
                    with connect(url, open_timeout=TIMEOUT_S, close_timeout=5) as ws:
                        self.connects += 1
                        self._read(ws)
                except (ConnectionClosed, OSError, TimeoutError):
                    pass
                self.stop.wait(1.0)  # the screens' own back-off is longer; a second keeps the test short
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e

    def _read(self, ws: Any) -> None:
        while not self.stop.is_set():
            if self.reboot.is_set():
                self.reboot.clear()
                return
            try:
                m = json.loads(ws.recv(timeout=0.5))
            except TimeoutError:
                continue
            except ConnectionClosed:
                return
            if "error" in m:
                try:
                    ws.recv(timeout=TIMEOUT_S)
                except ConnectionClosed as closed:
                    self.refusals.append((m, closed.rcvd.code if closed.rcvd else None))
                    return
                raise AssertionError(f"the stream sent more after its error: {m}")
            if m["type"] == "snapshot":
                if self.first is None:
                    self.first = m["seq"]
                continue
            self.seqs.append(m["seq"])


class Load:
    """A visitor taking tickets and a clerk calling them, recording every answer."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url, self.headers = url, headers
        self.issued: list[dict[str, Any]] = []
        self.statuses: Counter[int] = Counter()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._visitor, daemon=True),
                        threading.Thread(target=self._clerk, daemon=True)]
        self.lock = threading.Lock()

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=2 * TIMEOUT_S)
            assert not t.is_alive(), "a load thread hung"

    def _send(self, http: httpx.Client, method: str, path: str, **kw: Any) -> httpx.Response | None:
        """The answer, counted by status; None (counted as 0) when none came within TIMEOUT_S."""
        try:
            r: httpx.Response | None = http.request(method, path, **kw)
        except httpx.HTTPError:
            r = None
        with self.lock:
            self.statuses[r.status_code if r is not None else 0] += 1
        return r

    def _visitor(self) -> None:
        with httpx.Client(base_url=self.url, timeout=TIMEOUT_S) as http:
            n = 0
            while not self.stop.is_set():
                n += 1
                r = self._send(http, "POST", f"{API}/tickets",
                               json={"service": SERVICES[n % len(SERVICES)], "channel": "walk_in"})
                if r is not None and r.status_code == 201:
                    body = r.json()
                    with self.lock:
                        self.issued.append({k: body[k] for k in ("id", "number", "service")})
                    time.sleep(0.02)
                else:
                    time.sleep(0.5)

    def _clerk(self) -> None:
        with httpx.Client(base_url=self.url, timeout=TIMEOUT_S, headers=self.headers) as http:
            while not self.stop.is_set():
                r = self._send(http, "POST", f"{API}/windows/{WINDOW}/call-next")
                if r is not None and r.status_code in (200, 409):  # 409: still calling, start it first
                    self._send(http, "POST", f"{API}/windows/{WINDOW}/start")
                time.sleep(0.2 if r is not None and r.status_code in (200, 204) else 0.5)


def _assert_unavailable(r: httpx.Response, what: str) -> None:
    """503 database_unavailable in both languages, with Retry-After (answered within the client's
    TIMEOUT_S, or httpx raises: a hang fails the test)."""
    assert r.status_code == 503, f"{what}: {r.status_code} {r.text}"
    body = r.json()
    assert body["error"] == UNAVAILABLE, f"{what}: {body}"
    assert "数据库暂时不可用" in body["detail"] and "database unavailable" in body["detail"], body
    assert int(r.headers["Retry-After"]) > 0, what


def _refused_stream(port: int, query: str) -> tuple[dict[str, Any], int | None]:
    with connect(f"ws://127.0.0.1:{port}/ws/halls/{HALL}{query}", open_timeout=TIMEOUT_S, close_timeout=5) as ws:
        body = json.loads(ws.recv(timeout=TIMEOUT_S))
        try:
            extra = ws.recv(timeout=TIMEOUT_S)
        except ConnectionClosed as closed:
            return body, closed.rcvd.code if closed.rcvd else None
    raise AssertionError(f"the stream went on during the outage: {body} {extra}")


def _current_seq(port: int) -> int:
    with connect(f"ws://127.0.0.1:{port}/ws/halls/{HALL}", open_timeout=TIMEOUT_S) as ws:
        m = json.loads(ws.recv(timeout=TIMEOUT_S))
    assert m["type"] == "snapshot", m
    return m["seq"]


def _wait(cond: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_database_away_for_a_minute_answers_503_then_recovers_without_restart(tmp_path: Path) -> None:
    direct = pg_url()
    assert direct is not None
    _reset_pg(direct)
    u = make_url(direct)
    data = tmp_path / "data"
    data.mkdir()
    with TcpProxy(u.host or "127.0.0.1", u.port or 5432) as proxy:
        via_proxy = u.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        r = subprocess.run([sys.executable, "-m", "hall.cli", "user", "add", CLERK, "--role", "clerk",
                            "--password", PASSWORD, "--hall", HALL], capture_output=True, text=True,
                           env=_env(data, via_proxy), cwd=ROOT, timeout=120, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stderr
        server = Server(data, via_proxy)
        screen = Screen(server.port)
        load: Load | None = None
        try:
            http = httpx.Client(base_url=server.url, timeout=TIMEOUT_S)
            r = http.post("/api/v1/auth/login", json={"username": CLERK, "password": PASSWORD})
            assert r.status_code == 200, r.text
            clerk = {"Authorization": f"Bearer {r.json()['token']}"}
            assert http.post(f"{API}/windows/{WINDOW}/sign-in", headers=clerk).status_code == 200
            screen.start()
            _wait(lambda: screen.first is not None, "the screen got no snapshot")

            # Tickets issued and called, then the database goes away in the middle of it.
            load = Load(server.url, clerk)
            load.start()
            _wait(lambda: len(load.issued) >= 20 and load.statuses[200] >= 3, "no load before the outage")
            proxy.cut()
            cut_at = time.monotonic()
            screen.reboot.set()  # the screen is switched off and on during the outage
            time.sleep(2 * PROBE_EVERY_S)
            load.finish()
            acked_before = list(load.issued)

            # During the outage: clear 503s, again and again, never a 500, never a hang.
            probes = 0
            while True:
                _assert_unavailable(http.post(f"{API}/tickets", json={"service": "SB", "channel": "walk_in"}),
                                    "issuing a ticket")
                _assert_unavailable(http.post(f"{API}/windows/{WINDOW}/call-next", headers=clerk), "call-next")
                _assert_unavailable(http.get(f"{API}/services"), "the services and their queues")
                _assert_unavailable(http.get(f"{API}/tickets", params={"status": "waiting"}, headers=clerk),
                                    "the waiting tickets")
                _assert_unavailable(http.get("/readyz"), "readiness")
                assert http.get("/healthz").status_code == 200  # the process itself is alive
                body, code = _refused_stream(server.port, f"?since={screen.last}")
                assert body["error"] == UNAVAILABLE and "数据库暂时不可用" in body["detail"], body
                assert code == 4503, code
                probes += 1
                if time.monotonic() - cut_at >= OUTAGE_S:
                    break
                time.sleep(PROBE_EVERY_S)

            # The database is back: the same process serves again, nothing restarted.
            proxy.restore()
            _wait(lambda: http.get("/readyz").status_code == 200, "not ready after the database came back")
            after: list[dict[str, Any]] = []
            for i in range(2 * len(SERVICES)):
                r = http.post(f"{API}/tickets", json={"service": SERVICES[i % len(SERVICES)], "channel": "walk_in"})
                assert r.status_code == 201, r.text
                after.append({k: r.json()[k] for k in ("id", "number", "service")})
            r = http.post(f"{API}/windows/{WINDOW}/call-next", headers=clerk)
            if r.status_code == 409:  # left calling when the database went away: start it, then go on
                assert http.post(f"{API}/windows/{WINDOW}/start", headers=clerk).status_code == 200
                r = http.post(f"{API}/windows/{WINDOW}/call-next", headers=clerk)
            assert r.status_code == 200, r.text
            assert http.get(f"{API}/services").status_code == 200
            final = _current_seq(server.port)
            _wait(lambda: screen.last is not None and screen.last >= final, f"the screen did not reach seq {final}")
            screen.stop.set()
            screen.join(timeout=10)
            assert screen.error is None, repr(screen.error)
            assert server.proc.poll() is None, "the server exited"
            http.close()
            assert server.stop() == 0, server.log()[-3000:]
        finally:
            if load is not None:
                load.stop.set()
            screen.stop.set()
            server.kill()

    log = server.log()
    eng = create_engine(direct)
    try:
        with eng.connect() as c:
            tickets = {r[0]: r[1:] for r in c.execute(text(
                "SELECT id, number, origin_service, day, counter FROM ticket WHERE hall_id = :h"), {"h": HALL})}
            counters = {(r[0], r[1]): r[2] for r in c.execute(text(
                "SELECT service, day, last FROM service_counter WHERE hall_id = :h"), {"h": HALL})}
            seqs = [r[0] for r in c.execute(text("SELECT seq FROM event WHERE hall_id = :h ORDER BY seq"),
                                            {"h": HALL})]
    finally:
        eng.dispose()

    # The load saw acknowledgements, then 503s: never a 500.
    assert load.statuses[201] >= 20 and load.statuses[503] >= 1, load.statuses
    assert not [s for s in load.statuses if s == 0 or (s >= 500 and s != 503)], load.statuses
    assert probes >= 2
    # Every acknowledged ticket is stored with its number, before the outage and after it.
    for t in acked_before + after:
        assert t["id"] in tickets, f"acknowledged ticket lost: {t}"
        assert tickets[t["id"]][:2] == (t["number"], t["service"]), t
    # Numbers go on after the last one given, none twice: each service's stored numbers are exactly
    # 1..its counter, and every number given after the outage is above those given before it.
    dup = [k for k, n in Counter((t["service"], t["number"]) for t in acked_before + after).items() if n > 1]
    assert not dup, f"numbers given twice: {dup}"
    by_service: dict[tuple[str, str], list[int]] = {}
    for _number, service, day, counter in tickets.values():
        by_service.setdefault((service, day), []).append(counter)
    assert set(by_service) == set(counters)
    for key, got in by_service.items():
        assert sorted(got) == list(range(1, counters[key] + 1)), key
    for t in after:
        earlier = [tickets[b["id"]][3] for b in acked_before if b["service"] == t["service"]]
        assert tickets[t["id"]][3] > max(earlier, default=0), t
    # The event log is gap-free, and the screen saw all of it from its snapshot on, once, in order,
    # after being refused clearly (error body, close code 4503) while the database was away.
    assert seqs == list(range(1, len(seqs) + 1))
    assert screen.first is not None and screen.seqs[-1] >= final
    assert screen.seqs == list(range(screen.first + 1, screen.seqs[-1] + 1)), "the screen missed or repeated events"
    assert screen.refusals, "the screen was never refused during the outage"
    assert all(b["error"] == UNAVAILABLE and c == 4503 for b, c in screen.refusals), screen.refusals
    # The log says it once (and once more a minute), and that it is back: a handful of lines for the
    # whole outage, where a line (or a traceback) per failed request or loop pass would be hundreds.
    assert log.count("database unavailable (") == 1, log[-3000:]
    assert log.count("database still unavailable") <= OUTAGE_S / 60 + 1, log[-3000:]
    assert "database available again" in log, log[-3000:]
    assert "unhandled error" not in log, log[-5000:]
    records = [line for line in log.splitlines() if re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ ", line)]
    assert len(records) <= 10 + OUTAGE_S / 60, "\n".join(records)
