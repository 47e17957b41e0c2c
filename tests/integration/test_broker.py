"""Device credentials and topic ACL on real brokers: Mosquitto 2 and the embedded amqtt broker.

The same password file and ACL file (written by :class:`CredentialStore`) serve both; every
test runs against each broker. Clients are paho-mqtt 2 speaking MQTT 3.1.1, as devices do.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from hall.iot.broker import EmbeddedBroker, MqttPortInUse, mqtt_endpoint, parse_bind
from hall.iot.credentials import CredentialStore, Provisioned
from hall.settings import get_settings
from tests.brokers import Broker, mosquitto_available, start_broker

HALL = "hn-tja"
KINDS = [pytest.param("mosquitto", marks=pytest.mark.skipif(not mosquitto_available(), reason="no mosquitto")),
         "embedded"]
NOT_AUTHORIZED = "Not authorized"  # paho's name for MQTT 3.1.1 CONNACK return code 5


class Client:
    """A paho client that records its CONNACK, SUBACKs and messages."""

    def __init__(self, broker: Broker, username: str | None, password: str | None, subs: tuple[str, ...] = (),
                 will: str | None = None) -> None:
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.connack: queue.Queue[str] = queue.Queue()
        self.subacks: queue.Queue[list[int]] = queue.Queue()
        self.disconnects: queue.Queue[str] = queue.Queue()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:10]}",
                             protocol=mqtt.MQTTv311)
        if username is not None:
            self.c.username_pw_set(username, password)
        if will:
            self.c.will_set(will, b'{"state": "offline"}', qos=1, retain=True)
        self.c.reconnect_delay_set(30, 60)  # a refused client must not retry within a test

        def on_connect(c, _u, _f, rc, _p):  # noqa: ANN001
            self.connack.put(str(rc))
            if not rc.is_failure:
                for s in subs:
                    c.subscribe(s, 1)

        self.c.on_connect = on_connect
        self.c.on_subscribe = lambda _c, _u, _m, rcs, _p: self.subacks.put([r.value for r in rcs])
        self.c.on_message = lambda _c, _u, m: self.messages.put((m.topic, m.payload))
        self.c.on_disconnect = lambda _c, _u, _f, rc, _p: self.disconnects.put(str(rc))
        self.c.connect_async(broker.host, broker.port, keepalive=30)
        self.c.loop_start()
        self.n_subs = len(subs)

    def ready(self, timeout: float = 5) -> Client:
        """Wait for CONNACK success and every SUBACK."""
        assert self.connack.get(timeout=timeout) == "Success"
        for _ in range(self.n_subs):
            self.subacks.get(timeout=timeout)
        return self

    def refused(self, timeout: float = 5) -> str:
        return self.connack.get(timeout=timeout)

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        self.c.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(timeout=5)

    def topics(self, until: str, timeout: float = 5) -> list[str]:
        """Topics received up to and including the first message on ``until``."""
        got: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                topic, _ = self.messages.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            got.append(topic)
            if topic == until:
                return got
        raise AssertionError(f"no message on {until}; got {got}")

    def drain(self, wait: float = 0.3) -> list[str]:
        time.sleep(wait)
        out = []
        while not self.messages.empty():
            out.append(self.messages.get_nowait()[0])
        return out

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


class Env:
    def __init__(self, tmp_path: Path, kind: str) -> None:
        self.store = CredentialStore(tmp_path / "mqtt")
        self.server_user, self.server_pw = self.store.server_credentials()
        self.kiosk = self.store.add_device(HALL, "kiosk-01", "kiosk")
        self.other = self.store.add_device(HALL, "kiosk-02", "kiosk")
        self.screen = self.store.add_device(HALL, "screen-01", "screen")
        self.broker = start_broker(tmp_path, kind=kind, password_file=self.store.password_file,
                                   acl_file=self.store.acl_file)
        self.clients: list[Client] = []

    def client(self, username: str | None, password: str | None, *subs: str, will: str | None = None) -> Client:
        c = Client(self.broker, username, password, subs, will)
        self.clients.append(c)
        return c

    def device(self, p: Provisioned, *subs: str, will: str | None = None) -> Client:
        return self.client(p.username, p.password, *subs, will=will)

    def server(self, *subs: str) -> Client:
        return self.client(self.server_user, self.server_pw, *subs)

    def close(self) -> None:
        for c in self.clients:
            c.close()
        self.broker.stop()


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """Every broker and client thread a test starts is gone when it ends."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    while (left := set(threading.enumerate()) - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"threads left running: {sorted(t.name for t in left)}"


