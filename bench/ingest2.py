"""MQTT ingest with two hall processes (issue #8), run by bench/run.py after the IoT part
(``--skip-iot`` or ``--skip-pg`` leave it out; it needs PostgreSQL, Redis and Mosquitto).

Two hall processes on one fresh PostgreSQL database, with Redis fan-out and their MQTT clients on a
Mosquitto of the run, configured with two halls: the bundled ``hn-tja`` and a copy of it with
another id (``hn-tjb``, written to the temporary directory). Each process owns one hall's
single-writer work through a lease in the database (hall.leases), so it listens to that hall's
device topics only (a shared subscription per hall); the benchmark waits until ``/healthz`` of
each names one hall. 100 telemetry devices per hall (half kiosks, half environment sensors), each
with its own MQTT account, offered ``--ingest2-rate`` messages/s in all (default 40,000, twice the
goal) by the IoT part's publisher processes.

``iot_ingest_rate`` with ``params.processes`` = 2: the growth of the sum of both processes'
``hall_mqtt_accepted_total`` over the interval (quick 3 s, full 10 s, after a warm-up), each
process's share in ``params.by_process``. Floor: two raw paho subscribers (mqttload.py), each
subscribed to one hall's topics with the server's account, alone on the same broker before the
halls start, the same offered load, measured the same way. Goal: >= 20,000 msg/s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchlib import HOST, Proc, RawHttp, log, wait_healthy
from iot import Cpu, IotBench, mosquitto_exe

if TYPE_CHECKING:
    from run import Bench
    from scaleout import ScaleOut

HERE = Path(__file__).resolve().parent
HALLS = ("hn-tja", "hn-tjb")
PER_HALL = 100


def _r(x: float | None, nd: int = 1) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x, nd)


def hall_files(tmp: Path) -> list[Path]:
    """The bundled hall and a copy of it with another id and name."""
    from hall.hallconfig import default_config_path

    src = default_config_path().read_text(encoding="utf-8")
    second = re.sub(r'(?m)^id = "hn-tja"', f'id = "{HALLS[1]}"', src)
    second = re.sub(r'(?m)^name = "(.*?)"', r'name = "\1（二）"', second, count=1)
    assert f'id = "{HALLS[1]}"' in second, "the example hall's id line changed"
    p = tmp / f"{HALLS[1]}.toml"
    p.write_text(second, encoding="utf-8")
    return [default_config_path(), p]


class Ingest2:
    def __init__(self, b: Bench, so: ScaleOut) -> None:
        self.b = b
        self.so = so
        self.a = b.a
        self.iot = IotBench(self.a, b.tmp, b.hall_env)
        self.devices: list[dict[str, str]] = []

    def provision(self, data_dir: Path) -> tuple[str, Path]:
        from hall.iot.credentials import CredentialStore

        store = CredentialStore.for_data_dir(data_dir)
        user, _ = store.server_credentials()
        for h, hall in enumerate(HALLS):
            for i in range(PER_HALL):
                kind = "kiosk" if i % 2 == 0 else "env_sensor"
                name = f"bench{h}-{'kiosk' if kind == 'kiosk' else 'env'}-{i:04d}"
                p = store.add_device(hall, name, kind)
                self.devices.append({"device": name, "kind": kind, "hall": hall, "username": p.username,
                                     "password": p.password})
        return user, store.server_secret_file

    async def measure(self, read: Any, procs: dict[str, list[Proc]]) -> dict[str, Any]:
        """Offer the rate, warm up, then the growth of ``read()`` (per-part counts, monotonic ns)
        over the interval; the CPU of ``procs``."""
        iot = self.iot
        await iot.rate(self.a.ingest2_rate)
        await asyncio.sleep(self.a.iot_warmup)
        cpu = Cpu(procs)
        cpu.start()
        s0 = await iot.sent()
        c0, t0 = await read()
        await asyncio.sleep(self.a.iot_seconds)
        c1, t1 = await read()
        s1 = await iot.sent()
        used = cpu.stop()
        await iot.rate(-1)
        dt = (t1 - t0) / 1e9
        parts = [(b - a) / dt for a, b in zip(c0, c1, strict=True)]
        return {"rate": sum(parts), "parts": parts, "offered": (s1 - s0) / dt, "seconds": round(dt, 2), "cpu": used}

    async def run(self) -> list[dict[str, Any]]:
        if mosquitto_exe() is None:
            log("ingest with two processes: mosquitto is not installed; skipped")
            return []
        b, iot = self.b, self.iot
        env = await self.so.fresh_env()
        data_dir = Path(env["HALL_DATA_DIR"])
        t = time.monotonic()
        user, secret = await asyncio.to_thread(self.provision, data_dir)
        iot.devices = self.devices
        log(f"ingest with two processes: {len(self.devices)} devices provisioned, {PER_HALL} in each of "
            f"{', '.join(HALLS)} ({time.monotonic() - t:.1f}s)")
        configs = hall_files(b.tmp)
        devices_file = b.tmp / "ingest2-devices.json"
        devices_file.write_text(json.dumps(self.devices))
        os.chmod(devices_file, 0o600)
        await iot.start_broker(data_dir / "mqtt")
        assert iot.broker is not None
        halls: list[Proc] = []
        try:
            await iot.start_publishers(devices_file)
            pubs = [pl.proc for pl in iot.publishers]
            # the floor: a raw subscriber per hall, alone on the broker
            log(f"ingest into two raw paho subscribers (one per hall): offering {self.a.ingest2_rate:g} msg/s, "
                f"{self.a.iot_seconds:g}s after {self.a.iot_warmup:g}s")
            subs = [await iot.subscriber(user, secret, f"floor-sub-{h}", f"hall/{h}/#") for h in HALLS]

            async def sub_counts() -> tuple[list[int], int]:
                answers = [(await s.ask("COUNT")).split() for s in subs]
                return [int(x[1]) for x in answers], max(int(x[2]) for x in answers)

            floor = await self.measure(sub_counts, {"subscribers": [s.proc for s in subs], "mosquitto": [iot.broker],
                                                    "publishers": pubs})
            log(f"  floor (two raw subscribers): {floor['rate']:.0f} msg/s received "
                f"({' + '.join(f'{x:.0f}' for x in floor['parts'])}), {floor['offered']:.0f} msg/s offered; "
                f"CPU in cores {floor['cpu']}")
            for s in subs:
                await s.tell("STOP")
                await s.proc.stop()
            await asyncio.sleep(0.5)

            # the halls: A registers the devices, then B starts; the leases spread the halls
            env["HALL_MQTT_URL"] = f"mqtt://{HOST}:{iot.port}"
            conf = [x for c in configs for x in ("--config", str(c))]
            ports = []
            for i in range(2):
                penv = {**env, "HALL_NODE": f"bench-{os.getpid()}-{i + 1}"}  # its own MQTT client id
                extra = ["--devices", str(devices_file)] if i == 0 else []
                p = await Proc(f"hall-ingest2-{i + 1}", [str(HERE / "servers.py"), "hall", "--mqtt", *conf, *extra],
                               env=penv, log_dir=b.tmp).start()
                halls.append(p)
                ports.append(await p.port())
                await wait_healthy(ports[-1], p)
                log(f"hall process {i + 1} up on {HOST}:{ports[-1]} (pid {p.p.pid if p.p else '?'})")
            https = [await RawHttp(HOST, port).connect() for port in ports]
            owns = await self.wait_spread(https)
            log(f"the leases: process 1 owns {owns[0]}, process 2 owns {owns[1]}")

            async def hall_counts() -> tuple[list[int], int]:
                got = [await IotBench.counters(h) for h in https]
                return [int(c["accepted"]) for c, _, _ in got], max(t for _, t, _ in got)

            # every device online (two good messages each) before anything is measured
            await iot.rate(self.a.iot_background)
            deadline = time.monotonic() + 60
            while sum((await hall_counts())[0]) < 3 * len(self.devices):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the halls accept no telemetry{halls[0].tail()}{halls[1].tail()}")
                await asyncio.sleep(0.2)
            await iot.rate(-1)
            await asyncio.sleep(1.0)
            log(f"ingest into two hall processes: offering {self.a.ingest2_rate:g} msg/s, "
                f"{self.a.iot_seconds:g}s after {self.a.iot_warmup:g}s")
            ing = await self.measure(hall_counts, {"hall1": [halls[0]], "hall2": [halls[1]], "mosquitto": [iot.broker],
                                                   "publishers": pubs})
            end = [await IotBench.counters(h) for h in https]
            rejected = sum(c["rejected"] for c, _, _ in end)
            log(f"  two hall processes: {ing['rate']:.0f} msg/s accepted into twins "
                f"({' + '.join(f'{x:.0f}' for x in ing['parts'])}), {ing['offered']:.0f} msg/s offered; "
                f"CPU in cores {ing['cpu']}; rejected {rejected:g}")
            for h in https:
                await h.close()
            for p in halls:
                if p.p and p.p.returncode is not None:
                    raise RuntimeError(f"a hall process died during the run{p.tail()}")
        finally:
            for p in halls:
                await p.stop()
            for pl in iot.publishers:
                with contextlib.suppress(Exception):
                    await pl.ask("STOP", 5)
                await pl.proc.stop()
            await iot.broker.stop()
        return [{
            "metric": "iot_ingest_rate", "value": _r(ing["rate"]), "unit": "msg/s", "floor": _r(floor["rate"]),
            "params": {
                "processes": 2, "halls": list(HALLS), "devices": len(self.devices), "devices_per_hall": PER_HALL,
                "owns": owns, "database": "postgresql", "fanout": "redis",
                "broker": "mosquitto (limits of deploy/mosquitto/hall.conf)",
                "subscription": "one shared subscription per owned hall (hall.leases)",
                "offered": f"{self.a.ingest2_rate:g} msg/s", "offered_rate": _r(ing["offered"]),
                "floor_offered_rate": _r(floor["offered"]), "seconds": ing["seconds"], "warmup_s": self.a.iot_warmup,
                "by_process": [_r(x) for x in ing["parts"]], "floor_by_subscriber": [_r(x) for x in floor["parts"]],
                "cpu_cores": ing["cpu"], "floor_cpu_cores": floor["cpu"], "rejected": rejected,
                "publisher_processes": self.a.iot_publishers, "floor": "two raw paho subscribers, hall/<id>/# each",
                "goal": ">= 20000",
            },
        }]

    async def wait_spread(self, https: list[RawHttp]) -> list[list[str]]:
        """Until each process owns one hall (the leases are renewed every 2 s and spread evenly)."""
        deadline = time.monotonic() + 60
        while True:
            owns = []
            for h in https:
                status, body = await h.request("GET", "/healthz")
                owns.append(sorted(body.get("owns", [])) if status == 200 and isinstance(body, dict) else [])
            if all(len(o) == 1 for o in owns) and sorted(o[0] for o in owns) == sorted(HALLS):
                return owns
            if time.monotonic() > deadline:
                raise RuntimeError(f"the halls were not spread over the two processes: {owns}")
            await asyncio.sleep(0.5)

