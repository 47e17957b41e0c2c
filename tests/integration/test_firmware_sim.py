"""The simulated devices against a real broker, seen as the server would see them (CONTRACT.md, "MQTT").

Each test watches one device's topics with a raw paho subscriber and asserts what a user of the
contract sees: retained status, telemetry and events with boot/seq, command acks, last wills.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from firmware_sim.devices import Kiosk, Locker, SimDevice, TicketPrinter, make_device
from firmware_sim.fleet import Fleet, load_credentials, specs_from_hall_file
from hall.hallconfig import default_config_path
from tests.brokers import Broker, mosquitto_available, start_mosquitto

pytestmark = pytest.mark.skipif(not mosquitto_available(), reason="needs mosquitto")

HALL = "t-hall"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    b = start_mosquitto(tmp_path_factory.mktemp("mqtt"))
    yield b
    b.stop()


def _sim_threads() -> list[str]:
    return [t.name for t in threading.enumerate()
            if t.name.startswith(("sim-", "paho-mqtt-client-", "fleet-")) and t.is_alive()]


@pytest.fixture(autouse=True)
def no_leftover_threads() -> Iterator[None]:
    """Every device, watcher and fleet thread a test starts is gone when it ends."""
    before = set(_sim_threads())
    yield
    deadline = time.monotonic() + 3
    while set(_sim_threads()) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not set(_sim_threads()) - before


class Msg:
    def __init__(self, m: mqtt.MQTTMessage) -> None:
        self.topic = m.topic
        self.payload = m.payload
        self.retain = bool(m.retain)
        self.at = time.monotonic()
        self.leaf = m.topic.split("/", 4)[4] if m.topic.count("/") >= 4 else m.topic

    @property
    def json(self) -> Any:
        return json.loads(self.payload)


class Watcher:
    """A raw paho subscriber that records every message on some topics."""

    def __init__(self, broker: Broker, *topics: str) -> None:
        self.msgs: list[Msg] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"watch-{uuid.uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv311)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect_async(broker.host, broker.port, keepalive=10)
        self.client.loop_start()
        assert self._subscribed.wait(5), "watcher did not subscribe"

    def _on_message(self, client: mqtt.Client, userdata: Any, m: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.msgs.append(Msg(m))
            self._cond.notify_all()

    def wait_for(self, pred: Callable[[Msg], bool], timeout: float = 15.0, after: int = 0) -> Msg:
        """The first message (from index ``after``) matching ``pred``; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for m in self.msgs[after:]:
                    if pred(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    leaves = [(m.leaf, m.payload[:80]) for m in self.msgs[after:]]
                    raise AssertionError(f"no matching message in {timeout}s; got {leaves}")
                self._cond.wait(left)

    def of(self, leaf: str, after: int = 0) -> list[Msg]:
        with self._cond:
            return [m for m in self.msgs[after:] if m.leaf == leaf]

    def mark(self) -> int:
        with self._cond:
            return len(self.msgs)

    def publish(self, topic: str, body: dict[str, Any]) -> None:
        self.client.publish(topic, json.dumps(body), qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def watch(broker: Broker) -> Iterator[Callable[..., Watcher]]:
    made: list[Watcher] = []

    def make(*topics: str) -> Watcher:
        w = Watcher(broker, *topics)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


@pytest.fixture
def device(broker: Broker) -> Iterator[Callable[..., SimDevice]]:
    """Builds and starts a device; every device is stopped after the test."""
    made: list[SimDevice] = []

    def make(kind: str, device_id: str, **kw: Any) -> SimDevice:
        kw.setdefault("heartbeat_s", 0.3)
        kw.setdefault("keepalive", 5)
        d = make_device(kind, device_id, HALL, broker.url(), **kw)
        made.append(d)
        d.start()
        assert d.wait_connected(5)
        return d

    yield make
    for d in made:
        d.stop()


def prefix(device_id: str) -> str:
    return f"hall/{HALL}/device/{device_id}/"


def command(w: Watcher, device_id: str, name: str, args: dict[str, Any] | None = None, *,
            cmd_id: str | None = None, expires_in_s: float = 30) -> str:
    cmd_id = cmd_id or str(uuid.uuid4())
    w.publish(prefix(device_id) + "cmd", {"id": cmd_id, "name": name, "args": args or {},
                                          "expires_at": int(time.time() * 1000 + expires_in_s * 1000)})
    return cmd_id


def is_ack(cmd_id: str, status: str) -> Callable[[Msg], bool]:
    return lambda m: m.leaf == "cmd/ack" and m.json["id"] == cmd_id and m.json["status"] == status


def is_event(type_: str) -> Callable[[Msg], bool]:
    return lambda m: m.leaf == "event" and m.json["type"] == type_


def is_status(state: str, boot: int | None = None) -> Callable[[Msg], bool]:
    return lambda m: (m.leaf == "status" and m.json["state"] == state
                      and (boot is None or m.json["boot"] == boot))


def test_online_status_is_retained_and_telemetry_is_the_heartbeat(device, watch) -> None:
    d = device("kiosk", "kiosk-a1", fw="2.1.0")
    first = watch(prefix("kiosk-a1") + "#")
    first.wait_for(lambda m: m.leaf == "telemetry")
    # A subscriber that comes later still sees the device online: the status is retained.
    late = watch(prefix("kiosk-a1") + "status")
    status = late.wait_for(lambda m: m.leaf == "status")
    assert status.retain
    assert status.json == {"state": "online", "boot": d.boot, "kind": "kiosk", "fw": "2.1.0"}

    mark = first.mark()
    first.wait_for(lambda m: len(first.of("telemetry", mark)) >= 4, timeout=15)
    tel = [m.json for m in first.of("telemetry", mark)]
    seqs = [t["seq"] for t in tel]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert set(tel[0]["metrics"]) == {"paper_pct", "disk_pct", "cpu_pct", "temp_c"}
    assert abs(tel[-1]["ts"] - time.time() * 1000) < 5000
    gaps = [b.at - a.at for a, b in zip(first.of("telemetry", mark), first.of("telemetry", mark)[1:], strict=False)]
    assert max(gaps) < 0.3 + 0.5  # at least every heartbeat_s


def test_locker_open_door_flow_dedupe_and_telemetry(device, watch) -> None:
    w = watch(prefix("locker-a1") + "#")
    d = device("locker", "locker-a1", slots=4, auto_close_s=0.5)
    assert isinstance(d, Locker)
    tel = w.wait_for(lambda m: m.leaf == "telemetry").json
    assert tel["metrics"] == {"slots": [{"slot": n, "door": "closed", "occupied": False} for n in range(1, 5)]}

    mark = w.mark()
    cmd_id = command(w, "locker-a1", "open_door", {"slot": 3})
    done = w.wait_for(is_ack(cmd_id, "done"), after=mark)
    flow = [m for m in w.msgs[mark:] if m.leaf in ("cmd/ack", "event")]
    kinds = [(m.leaf, m.json.get("status") or m.json.get("type")) for m in flow]
    assert kinds[:3] == [("cmd/ack", "accepted"), ("event", "door_opened"), ("cmd/ack", "done")]
    assert flow[1].json["detail"] == {"slot": 3}
    assert done.json["detail"]["slot"] == 3
    # The door closes by itself; the slot was empty, so something was put in.
    closed = w.wait_for(is_event("door_closed"), after=mark)
    assert closed.json["detail"] == {"slot": 3, "occupied": True}
    assert closed.json["seq"] > flow[1].json["seq"]

    # The same command id again: answered with the earlier outcome, the door does not open again.
    mark = w.mark()
    command(w, "locker-a1", "open_door", {"slot": 3}, cmd_id=cmd_id)
    again = w.wait_for(lambda m: m.leaf == "cmd/ack", after=mark)
    assert again.json["id"] == cmd_id and again.json["status"] == "done"
    time.sleep(0.3)
    assert not [m for m in w.of("event", mark) if m.json["type"] == "door_opened"]
    assert len(w.of("cmd/ack", mark)) == 1

    # Closing by hand (a test or the fleet) with a given occupancy.
    mark = w.mark()
    cmd2 = command(w, "locker-a1", "open_door", {"slot": 1})
    w.wait_for(is_ack(cmd2, "done"), after=mark)
    d.auto_close_s = None
    d.close_door(1, occupied=False)
    assert w.wait_for(is_event("door_closed"), after=mark).json["detail"] == {"slot": 1, "occupied": False}


def test_expired_unknown_and_bad_commands_are_rejected(device, watch) -> None:
    w = watch(prefix("locker-a2") + "#")
    device("locker", "locker-a2", slots=2)
    mark = w.mark()
    expired = command(w, "locker-a2", "open_door", {"slot": 1}, expires_in_s=-1)
    assert w.wait_for(lambda m: m.leaf == "cmd/ack" and m.json["id"] == expired, after=mark).json == {
        "id": expired, "status": "rejected", "detail": {"reason": "expired"}}
    unknown = command(w, "locker-a2", "print", {"ticket_id": "t1"})
    assert w.wait_for(is_ack(unknown, "rejected"), after=mark).json["detail"]["reason"] == "unknown_command"
    bad_slot = command(w, "locker-a2", "open_door", {"slot": 9})
    assert w.wait_for(is_ack(bad_slot, "rejected"), after=mark).json["detail"]["reason"] == "bad_args"
    assert not w.of("event", mark)


def test_stuck_door_and_door_opened_by_hand(device, watch) -> None:
    w = watch(prefix("locker-a3") + "#")
    d = device("locker", "locker-a3", slots=3)
    assert isinstance(d, Locker)
    d.stuck_door(2)
    mark = w.mark()
    cmd_id = command(w, "locker-a3", "open_door", {"slot": 2})
    w.wait_for(is_ack(cmd_id, "accepted"), after=mark)
    time.sleep(0.8)
    assert [m.json["status"] for m in w.of("cmd/ack", mark)] == ["accepted"]
    assert not w.of("event", mark)
    assert d.doors[2] == "closed"

    mark = w.mark()
    d.open_door_by_hand(1)
    assert w.wait_for(is_event("door_opened"), after=mark).json["detail"] == {"slot": 1}
    w.wait_for(lambda m: m.leaf == "telemetry" and m.json["metrics"]["slots"][0]["door"] == "open", after=mark)
    assert not w.of("cmd/ack", mark)


def test_printer_runs_out_of_paper_and_jams(device, watch) -> None:
    w = watch(prefix("printer-a1") + "#")
    d = device("ticket_printer", "printer-a1", paper_pct=16.0, paper_per_ticket=1.0)
    assert isinstance(d, TicketPrinter)
    mark = w.mark()
    c1 = command(w, "printer-a1", "print", {"ticket_id": "tk-1"})
    assert w.wait_for(is_ack(c1, "done"), after=mark).json["detail"]["paper_pct"] == 15.0
    c2 = command(w, "printer-a1", "print", {"ticket_id": "tk-2"})
    w.wait_for(is_ack(c2, "done"), after=mark)
    low = w.wait_for(is_event("paper_low"), after=mark)
    assert low.json["detail"]["paper_pct"] == 14.0

    d.run_out_of_paper()
    out = w.wait_for(is_event("paper_out"), after=mark)
    assert out.json["seq"] > low.json["seq"]
    assert len([m for m in w.of("event", mark) if m.json["type"] == "paper_low"]) == 1
    c3 = command(w, "printer-a1", "print", {"ticket_id": "tk-3"})
    assert w.wait_for(is_ack(c3, "failed"), after=mark).json["detail"]["reason"] == "paper_out"
    w.wait_for(lambda m: m.leaf == "telemetry" and m.json["metrics"] == {"paper_pct": 0}, after=mark)

    d.refill()
    d.jam()
    w.wait_for(is_event("jam"), after=mark)
    c4 = command(w, "printer-a1", "print", {"ticket_id": "tk-4"})
    assert w.wait_for(is_ack(c4, "failed"), after=mark).json["detail"]["reason"] == "jammed"
    d.clear_jam()
    assert w.wait_for(is_event("fault_cleared"), after=mark).json["detail"] == {"code": "jam"}
    c5 = command(w, "printer-a1", "print", {"ticket_id": "tk-5"})
    w.wait_for(is_ack(c5, "done"), after=mark)


def test_reboot_command_gives_a_new_larger_boot(device, watch, broker) -> None:
    w = watch(prefix("screen-a1") + "#")
    d = device("screen", "screen-a1")
    old = d.boot
    w.wait_for(lambda m: m.leaf == "telemetry" and m.json["seq"] >= 2)
    mark = w.mark()
    cmd_id = command(w, "screen-a1", "reboot")
    w.wait_for(is_ack(cmd_id, "accepted"), after=mark)
    w.wait_for(is_ack(cmd_id, "done"), after=mark)
    online = w.wait_for(lambda m: m.leaf == "status" and m.json["state"] == "online", after=mark)
    assert online.json["boot"] > old and online.json["boot"] == d.boot
    first = w.wait_for(lambda m: m.leaf == "telemetry", after=w.msgs.index(online))
    assert first.json["seq"] == 1
    # The retained status is the new boot's online.
    late = watch(prefix("screen-a1") + "status")
    assert late.wait_for(lambda m: True).json == {"state": "online", "boot": d.boot, "kind": "screen", "fw": "1.0.0"}

    # An unclean reboot (power cut) also gives a larger boot; display works on the new boot.
    before = d.boot
    assert d.reboot(clean=False) > before
    assert d.wait_connected(15)  # subscribed to its cmd topic again: a command sent earlier would be missed
    mark = w.mark()
    c2 = command(w, "screen-a1", "display", {"text": "请A012号到3号窗口办理"})
    w.wait_for(is_ack(c2, "done"), after=mark)
    assert d.text == "请A012号到3号窗口办理"


def test_cut_network_fires_the_last_will_with_the_old_boot(device, watch) -> None:
    w = watch(prefix("env-a1") + "#")
    d = device("env_sensor", "env-a1", keepalive=2, heartbeat_s=0.5)
    boot = d.boot
    w.wait_for(is_status("online", boot))
    t0 = time.monotonic()
    d.cut_network()
    # Mosquitto 2.0 checks keepalives in whole seconds: the will comes 1.5 × keepalive + up to ~3 s
    # after the last packet (later on a loaded machine: CI runs two suites at once).
    will = w.wait_for(is_status("offline", boot), timeout=2 * 1.5 + 12)
    assert will.at - t0 <= 2 * 1.5 + 8
    assert will.json == {"state": "offline", "boot": boot, "kind": "env_sensor", "fw": "1.0.0"}
    mark = w.mark()
    time.sleep(0.6)
    assert not w.of("telemetry", mark)  # silent: nothing gets through
    late = watch(prefix("env-a1") + "status")
    assert late.wait_for(lambda m: True).json["state"] == "offline"

    # The network comes back: the same boot goes online again and seq goes on.
    last_seq = max(m.json["seq"] for m in w.of("telemetry"))
    d.restore_network()
    w.wait_for(is_status("online", boot), after=mark)
    assert w.wait_for(lambda m: m.leaf == "telemetry", after=mark).json["seq"] > last_seq

    # A reset connection: the broker publishes the will at once.
    mark = w.mark()
    t0 = time.monotonic()
    d.cut_network("reset")
    w.wait_for(is_status("offline", boot), after=mark, timeout=10)
    assert time.monotonic() - t0 < 2.5
    d.restore_network()
    w.wait_for(is_status("online", boot), after=mark)


def test_malformed_payloads_arrive_as_sent(device, watch) -> None:
    w = watch(f"hall/{HALL}/#")
    d = device("kiosk", "kiosk-a2")
    for kind in ("invalid_json", "wrong_schema", "oversized", "other_leaf", "other_device"):
        mark = w.mark()
        topic, payload = d.send_malformed(kind, size=200_000)
        got = w.wait_for(lambda m, t=topic, p=payload: m.topic == t and m.payload == p, after=mark)
        assert got.payload == payload
    assert topic == f"hall/{HALL}/device/kiosk-a2-x/telemetry"
    assert d.stats.malformed == 5


def test_clock_skew_faults_and_caller_buttons(device, watch) -> None:
    w = watch(f"hall/{HALL}/device/+/event", f"hall/{HALL}/device/kiosk-a3/telemetry")
    k = device("kiosk", "kiosk-a3", now_ms=lambda: 1_800_000_000_000)
    assert isinstance(k, Kiosk)
    assert w.wait_for(lambda m: m.leaf == "telemetry").json["ts"] == 1_800_000_000_000
    k.set_clock_skew(-120)
    mark = w.mark()
    assert w.wait_for(lambda m: m.leaf == "telemetry", after=mark).json["ts"] == 1_800_000_000_000 - 120_000
    k.fault("printer_head", "打印头过热")
    k.clear_fault()
    k.scan("ankang")
    kinds = [(m.json["type"], m.json["detail"].get("code")) for m in
             [w.wait_for(is_event(t), after=mark) for t in ("fault", "fault_cleared", "scan")]]
    assert kinds == [("fault", "printer_head"), ("fault_cleared", "printer_head"), ("scan", None)]

    c = device("caller", "caller-a1", window="3")
    c.press("call_next")
    c.press("recall")
    calls = [w.wait_for(lambda m, t=t: m.topic.startswith(prefix("caller-a1")) and m.json["type"] == t)
             for t in ("call_next", "recall")]
    assert [m.json["detail"] for m in calls] == [{"window": "3"}, {"window": "3"}]
    assert calls[1].json["seq"] > calls[0].json["seq"]


def test_fleet_from_the_hall_file(broker, watch, tmp_path) -> None:
    hall, specs = specs_from_hall_file(default_config_path())
    w = watch(f"hall/{hall}/device/+/status")
    creds = tmp_path / "creds.json"
    creds.write_text(json.dumps({specs[0].id: {"username": "u", "password": "p"}}))
    fleet = Fleet.from_hall_file(default_config_path(), broker.url(), heartbeat_s=0.5, keepalive=5, rate=100,
                                 credentials=load_credentials(creds))
    try:
        fleet.start(wait_s=10)
        assert set(fleet.devices) == {s.id for s in specs}
        assert fleet.devices[specs[0].id].username == "u"
        lockers = [d for d in fleet.devices.values() if isinstance(d, Locker)]
        assert [len(d.doors) for d in lockers] == [s.slots for s in specs if s.kind == "locker"]
        w.wait_for(lambda m: len({x.topic for x in w.msgs if x.json["state"] == "online"}) == len(specs))
        t0 = fleet.totals().telemetry
        time.sleep(1.0)
        assert fleet.totals().telemetry - t0 >= 80  # ~100/s from the load thread plus heartbeats
        assert fleet.totals().online == len(specs)
    finally:
        fleet.stop()
    # A clean stop announces offline, retained.
    late = watch(f"hall/{hall}/device/+/status")
    late.wait_for(lambda m: len({x.topic for x in late.msgs if x.json["state"] == "offline"}) == len(specs))


def test_fleet_cli_with_counts_and_faults(broker) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "firmware_sim.fleet", "--broker", broker.url(), "--hall", "t-cli",
         "--kiosks", "3", "--lockers", "2", "--slots", "4", "--callers", "2", "--rate", "50", "--duration", "2.5",
         "--progress", "1", "--heartbeat", "1", "--keepalive", "3", "--faults", "--fault-rate", "60",
         "--seed", "3"],
        cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("fleet: 7 devices of hall t-cli")
    assert any(line.startswith("t=") and "telemetry=" in line for line in lines)
    assert lines[-1].startswith("done:")