@pytest.fixture(params=KINDS)
def env(request, tmp_path):
    e = Env(tmp_path, request.param)
    yield e
    e.close()


def test_device_publishes_under_its_prefix_and_the_server_receives_it(env):
    server = env.server("hall/#").ready()
    kiosk = env.device(env.kiosk).ready()
    for leaf in ("status", "telemetry", "event", "cmd/ack"):
        kiosk.publish(env.kiosk.topic_prefix + leaf, b"{}")
    got = server.topics(until=env.kiosk.topic_prefix + "cmd/ack")
    assert got == [env.kiosk.topic_prefix + leaf for leaf in ("status", "telemetry", "event", "cmd/ack")]


def test_a_device_cannot_publish_under_another_devices_prefix(env):
    server = env.server("hall/#").ready()
    kiosk = env.device(env.kiosk).ready()
    kiosk.publish(env.other.topic_prefix + "telemetry", b"{}")  # posing as kiosk-02
    kiosk.publish(env.kiosk.topic_prefix + "cmd", b"{}")  # a command to itself
    kiosk.publish(f"hall/{HALL}/window/1/display", b"{}")  # the window screen's topic
    kiosk.publish(env.kiosk.topic_prefix + "telemetry", b"{}")  # the marker: its own, allowed
    got = server.topics(until=env.kiosk.topic_prefix + "telemetry") + server.drain()
    assert got == [env.kiosk.topic_prefix + "telemetry"]


def test_wrong_password_and_anonymous_are_refused(env):
    assert env.client(env.kiosk.username, "not-the-password").refused() == NOT_AUTHORIZED
    assert env.client(None, None).refused() == NOT_AUTHORIZED
    assert env.client("nobody", env.kiosk.password).refused() == NOT_AUTHORIZED
    # a password is bound to its username
    assert env.client(env.other.username, env.kiosk.password).refused() == NOT_AUTHORIZED


def test_the_server_commands_a_device_and_only_that_device_reads_it(env):
    kiosk = env.device(env.kiosk, env.kiosk.topic_prefix + "cmd").ready()
    other = env.device(env.other, env.kiosk.topic_prefix + "cmd", "hall/#").ready()
    server = env.server().ready()
    server.publish(env.kiosk.topic_prefix + "cmd", b'{"id": "1", "name": "reboot", "args": {}}')
    assert kiosk.topics(until=env.kiosk.topic_prefix + "cmd") == [env.kiosk.topic_prefix + "cmd"]
    assert other.drain() == []


def test_window_displays_reach_screens_not_kiosks(env):
    display = f"hall/{HALL}/window/3/display"
    screen = env.device(env.screen, f"hall/{HALL}/window/+/display").ready()
    kiosk = env.device(env.kiosk, f"hall/{HALL}/window/+/display").ready()
    env.server().ready().publish(display, '{"ticket": "A012", "text": "请A012号到3号窗口办理"}')
    assert screen.topics(until=display) == [display]
    assert kiosk.drain() == []


def test_a_last_will_is_its_own_status(env):
    server = env.server("hall/#").ready()
    kiosk = env.device(env.kiosk, will=env.kiosk.topic_prefix + "status").ready()
    kiosk.c._sock.close()  # noqa: SLF001 - vanish without DISCONNECT: the broker sends the will
    kiosk.c.loop_stop()
    assert server.topics(until=env.kiosk.topic_prefix + "status", timeout=10) == [env.kiosk.topic_prefix + "status"]


def test_a_last_will_on_another_devices_topic_is_dropped(env):
    server = env.server("hall/#").ready()
    kiosk = env.device(env.kiosk, will=env.other.topic_prefix + "status").ready()  # connects, as on Mosquitto
    kiosk.c._sock.close()  # noqa: SLF001
    kiosk.c.loop_stop()
    env.device(env.kiosk).ready().publish(env.kiosk.topic_prefix + "event", b"{}")
    got = server.topics(until=env.kiosk.topic_prefix + "event") + server.drain(0.5)
    assert env.other.topic_prefix + "status" not in got


