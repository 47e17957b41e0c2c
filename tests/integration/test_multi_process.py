"""Several ``hall serve`` processes on one PostgreSQL, Redis and Mosquitto (#8).

Two processes with two halls: each owns one hall's single-writer work (hall.leases). A call-out
made through one process reaches a screen on the other; tickets issued through both never share a
number; a device request sent to the process that does not own the hall is answered by the owner;
when the owner is killed, the other takes its hall over within the lease's length, the hall's
devices stay online, and when it is back the halls are spread again; wrong pickup codes sent
through the other process count under the visitor's address; wrong passwords sent to both
processes add up to one lockout. Also ``hall serve --workers 2``
on one port. Runs where PostgreSQL, Redis and Mosquitto answer (CI's PostgreSQL pass).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from firmware_sim.devices import make_device
from hall.hallconfig import default_config_path
from hall.iot.credentials import CredentialStore
from tests.brokers import Broker, free_port, mosquitto_available, start_broker

ROOT = Path(__file__).parents[2]
HALLS = ("mp-a", "mp-b")
PASSWORD = "multi-proc-2026"
CLOCK = "2026-11-23T09:30+08:00"

pytestmark = pytest.mark.skipif(
    not (os.environ.get("HALL_TEST_DATABASE_URL") and os.environ.get("HALL_TEST_REDIS_URL") and mosquitto_available()),
    reason="needs PostgreSQL (HALL_TEST_DATABASE_URL), Redis (HALL_TEST_REDIS_URL) and Mosquitto")


def wait_for(fn: Any, timeout: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, OSError):
            last = fn()
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {last!r})")


@pytest.fixture
def database() -> Iterator[str]:
    """A database of its own (the processes migrate it), dropped after."""
    base = os.environ["HALL_TEST_DATABASE_URL"]
    name = f"hall_mp_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def hall_files(tmp: Path) -> list[Path]:
    """Two halls made from the bundled example, with a 1 s device heartbeat."""
    src = default_config_path().read_text(encoding="utf-8")
    out = []
    for i, hid in enumerate(HALLS):
        t = re.sub(r'(?m)^id = "hn-tja"', f'id = "{hid}"', src)
        t = re.sub(r'(?m)^name = "天长市政务服务中心"', f'name = "测试大厅{i + 1}"', t)
        t = re.sub(r"(?m)^heartbeat_s = 30", "heartbeat_s = 1", t)
        t = re.sub(r"(?m)^reboot_grace_s = 10", "reboot_grace_s = 2\nscreen_dark_s = 4", t)
        p = tmp / f"{hid}.toml"
        p.write_text(t, encoding="utf-8")
        out.append(p)
    return out


class Proc:
    """One ``hall serve`` process in its own process group."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], data: Path) -> None:
        self.name, self.args, self.env, self.data = name, args, env, data
        self.p: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> Proc:
        self.starts += 1
        log = open(self.data / f"{self.name}-{self.starts}.log", "wb")  # noqa: SIM115 - the child writes it
        self.p = subprocess.Popen([sys.executable, "-m", "hall.cli", "serve", *self.args], env=self.env, cwd=ROOT,
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        log.close()
        return self

    def log(self) -> str:
        return (self.data / f"{self.name}-{self.starts}.log").read_text(errors="replace")[-3000:]

    def signal(self, sig: int) -> None:
        if self.p is not None and self.p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.p.pid, sig)
            try:
                self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait(timeout=30)


@pytest.fixture
def cluster(tmp_path: Path, database: str) -> Iterator[dict[str, Any]]:
    broker: Broker = start_broker(tmp_path, kind="mosquitto")
    store = CredentialStore(broker.store)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALL_")}
    env.update(HALL_DATA_DIR=str(tmp_path), HALL_DATABASE_URL=database, HALL_SECRET="mp-secret",
               HALL_CLOCK=CLOCK, HALL_REDIS_URL=os.environ["HALL_TEST_REDIS_URL"],
               HALL_REDIS_PREFIX=f"mp{uuid.uuid4().hex[:8]}", HALL_MQTT_URL=broker.url(), PYTHONUNBUFFERED="1",
               HALL_LOG_LEVEL="INFO",
               # As on separate machines: uvicorn trusts X-Forwarded-For from loopback by default,
               # which would hide whose address a process forwarded; here no process trusts another.
               FORWARDED_ALLOW_IPS="192.0.2.1")
    configs = hall_files(tmp_path)
    cfg_args = [a for c in configs for a in ("--config", str(c))]
    procs: list[Proc] = []
    out = {"broker": broker, "store": store, "env": env, "cfg_args": cfg_args, "procs": procs, "tmp": tmp_path}
    try:
        yield out
    finally:
        for p in procs:
            p.signal(signal.SIGTERM)
            print(f"===== {p.name} (shown when the test fails)\n{p.log()}")
        broker.stop()


