"""The IoT benchmarks (issue #5), run by bench/run.py as its third part (``--skip-iot`` leaves it out).

* ``iot_ingest_rate`` (messages/s): telemetry from the registered bench devices, offered at a high
  fixed rate (``--iot-rate``, default 20,000/s; 0: as fast as the broker takes it), accepted into
  the hall's device twins (with the alarm rules evaluated on every message): the growth of
  ``hall_mqtt_accepted_total`` on the hall's ``/metrics`` over a sustained interval. Floor: a raw paho subscriber with the hall's subscription (``hall/#``,
  QoS 1) on the same broker, counting in ``on_message``, measured the same way before the hall
  starts.
* ``iot_alarm_latency_p50``/``_p99`` (ms): while the same devices send 1,000 telemetry messages/s
  in the background, a device publishes a ``fault`` event (QoS 1); latency = receipt of the
  matching ``alarm.raised`` on a WebSocket client of ``/ws/halls/hn-tja?topics=alarm`` − the
  moment before ``publish``. Floor: the same event's receipt by a raw paho subscriber (``hall/#``)
  on the same broker, in the same run (every sample is measured by both).

Mosquitto runs with the limits of deploy/mosquitto/hall.conf on a free loopback port, with the
password and ACL files of a :class:`~hall.iot.credentials.CredentialStore` in the hall's data
directory (every device has its own account, as ``hall device add`` makes them). See README.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchlib import HOST, Proc, RawHttp, log, now_ns, percentile, wait_healthy

HERE = Path(__file__).resolve().parent
HALL = "hn-tja"
FAULT_POOL = 5  # devices whose fault alarm is raised, cleared and raised again in turn
# flood_count in the bundled hall is 10: at most that many *new* alarms in 10 minutes are
# announced one by one (more are grouped under an alarm.flood), so the samples re-raise the
# pool's cleared alarms (which always announces alarm.raised) instead of raising new ones.


def mosquitto_exe() -> str | None:
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    return exe if os.path.exists(exe) else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of a process (all its threads) so far; NaN if it is gone."""
    if pid is None:
        return math.nan
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Cpu:
    """CPU used by named processes between ``start()`` and ``stop()``, in cores."""

    def __init__(self, procs: dict[str, list[Proc]]) -> None:
        self.procs = procs
        self.t0 = 0.0
        self.c0: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        return {name: sum(cpu_s(p.p.pid if p.p else None) for p in ps) for name, ps in self.procs.items()}

    def start(self) -> None:
        self.t0, self.c0 = time.monotonic(), self._now()

    def stop(self) -> dict[str, float]:
        dt = time.monotonic() - self.t0
        return {name: round((v - self.c0[name]) / dt, 2) for name, v in self._now().items()}


class Lines:
    """Reads a helper's stdout: ``EV`` lines resolve waiting futures, answers go to a queue."""

    def __init__(self, proc: Proc) -> None:
        self.proc = proc
        self.answers: asyncio.Queue[str] = asyncio.Queue()
        self.events: dict[tuple[str, int], asyncio.Future[int]] = {}
        self.task = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        while True:
            try:
                line = await self.proc.line(3600)
            except Exception as e:  # the process ended: whoever waits learns it
                await self.answers.put(f"ERROR {e}")
                return
            if line.startswith("EV "):
                _, device, seq, t = line.split()
                fut = self.events.get((device, int(seq)))
                if fut is not None and not fut.done():
                    fut.set_result(int(t))
            else:
                await self.answers.put(line)

    async def ask(self, cmd: str, timeout: float = 30.0) -> str:
        assert self.proc.p and self.proc.p.stdin
        self.proc.p.stdin.write(f"{cmd}\n".encode())
        await self.proc.p.stdin.drain()
        answer = await asyncio.wait_for(self.answers.get(), timeout)
        if answer.startswith("ERROR"):
            raise RuntimeError(f"{self.proc.name}: {answer}")
        return answer

    async def tell(self, cmd: str) -> None:
        assert self.proc.p and self.proc.p.stdin
        self.proc.p.stdin.write(f"{cmd}\n".encode())
        await self.proc.p.stdin.drain()

    def expect(self, device: str, seq: int) -> asyncio.Future[int]:
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.events[(device, seq)] = fut
        return fut