def test_a_device_provisioned_while_the_broker_runs_connects(env):
    server = env.server("hall/#").ready()
    new = env.store.add_device(HALL, "locker-07", "locker")
    env.broker.reload()  # Mosquitto: SIGHUP; the embedded broker notices the files changed
    locker = env.device(new).ready()
    locker.publish(new.topic_prefix + "telemetry", b"{}")
    assert server.topics(until=new.topic_prefix + "telemetry") == [new.topic_prefix + "telemetry"]
    # provisioning again rotates the password: the old one stops working, its connection is closed
    old = new
    new = env.store.add_device(HALL, "locker-07", "locker")
    env.broker.reload()
    locker.disconnects.get(timeout=5)
    assert env.client(old.username, old.password).refused() == NOT_AUTHORIZED
    env.device(new).ready()


# --- the embedded broker itself -----------------------------------------------------------------

def _amqtt_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("hall-mqtt-broker")]


def test_embedded_port_zero_reports_its_port_and_stops_cleanly(tmp_path):
    store = CredentialStore(tmp_path / "mqtt")
    user, pw = store.server_credentials()
    before = set(threading.enumerate())
    for _ in range(2):  # start, stop, start again
        broker = EmbeddedBroker(store.password_file, store.acl_file, "127.0.0.1", 0).start()
        assert broker.port > 0 and broker.url().endswith(f"127.0.0.1:{broker.port}")
        c = Client(Broker("127.0.0.1", broker.port, "embedded"), user, pw, ("hall/#",)).ready()
        c.close()
        broker.stop()
        assert not broker.running
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", broker.port), timeout=0.5):
            pass
    assert set(threading.enumerate()) - before == set()
    assert _amqtt_threads() == []


def test_embedded_on_a_taken_port_says_so_and_how_to_choose_another(tmp_path):
    store = CredentialStore(tmp_path / "mqtt")
    store.server_credentials()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MqttPortInUse) as e:
            EmbeddedBroker(store.password_file, store.acl_file, "127.0.0.1", port).start()
        assert str(port) in e.value.detail and "HALL_MQTT_BIND" in e.value.detail and "占用" in e.value.detail
        # hall demo takes a free port instead
        settings = get_settings({"HALL_DATA_DIR": str(tmp_path), "HALL_SECRET": "s",
                                 "HALL_MQTT_BIND": f"127.0.0.1:{port}"})
        with pytest.raises(MqttPortInUse):
            mqtt_endpoint(settings)
        ep = mqtt_endpoint(settings, any_port=True)
    try:
        assert ep.embedded and ep.port not in (port, 0) and ep.username == "hall-server"
        Client(Broker(ep.host, ep.port, "embedded"), ep.username, ep.password).ready().close()
    finally:
        ep.close()
    assert _amqtt_threads() == []


def test_endpoint_for_an_external_broker_uses_the_servers_account(tmp_path):
    env = {"HALL_DATA_DIR": str(tmp_path), "HALL_SECRET": "s", "HALL_MQTT_URL": "mqtt://broker.local:1884"}
    ep = mqtt_endpoint(get_settings(env))
    assert (ep.host, ep.port, ep.username, ep.embedded) == ("broker.local", 1884, "hall-server", False)
    assert ep.password == (tmp_path / "mqtt" / "server.secret").read_text().strip()
    ep = mqtt_endpoint(get_settings({**env, "HALL_MQTT_URL": "mqtts://svc:p%40ss@10.0.0.2"}))
    assert (ep.host, ep.port, ep.username, ep.password, ep.tls) == ("10.0.0.2", 8883, "svc", "p@ss", True)
    assert parse_bind("0.0.0.0:1884") == ("0.0.0.0", 1884) and parse_bind(":0") == ("127.0.0.1", 0)
    assert parse_bind("[::1]:1885") == ("::1", 1885)


# --- hall device add ------------------------------------------------------------------------------