def health(port: int) -> dict[str, Any]:
    return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=3).json()


def start_nodes(c: dict[str, Any], names: list[str]) -> dict[str, tuple[Proc, int]]:
    out = {}
    for name in names:
        port = free_port()
        p = Proc(name, ["--reuse-port", "--port", str(port), *c["cfg_args"]], {**c["env"], "HALL_NODE": name},
                 c["tmp"]).start()
        c["procs"].append(p)
        out[name] = (p, port)
    for name, (p, port) in out.items():
        wait_for(lambda p=p, port=port: p.p.poll() is None and health(port)["status"] == "ok", 90,
                 f"{name} to answer ({p.log()})")
    return out


def spread(nodes: dict[str, tuple[Proc, int]]) -> dict[str, list[str]] | None:
    """Node -> halls it owns, once every hall has exactly one owner and each node one hall."""
    owns = {n: health(port)["owns"] for n, (_p, port) in nodes.items()}
    every = sorted(h for hs in owns.values() for h in hs)
    return owns if every == sorted(HALLS) and all(len(hs) == 1 for hs in owns.values()) else None


def login(port: int, user: str) -> dict[str, str]:
    r = httpx.post(f"http://127.0.0.1:{port}/api/v1/auth/login", json={"username": user, "password": PASSWORD},
                   timeout=30)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def add_users(c: dict[str, Any]) -> None:
    env = c["env"]
    for hall in HALLS:
        for user, role in ((f"{hall}-c1", "clerk"), (f"{hall}-duty", "duty_officer")):
            subprocess.run([sys.executable, "-m", "hall.cli", "user", "add", user, "--role", role, "--password",
                            PASSWORD, "--hall", hall], env=env, cwd=ROOT, check=True,
                           capture_output=True, timeout=120)


def start_devices(c: dict[str, Any]) -> dict[str, Any]:
    """A kiosk and a locker per hall, each with its own MQTT account (as `hall device add` makes them)."""
    out = {}
    for hall in HALLS:
        for kind, dev in (("kiosk", "kiosk-01"), ("locker", "locker-01")):
            creds = c["store"].add_device(hall, dev, kind)
            c["broker"].reload()
            d = make_device(kind, dev, hall, c["broker"].url(), username=creds.username, password=creds.password,
                            heartbeat_s=0.5, keepalive=2)
            out[(hall, dev)] = d.start()
    for d in out.values():
        assert d.wait_connected(15), f"{d.device_id} did not connect"
    return out