class IotBench:
    def __init__(self, a: Any, tmp: Path, hall_env: Callable[[], dict[str, str]]) -> None:
        self.a = a
        self.tmp = tmp
        self.hall_env = hall_env
        self.broker: Proc | None = None
        self.port = 0
        self.publishers: list[Lines] = []
        self.devices: list[dict[str, str]] = []
        self.fault_devices: list[dict[str, str]] = []

    # -- set-up ----------------------------------------------------------------------------------
    def provision(self, data_dir: Path) -> tuple[str, Path]:
        """Every bench device gets its own account (as ``hall device add``); returns the server's
        username and the file holding its password."""
        from hall.iot.credentials import CredentialStore

        store = CredentialStore.for_data_dir(data_dir)
        user, _ = store.server_credentials()
        n = self.a.iot_devices
        for i in range(n):
            kind = "kiosk" if i % 2 == 0 else "env_sensor"
            name = f"bench-{'kiosk' if kind == 'kiosk' else 'env'}-{i:04d}"
            p = store.add_device(HALL, name, kind)
            self.devices.append({"device": name, "kind": kind, "username": p.username, "password": p.password})
        for i in range(FAULT_POOL):
            name = f"bench-fault-{i:02d}"
            p = store.add_device(HALL, name, "kiosk")
            self.fault_devices.append({"device": name, "kind": "kiosk", "username": p.username,
                                       "password": p.password})
        return user, store.server_secret_file

    async def start_broker(self, store_dir: Path) -> None:
        exe = mosquitto_exe()
        assert exe is not None
        self.port = _free_port()
        conf = self.tmp / "mosquitto.conf"
        lines = [
            f"listener {self.port} {HOST}", "persistence false", f"log_dest file {self.tmp / 'mosquitto.log'}",
            "log_type error", "log_type warning", "log_type notice",
            # the limits of deploy/mosquitto/hall.conf
            "set_tcp_nodelay true", "max_queued_messages 100000", "max_queued_bytes 134217728",
            "max_inflight_messages 1000", "max_packet_size 65536", "queue_qos0_messages false",
            "allow_anonymous false", f"password_file {store_dir / 'passwd'}", f"acl_file {store_dir / 'acl'}",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # else Mosquitto 2 drops to "mosquitto" before reading the files
        conf.write_text("\n".join(lines) + "\n")
        self.broker = await Proc("mosquitto", ["-c", str(conf)], log_dir=self.tmp, program=exe).start()
        deadline = time.monotonic() + 10
        while True:
            if self.broker.p and self.broker.p.returncode is not None:
                text = (self.tmp / "mosquitto.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"mosquitto exited: {text}")
            try:
                _, w = await asyncio.open_connection(HOST, self.port)
                w.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("mosquitto did not start") from None
                await asyncio.sleep(0.05)
        log(f"mosquitto up on {HOST}:{self.port} (pid {self.broker.p.pid if self.broker.p else '?'})")

    async def start_publishers(self, devices_file: Path) -> None:
        n = self.a.iot_publishers
        procs = [await Proc(f"publisher-{i}", [str(HERE / "mqttload.py"), "publish", "--port", str(self.port),
                                               "--devices", str(devices_file), "--part", str(i), "--parts", str(n)],
                            stdin=True, log_dir=self.tmp).start() for i in range(n)]
        self.publishers = [Lines(p) for p in procs]
        for pl in self.publishers:
            line = await asyncio.wait_for(pl.answers.get(), 60)
            if line != "READY":
                raise RuntimeError(f"{pl.proc.name}: {line}{pl.proc.tail()}")
        log(f"{n} publisher processes connected {len(self.devices)} devices")

    async def rate(self, total: float) -> None:
        """Offered telemetry rate over all publishers: 0 as fast as possible, -1 paused."""
        each = total if total <= 0 else total / len(self.publishers)
        for pl in self.publishers:
            await pl.tell(f"RATE {each}")

    async def sent(self) -> int:
        total = 0
        for pl in self.publishers:
            total += int((await pl.ask("COUNT")).split()[1])
        return total

    async def subscriber(self, user: str, secret: Path, name: str, topic: str = "hall/#") -> Lines:
        proc = await Proc(name, [str(HERE / "mqttload.py"), "subscribe", "--port", str(self.port), "--user", user,
                                 "--password-file", str(secret), "--topic", topic], stdin=True,
                          log_dir=self.tmp).start()
        lines = Lines(proc)
        line = await asyncio.wait_for(lines.answers.get(), 60)
        if line != "READY":
            raise RuntimeError(f"{name}: {line}{proc.tail()}")
        return lines

    def offered(self) -> str:
        return "as fast as possible" if self.a.iot_rate <= 0 else f"{self.a.iot_rate:g} msg/s"

    # -- the hall's counters ---------------------------------------------------------------------
    @staticmethod
    async def counters(http: RawHttp) -> tuple[dict[str, float], int, float]:
        """``/metrics`` MQTT counters, the moment they were read (midpoint of the request, ns) and
        the request's round trip (ms)."""
        t0 = now_ns()
        status, body = await http.request("GET", "/metrics")
        t1 = now_ns()
        assert status == 200, status
        text = body.decode() if isinstance(body, bytes) else str(body)
        out: dict[str, float] = {"accepted": 0.0, "received": 0.0, "rejected": 0.0}
        for line in text.splitlines():
            name, _, value = line.rpartition(" ")
            if name == "hall_mqtt_accepted_total":
                out["accepted"] = float(value)
            elif name == "hall_mqtt_received_total":
                out["received"] = float(value)
            elif name.startswith("hall_mqtt_rejected_total"):
                out["rejected"] += float(value)
        return out, (t0 + t1) // 2, (t1 - t0) / 1e6

    # -- metric: ingest rate ----------------------------------------------------------------------
    async def ingest_floor(self, sub: Lines, cpu: Cpu) -> dict[str, Any]:
        await self.rate(self.a.iot_rate)
        await asyncio.sleep(self.a.iot_warmup)
        cpu.start()
        s0 = await self.sent()
        c0, t0 = (int(x) for x in (await sub.ask("COUNT")).split()[1:])
        await asyncio.sleep(self.a.iot_seconds)
        c1, t1 = (int(x) for x in (await sub.ask("COUNT")).split()[1:])
        s1 = await self.sent()
        used = cpu.stop()
        await self.rate(-1)
        dt = (t1 - t0) / 1e9
        res = {"rate": (c1 - c0) / dt, "offered": (s1 - s0) / dt, "seconds": round(dt, 2), "cpu": used,
               "us_per_msg": used["subscriber"] * 1e6 / ((c1 - c0) / dt) if c1 > c0 else math.nan}
        log(f"  floor (raw paho subscriber): {res['rate']:.0f} msg/s received, {res['offered']:.0f} msg/s offered; "
            f"CPU in cores {used} ({res['us_per_msg']:.1f} µs of the subscriber's CPU per message)")
        return res

    async def profile(self, pid: int | None) -> asyncio.subprocess.Process | None:
        """``--iot-profile FILE``: py-spy samples the hall during the measured interval (collapsed
        stacks of whichever thread holds the GIL: where the hall's Python CPU goes)."""
        if not self.a.iot_profile or pid is None:
            return None
        exe = shutil.which("py-spy") or os.environ.get("PY_SPY", "py-spy")
        return await asyncio.create_subprocess_exec(
            exe, "record", "--pid", str(pid), "--duration", str(int(math.ceil(self.a.iot_seconds))), "--rate", "200",
            "--threads", "--gil", "--format", "raw", "--output", self.a.iot_profile, "--nonblocking",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)

    async def ingest_hall(self, http: RawHttp, cpu: Cpu, hall_pid: int | None) -> dict[str, Any]:
        await self.rate(-1)
        await asyncio.sleep(0.3)  # paused and delivered: the counts below start together
        before, _, _ = await self.counters(http)
        s_start = await self.sent()
        await self.rate(self.a.iot_rate)
        await asyncio.sleep(self.a.iot_warmup)
        profiler = await self.profile(hall_pid)
        cpu.start()
        s0 = await self.sent()
        c0, t0, rtt0 = await self.counters(http)
        samples = [(t0, c0["accepted"])]
        rtts = [rtt0]
        end = time.monotonic() + self.a.iot_seconds
        while time.monotonic() < end:
            await asyncio.sleep(min(0.5, max(0.0, end - time.monotonic())))
            c, t, rtt = await self.counters(http)
            samples.append((t, c["accepted"]))
            rtts.append(rtt)
        c1, t1 = c, t
        s1 = await self.sent()
        used = cpu.stop()
        await self.rate(-1)
        if profiler is not None:
            await profiler.wait()
            log(f"  py-spy profile of the hall: {self.a.iot_profile}")
        s_end = await self.sent()
        # the backlog left in the broker and the hall's buffer when publishing stops
        drain_from = time.monotonic()
        last = c1["received"]
        still = 0
        while still < 4 and time.monotonic() - drain_from < 60:
            await asyncio.sleep(0.25)
            c, _, _ = await self.counters(http)
            still = still + 1 if c["received"] == last else 0
            last = c["received"]
        drain_s = time.monotonic() - drain_from - 1.0
        dt = (t1 - t0) / 1e9
        rate = (c1["accepted"] - c0["accepted"]) / dt
        # per half-second rates: the lowest shows whether the rate held (sustained) or sagged
        steps = [(b[1] - a[1]) / ((b[0] - a[0]) / 1e9) for a, b in zip(samples, samples[1:], strict=False)
                 if b[0] > a[0]]
        lost = (s_end - s_start) - (c["received"] - before["received"])
        res = {"rate": rate, "offered": (s1 - s0) / dt, "seconds": round(dt, 2), "cpu": used,
               "min_step_rate": min(steps) if steps else math.nan, "max_step_rate": max(steps) if steps else math.nan,
               "metrics_rtt_max_ms": max(rtts), "drain_s": max(0.0, drain_s), "lost": lost,
               "rejected": c["rejected"] - before["rejected"],
               "accepted_vs_received": c["accepted"] - c["received"],
               "us_per_msg": used["hall"] * 1e6 / rate if rate > 0 else math.nan}
        log(f"  hall: {rate:.0f} msg/s accepted into twins, {res['offered']:.0f} msg/s offered "
            f"(half-second rates {res['min_step_rate']:.0f}..{res['max_step_rate']:.0f}); CPU in cores {used} "
            f"({res['us_per_msg']:.1f} µs of the hall's CPU per message); "
            f"backlog drained in {res['drain_s']:.1f} s after publishing stopped; lost {lost}, "
            f"rejected {res['rejected']:g}; /metrics round trip up to {res['metrics_rtt_max_ms']:.0f} ms")
        return res

    # -- metric: alarm latency ---------------------------------------------------------------------
    async def latency(self, ws_url: str, floor: Lines) -> dict[str, Any]:
        import paho.mqtt.client as mqtt
        from websockets.asyncio.client import connect

        loop = asyncio.get_running_loop()
        waiting: dict[tuple[str, str], asyncio.Future[int]] = {}

        ws = await connect(ws_url, ping_interval=None, max_size=1 << 22)
        first = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert first.get("type") == "snapshot", first.get("type")
        floods = 0

        async def reader() -> None:
            nonlocal floods
            async for raw in ws:
                t = now_ns()
                msg = json.loads(raw)
                typ = msg.get("type")
                if typ == "alarm.flood":
                    floods += 1
                data = msg.get("data") or {}
                if data.get("type") != "fault":
                    continue
                fut = waiting.pop((typ, data.get("device")), None)
                if fut is not None and not fut.done():
                    fut.set_result(t)

        read_task = asyncio.create_task(reader())

        clients = []
        connected = 0
        done = asyncio.Event()

        def on_connect(_c: mqtt.Client, _u: object, _f: object, rc: object, _p: object = None) -> None:
            nonlocal connected
            if not getattr(rc, "is_failure", False):
                connected += 1
                if connected == len(self.fault_devices):
                    loop.call_soon_threadsafe(done.set)

        for d in self.fault_devices:
            c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{d['device']}",
                            protocol=mqtt.MQTTv311, clean_session=True)
            c.username_pw_set(d["username"], d["password"])
            c.on_connect = on_connect
            c.connect_async(HOST, self.port, keepalive=120)
            c.loop_start()
            clients.append(c)
        await asyncio.wait_for(done.wait(), 30)
        seqs = [0] * len(clients)

        def send(i: int, type_: str, detail: dict[str, Any]) -> tuple[int, int]:
            seqs[i] += 1
            body = json.dumps({"ts": int(time.time() * 1000), "seq": seqs[i], "type": type_, "detail": detail})
            t0 = now_ns()
            clients[i].publish(f"hall/{HALL}/device/{self.fault_devices[i]['device']}/event", body, qos=1)
            return seqs[i], t0

        hall_ms: list[float] = []
        floor_ms: list[float] = []
        missing = floor_missing = 0
        warm = 2 * len(clients)  # the first raise of each (new alarm), then one re-raise each
        try:
            for k in range(warm + self.a.iot_samples):
                i = k % len(clients)
                dev = self.fault_devices[i]["device"]
                raised = waiting[("alarm.raised", dev)] = loop.create_future()
                fut_floor = floor.expect(dev, seqs[i] + 1)
                seq, t0 = send(i, "fault", {"code": "E-BENCH", "sample": k})
                try:
                    t_hall = await asyncio.wait_for(raised, 10 if k >= len(clients) else 3)
                except TimeoutError:
                    t_hall = None
                try:
                    t_floor = await asyncio.wait_for(fut_floor, 10)
                except TimeoutError:
                    t_floor = None
                floor.events.pop((dev, seq), None)
                if k >= warm:
                    if t_hall is None:
                        missing += 1
                    else:
                        hall_ms.append((t_hall - t0) / 1e6)
                    if t_floor is None:
                        floor_missing += 1
                    else:
                        floor_ms.append((t_floor - t0) / 1e6)
                # clear it, so that the next fault of this device raises it again (announced)
                cleared = waiting[("alarm.cleared", dev)] = loop.create_future()
                send(i, "fault_cleared", {"type": "fault"})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(cleared, 10)
                await asyncio.sleep(random.uniform(0.005, 0.025))
        finally:
            read_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await read_task
            await ws.close()
            for c in clients:
                c.disconnect()
                c.loop_stop()
        res = {"p50": percentile(hall_ms, 50), "p99": percentile(hall_ms, 99), "max": max(hall_ms, default=math.nan),
               "floor_p50": percentile(floor_ms, 50), "floor_p99": percentile(floor_ms, 99),
               "floor_max": max(floor_ms, default=math.nan), "samples": len(hall_ms), "missing": missing,
               "floor_missing": floor_missing, "floods": floods}
        log(f"  alarm latency: hall p50 {res['p50']:.2f} ms, p99 {res['p99']:.2f} ms, max {res['max']:.2f} ms; "
            f"floor p50 {res['floor_p50']:.2f} ms, p99 {res['floor_p99']:.2f} ms; missing {missing}/{floor_missing}")
        return res

    # -- the whole part ------------------------------------------------------------------------------
    async def run(self) -> list[dict[str, Any]]:
        env = self.hall_env()
        data_dir = Path(env["HALL_DATA_DIR"])
        t = time.monotonic()
        user, secret = await asyncio.to_thread(self.provision, data_dir)
        log(f"iot: {len(self.devices)} telemetry devices and {len(self.fault_devices)} fault devices provisioned "
            f"({time.monotonic() - t:.1f}s)")
        devices_file = self.tmp / "iot-devices.json"
        devices_file.write_text(json.dumps(self.devices + self.fault_devices))
        os.chmod(devices_file, 0o600)
        await self.start_broker(data_dir / "mqtt")
        assert self.broker is not None
        await self.start_publishers(devices_file)
        pubs = [pl.proc for pl in self.publishers]

        # the floor: a raw subscriber alone on the broker
        log(f"ingest into a raw paho subscriber: offering {self.offered()}, {self.a.iot_seconds:g}s "
            f"after {self.a.iot_warmup:g}s")
        sub = await self.subscriber(user, secret, "floor-sub-ingest")
        floor = await self.ingest_floor(sub, Cpu({"subscriber": [sub.proc], "mosquitto": [self.broker],
                                                  "publishers": pubs}))
        await sub.tell("STOP")
        await sub.proc.stop()
        await asyncio.sleep(0.5)

        # the hall
        env["HALL_MQTT_URL"] = f"mqtt://{HOST}:{self.port}"
        hall = await Proc("hall-iot", [str(HERE / "servers.py"), "hall", "--mqtt", "--devices", str(devices_file)],
                          env=env, log_dir=self.tmp).start()
        try:
            port = await hall.port()
            await wait_healthy(port, hall)
            http = await RawHttp(HOST, port).connect()
            log(f"hall up on {HOST}:{port} (pid {hall.p.pid if hall.p else '?'}), its MQTT client on the broker")
            # every device comes online (two good messages each) before anything is measured
            await self.rate(self.a.iot_background)
            deadline = time.monotonic() + 30
            while (await self.counters(http))[0]["accepted"] < 3 * len(self.devices):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the hall accepts no telemetry{hall.tail()}")
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)
            log(f"ingest into the hall: offering {self.offered()}, {self.a.iot_seconds:g}s "
                f"after {self.a.iot_warmup:g}s")
            ing = await self.ingest_hall(http, Cpu({"hall": [hall], "mosquitto": [self.broker], "publishers": pubs}),
                                         hall.p.pid if hall.p else None)

            log(f"alarm latency: {self.a.iot_samples} fault events (+{2 * FAULT_POOL} warm-up) with "
                f"{self.a.iot_background} telemetry msg/s in the background")
            fsub = await self.subscriber(user, secret, "floor-sub-latency")
            await self.rate(self.a.iot_background)
            await asyncio.sleep(1.0)
            cpu = Cpu({"hall": [hall], "mosquitto": [self.broker], "publishers": pubs, "subscriber": [fsub.proc]})
            cpu.start()
            lat = await self.latency(f"ws://{HOST}:{port}/ws/halls/{HALL}?topics=alarm", fsub)
            lat["cpu"] = cpu.stop()
            await self.rate(-1)
            await fsub.tell("STOP")
            await fsub.proc.stop()
            await http.close()
            if hall.p and hall.p.returncode is not None:
                raise RuntimeError(f"the hall died during the run{hall.tail()}")
        finally:
            await hall.stop()
            for pl in self.publishers:
                with contextlib.suppress(Exception):
                    await pl.ask("STOP", 5)
                await pl.proc.stop()
            await self.broker.stop()
        return self.results(floor, ing, lat)

    def results(self, floor: dict[str, Any], ing: dict[str, Any], lat: dict[str, Any]) -> list[dict[str, Any]]:
        def r(x: float, nd: int = 2) -> float | None:
            return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x, nd)

        common = {"devices": len(self.devices), "publisher_processes": self.a.iot_publishers,
                  "broker": "mosquitto (limits of deploy/mosquitto/hall.conf)", "database": "sqlite"}
        out = [{
            "metric": "iot_ingest_rate", "value": r(ing["rate"], 1), "unit": "msg/s", "floor": r(floor["rate"], 1),
            "params": {
                **common, "seconds": ing["seconds"], "warmup_s": self.a.iot_warmup, "offered": self.offered(),
                "offered_rate": r(ing["offered"], 1), "floor_offered_rate": r(floor["offered"], 1),
                "min_half_second_rate": r(ing["min_step_rate"], 1), "max_half_second_rate": r(ing["max_step_rate"], 1),
                "backlog_drain_s": r(ing["drain_s"], 2), "lost": ing["lost"], "rejected": ing["rejected"],
                "metrics_rtt_max_ms": r(ing["metrics_rtt_max_ms"], 1), "cpu_cores": ing["cpu"],
                "floor_cpu_cores": floor["cpu"], "cpu_us_per_msg": r(ing["us_per_msg"], 1),
                "floor_cpu_us_per_msg": r(floor["us_per_msg"], 1), "telemetry": "kiosk paper_pct/disk_pct, env_sensor temp_c/humidity_pct",
                "qos": "0 published, subscription 1", "goal": ">= 10000",
            },
        }]
        for stat in ("p50", "p99"):
            params = {**common, "samples": lat["samples"], "missing": lat["missing"],
                      "floor_missing": lat["floor_missing"], "background_rate": self.a.iot_background,
                      "max_ms": r(lat["max"]), "floor_max_ms": r(lat["floor_max"]), "fault_devices": FAULT_POOL,
                      "path": "fault event (QoS 1) -> alarm.raised on /ws/halls/hn-tja?topics=alarm (re-raise of a "
                              "cleared alarm)",
                      "alarm_floods": lat["floods"], "cpu_cores": lat["cpu"]}
            if stat == "p99":
                params["goal"] = "<= 100 ms"
            out.append({"metric": f"iot_alarm_latency_{stat}", "value": r(lat[stat]), "unit": "ms",
                        "floor": r(lat[f"floor_{stat}"]), "params": params})
        return out