def test_device_add_command_provisions_a_device_that_connects(tmp_path):
    env = {**os.environ, "HALL_DATA_DIR": str(tmp_path), "HALL_SECRET": "s"}
    env.pop("HALL_DATABASE_URL", None)

    def add(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "hall.cli", "device", "add", *args], capture_output=True,
                              text=True, env=env, timeout=60, stdin=subprocess.DEVNULL)

    r = add("locker-01", "--hall", HALL, "--kind", "locker", "--location", "一楼东侧", "--slots", "4")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"device", "hall", "kind", "username", "password", "topic_prefix"}
    assert out["username"] == f"{HALL}.locker-01" and out["topic_prefix"] == f"hall/{HALL}/device/locker-01/"
    assert "HUP" in r.stderr and out["password"] not in r.stderr
    bad = add("Locker 1", "--hall", HALL, "--kind", "locker")
    assert bad.returncode != 0 and "device id" in bad.stderr

    from sqlalchemy import create_engine, select

    from hall.db.models import device_t, slot_t

    eng = create_engine(f"sqlite:///{tmp_path / 'hall.db'}")
    with eng.connect() as c:
        row = c.execute(select(device_t).where(device_t.c.device == "locker-01")).one()
        slots = c.execute(select(slot_t.c.slot).where(slot_t.c.device == "locker-01")).scalars().all()
    eng.dispose()
    assert (row.hall_id, row.kind, row.location, row.origin) == (HALL, "locker", "一楼东侧", "api")
    assert sorted(slots) == [1, 2, 3, 4]

    store = CredentialStore.for_data_dir(tmp_path)
    broker = EmbeddedBroker(store.password_file, store.acl_file, "127.0.0.1", 0).start()
    clients: list[Client] = []

    def client(creds: dict) -> Client:
        clients.append(Client(Broker("127.0.0.1", broker.port, "embedded"), creds["username"], creds["password"]))
        return clients[-1]

    try:
        client(out).ready()
        again = json.loads(add("locker-01", "--hall", HALL, "--kind", "locker").stdout)
        assert again["password"] != out["password"]
        assert client(out).refused() == NOT_AUTHORIZED
        client(again).ready()
    finally:
        for c in clients:
            c.close()
        broker.stop()


@pytest.mark.parametrize("kind", KINDS)
def test_start_broker_makes_credentials_when_given_none(tmp_path, kind):
    broker = start_broker(tmp_path, kind=kind)
    clients = [Client(broker, broker.username, broker.password), Client(broker, None, None)]
    try:
        assert broker.kind == kind and broker.username == "hall-server"
        clients[0].ready()
        assert clients[1].refused() == NOT_AUTHORIZED
    finally:
        for c in clients:
            c.close()
        broker.stop()


# --- the shipped Mosquitto configuration ---------------------------------------------------------

SHIPPED_CONF = Path(__file__).parents[2] / "deploy" / "mosquitto" / "hall.conf"


@pytest.mark.skipif(not mosquitto_available(), reason="no mosquitto")
def test_shipped_mosquitto_conf_loads_and_lets_oversized_payloads_reach_the_server(tmp_path):
    from tests.brokers import free_port

    store = CredentialStore(tmp_path / "mqtt")
    user, pw = store.server_credentials()
    kiosk = store.add_device(HALL, "kiosk-01", "kiosk")
    port = free_port()
    conf = SHIPPED_CONF.read_text(encoding="utf-8")
    conf = (conf.replace("/var/lib/hall/mqtt", str(store.directory)).replace("/var/lib/mosquitto/", f"{tmp_path}/")
            .replace("listener 1883 0.0.0.0", f"listener {port} 127.0.0.1").replace("log_dest syslog", "log_dest none"))
    assert str(store.password_file) in conf and f"listener {port} 127.0.0.1" in conf
    if os.geteuid() == 0:
        conf += "\nuser root\n"
    path = tmp_path / "hall.conf"
    path.write_text(conf, encoding="utf-8")
    proc = subprocess.Popen(["mosquitto", "-c", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    broker = Broker("127.0.0.1", port, "mosquitto", proc)
    clients: list[Client] = []
    try:
        deadline = time.monotonic() + 10
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        clients += [Client(broker, user, pw, ("hall/#",)), Client(broker, kiosk.username, kiosk.password),
                    Client(broker, None, None)]
        server, dev, anonymous = clients
        server.ready()
        dev.ready()
        assert anonymous.refused() == NOT_AUTHORIZED
        dev.publish(kiosk.topic_prefix + "event", b"x" * 40_000)  # over 16 KiB: the server still sees it
        assert server.topics(until=kiosk.topic_prefix + "event") == [kiosk.topic_prefix + "event"]
        dev.c.publish(kiosk.topic_prefix + "event", b"x" * 70_000, qos=1)  # over max_packet_size: dropped
        assert server.drain(0.5) == []
    finally:
        for c in clients:
            c.close()
        broker.stop()