def device(port: int, hall: str, dev: str, headers: dict[str, str]) -> dict[str, Any]:
    r = httpx.get(f"http://127.0.0.1:{port}/api/v1/halls/{hall}/devices/{dev}", headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


class Screen(threading.Thread):
    """A hall screen on one process's stream: every event it receives, in order."""

    def __init__(self, port: int, hall: str) -> None:
        super().__init__(daemon=True)
        self.url = f"ws://127.0.0.1:{port}/ws/halls/{hall}"
        self.events: list[dict[str, Any]] = []
        self.snapshot_seq: int | None = None
        self.ready = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        with contextlib.suppress(ConnectionClosed), connect(self.url, open_timeout=30) as ws:
            self.snapshot_seq = json.loads(ws.recv(timeout=30))["seq"]
            self.ready.set()
            while not self.stop.is_set():
                with contextlib.suppress(TimeoutError):
                    self.events.append(json.loads(ws.recv(timeout=0.5)))


def test_two_processes_share_the_halls_the_stream_and_the_devices(cluster):
    c = cluster
    nodes = start_nodes(c, ["node-a", "node-b"])
    owns = wait_for(lambda: spread(nodes), 40, "each node to own one hall")
    owner = {hs[0]: n for n, hs in owns.items()}
    add_users(c)
    hall = HALLS[0]
    a_port = nodes[owner[hall]][1]  # the owner of hall A …
    b_name = next(n for n in nodes if n != owner[hall])
    b_port = nodes[b_name][1]  # … and the other process
    api = f"/api/v1/halls/{hall}"

    # A call-out made through one process reaches a screen connected to the other.
    screen = Screen(b_port, hall)
    screen.start()
    assert screen.ready.wait(30)
    kiosk = httpx.Client(base_url=f"http://127.0.0.1:{a_port}", timeout=30)
    issued = kiosk.post(f"{api}/tickets", json={"service": "SB", "channel": "walk_in"})
    assert issued.status_code == 201, issued.text
    clerk = login(a_port, f"{hall}-c1")
    assert kiosk.post(f"{api}/windows/1/sign-in", headers=clerk).status_code == 200
    called = kiosk.post(f"{api}/windows/1/call-next", headers=clerk)
    assert called.status_code == 200, called.text
    number = called.json()["ticket"]["number"]
    got = wait_for(lambda: [e for e in screen.events if e["type"] == "ticket.called"], 20,
                   "the call-out on the other process's screen")
    assert got[0]["data"]["ticket"] == number
    seqs = [e["seq"] for e in screen.events]
    assert seqs == list(range(screen.snapshot_seq + 1, screen.snapshot_seq + 1 + len(seqs))), "a gap on the screen"

    # Tickets issued through both processes at once never share a number.
    numbers: list[str] = []
    lock = threading.Lock()

    def issue(port: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            for _ in range(40):
                r = http.post(f"{api}/tickets", json={"service": "YB", "channel": "walk_in"})
                assert r.status_code == 201, r.text
                with lock:
                    numbers.append(r.json()["number"])

    workers = [threading.Thread(target=issue, args=(p,)) for p in (a_port, b_port) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert len(numbers) == 160 and len(set(numbers)) == 160

    # Devices: each process answers for every hall's devices (the owner's twins, forwarded).
    devs = start_devices(c)
    duty_b = login(b_port, f"{hall}-duty")
    for port in (a_port, b_port):
        wait_for(lambda port=port: device(port, hall, "kiosk-01", duty_b)["online"], 30,
                 f"kiosk-01 online, asked on port {port}")
    # A command sent to the process that does not own the hall reaches the device through the owner.
    r = httpx.post(f"http://127.0.0.1:{b_port}{api}/devices/locker-01/commands", headers=duty_b, timeout=30,
                   json={"name": "open_door", "args": {"slot": 1}})
    assert r.status_code == 202, r.text
    cmd = r.json()["id"]
    state = wait_for(lambda: httpx.get(f"http://127.0.0.1:{b_port}{api}/commands/{cmd}", headers=duty_b,
                                       timeout=30).json()["state"] in ("done", "failed", "timeout"), 40,
                     "the forwarded command to finish")
    got_cmd = httpx.get(f"http://127.0.0.1:{b_port}{api}/commands/{cmd}", headers=duty_b, timeout=30).json()
    assert state and got_cmd["state"] == "done", json.dumps(got_cmd)

    # A registered hall screen open on the process that does not own its hall is not dark; once
    # it closes, it is.
    def dark() -> list[dict[str, Any]]:
        r = httpx.get(f"http://127.0.0.1:{b_port}{api}/alarms", params={"state": "open"}, headers=duty_b, timeout=30)
        return [a for a in r.json() if a["type"] == "screen_dark" and a.get("device") == "screen-01"
                and a["state"] in ("active", "acked")]  # not "cleared": the condition is over

    with connect(f"ws://127.0.0.1:{b_port}/ws/halls/{hall}?device=screen-01", open_timeout=30) as ws:
        ws.recv(timeout=30)
        wait_for(lambda: not dark(), 30, "screen-01's dark alarm (if any from before) to clear")
        time.sleep(10)  # more than twice screen_dark_s
        assert not dark(), "a screen open on another process was taken for dark"
    wait_for(dark, 30, "screen-01 to be dark once closed")

    # The owner of hall A dies: the other process takes the hall over within the lease's length,
    # and its devices stay online (no false offline alarm).
    nodes[owner[hall]][0].signal(signal.SIGKILL)
    wait_for(lambda: sorted(health(b_port)["owns"]) == sorted(HALLS), 40, "the survivor to own both halls")
    time.sleep(3)  # several heartbeat windows under the new owner
    for dev in ("kiosk-01", "locker-01"):
        assert device(b_port, hall, dev, duty_b)["online"], f"{dev} went offline on the takeover"
    alarms = httpx.get(f"http://127.0.0.1:{b_port}{api}/alarms", params={"state": "open"}, headers=duty_b,
                       timeout=30).json()
    assert not [a for a in alarms if a["type"] == "offline"], alarms
    # Tickets go on through the survivor, numbers continue.
    r = httpx.post(f"http://127.0.0.1:{b_port}{api}/tickets", json={"service": "YB", "channel": "walk_in"},
                   timeout=30)
    assert r.status_code == 201 and r.json()["number"] not in numbers

    # The dead process is started again: the halls are spread over both once more.
    dead = nodes[owner[hall]][0]
    dead.start()
    wait_for(lambda: dead.p.poll() is None and health(nodes[owner[hall]][1])["status"] == "ok", 90, "the restart")
    wait_for(lambda: spread(nodes), 40, "the halls spread over both processes again")
    for d in devs.values():
        d.stop(clean=True)

    # Wrong pickup codes sent through the process that does not own the hall are counted on the
    # owner under the visitor's own address (signed by the forwarder), not the forwarder's: one
    # visitor guessing from 127.0.0.2 is locked out, and the next one, from 127.0.0.1, is not.
    owns = wait_for(lambda: spread(nodes), 40, "the halls spread over both processes")
    other = next(port for n, (_p, port) in nodes.items() if hall not in owns[n])
    with httpx.Client(base_url=f"http://127.0.0.1:{other}", timeout=30,
                      transport=httpx.HTTPTransport(local_address="127.0.0.2")) as guesser:
        answers = [guesser.post(f"{api}/lockers/pickup", json={"code": "00000000"}) for _ in range(11)]
    assert [a.status_code for a in answers] == [404] * 9 + [429, 429], [a.text for a in answers]
    r = httpx.post(f"http://127.0.0.1:{other}{api}/lockers/pickup", json={"code": "00000000"}, timeout=30)
    assert r.status_code == 404 and r.json()["error"] == "bad_code" and r.json()["tries_left"] == 9, r.text

    # Wrong passwords count across processes: five on each lock the sign-in out on both (two
    # processes do not give twice the tries). Last, as it locks this address out for ten minutes.
    ports = [port for _p, port in nodes.values()]
    for i in range(10):
        r = httpx.post(f"http://127.0.0.1:{ports[i % 2]}/api/v1/auth/login",
                       json={"username": f"{hall}-c1", "password": "wrong-guess"}, timeout=30)
        assert r.status_code == 401, r.text
    for port in ports:
        r = httpx.post(f"http://127.0.0.1:{port}/api/v1/auth/login",
                       json={"username": f"{hall}-c1", "password": PASSWORD}, timeout=30)
        assert r.status_code == 429 and r.json()["error"] == "login_locked", r.text


def test_workers_on_one_port(cluster):
    """``hall serve --workers 2``: one address, two processes, each with a hall; both serve it."""
    c = cluster
    port = free_port()
    p = Proc("workers", ["--workers", "2", "--port", str(port), *c["cfg_args"]], c["env"], c["tmp"]).start()
    c["procs"].append(p)

    def both() -> set[str] | None:
        seen = {}
        for _ in range(40):  # new connections: the kernel spreads them over the two processes
            h = health(port)
            seen[h["node"]] = tuple(h["owns"])
        return set(seen) if len(seen) == 2 and sorted(x for v in seen.values() for x in v) == sorted(HALLS) else None

    nodes = wait_for(both, 90, f"two workers, each with one hall ({p.log()})")
    assert all(n.endswith(("-w0", "-w1")) for n in nodes)
    for hall in HALLS:
        r = httpx.post(f"http://127.0.0.1:{port}/api/v1/halls/{hall}/tickets",
                       json={"service": "SB", "channel": "walk_in"}, timeout=30)
        assert r.status_code == 201, r.text
