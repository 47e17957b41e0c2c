"""Resident memory of a hall server after an hour of simulated traffic (issue #8), run by
bench/run.py as its last part (``--skip-memory`` leaves it out).

One hall process (SQLite, its MQTT client on a Mosquitto of its own, as in the IoT part) with
200 registered devices (each with its own MQTT account) and 200 screens connected goes through
"an hour" of a busy hall, compressed in time (run as fast as it goes):

* telemetry: every device one message per 10 s, i.e. 360 per device and 72,000 in all, offered at
  ``--memory-rate`` msg/s by the IoT part's publisher processes;
* tickets: ``--memory-tickets`` (600) issued at the kiosks over 4 connections, each tracked 3 times
  by its visitor's phone (``GET …/tickets/{id}``), then called, started and finished by the 11
  clerks at their windows (call-next, start, finish; each clerk signs in once);
* the screens receive every event of all that; ``/metrics`` is scraped every 15 s of the hour (240).

VmRSS and VmHWM (the peak) are read from ``/proc/<pid>/status`` right after start-up (healthy,
MQTT connected, nothing received yet) and after the hour (every message accepted or counted,
every ticket finished). Floor: the bare Litestar app (bare_app.py) on the same uvicorn settings,
holding 200 WebSocket connections of the same screens process after the same number of HTTP
requests (``POST …/tickets`` over 4 connections), read the same way.

``--memory-hours H`` scales every count above (the quick run: 0.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchlib import HOST, Proc, RawHttp, log, wait_healthy
from iot import IotBench, mosquitto_exe
from servers import BENCH_PASSWORD

if TYPE_CHECKING:
    from run import Bench

HERE = Path(__file__).resolve().parent
HALL = "hn-tja"
BASE = f"/api/v1/halls/{HALL}"
TELEMETRY_EVERY_S = 10  # each device, in the simulated hour
SCRAPE_EVERY_S = 15  # /metrics, in the simulated hour
TRACKS = 3  # status reads per ticket (the visitor's phone)
KIOSKS = 4  # issuing connections
SERVICES = ["SB", "YB", "GJJ", "BDC", "QY", "HJ", "SW"]


def proc_memory(pid: int | None) -> dict[str, float]:
    """VmRSS, VmHWM, RssAnon, RssFile (MB, i.e. MiB) and the thread count of a process; NaN when it is gone."""
    names = {"VmRSS": "rss", "VmHWM": "hwm", "RssAnon": "anon", "RssFile": "file", "Threads": "threads"}
    out = {v: math.nan for v in names.values()}
    if pid is None:
        return out
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in names:
            n = int(value.split()[0])
            out[names[key]] = n if key == "Threads" else n / 1024  # kB
    return out


def _r(x: float | None, nd: int = 1) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x, nd)


class Counter:
    def __init__(self) -> None:
        self.http = 0
        self.issued = 0
        self.called = 0
        self.finished = 0
        self.scrapes = 0
        self.errors: dict[str, int] = {}

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


class MemoryBench:
    def __init__(self, b: Bench) -> None:
        self.b = b
        self.a = b.a
        self.hours = self.a.memory_hours
        self.devices = self.a.iot_devices
        self.messages = round(self.devices * 3600 / TELEMETRY_EVERY_S * self.hours)
        self.tickets = round(self.a.memory_tickets * self.hours)
        self.scrapes = round(3600 / SCRAPE_EVERY_S * self.hours)
        self.screens = self.a.memory_screens

    async def stats(self, sp: Proc, q: asyncio.Queue) -> dict[str, int]:
        assert sp.p and sp.p.stdin
        sp.p.stdin.write(b"STATS\n")
        await sp.p.stdin.drain()
        while True:
            got = await asyncio.wait_for(q.get(), 30)
            if isinstance(got, dict):
                return got

    @staticmethod
    async def close_screens(sp: Proc, result: asyncio.Future) -> None:
        assert sp.p and sp.p.stdin
        sp.p.stdin.write(b"DUMP\n")
        await sp.p.stdin.drain()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(result, 60)
        await sp.stop()

    # -- the hall's hour ------------------------------------------------------------------------------
    async def kiosk(self, port: int, n: Counter) -> None:
        c = await RawHttp(HOST, port).connect()
        try:
            while n.issued < self.tickets:
                n.issued += 1
                body = {"service": SERVICES[n.issued % len(SERVICES)], "channel": "walk_in"}
                status, answer = await c.request("POST", f"{BASE}/tickets", body)
                n.http += 1
                if status != 201:
                    n.issued -= 1
                    n.error(f"issue {status}")
                    await asyncio.sleep(0.05)
                    continue
                for _ in range(TRACKS):
                    status, _ = await c.request("GET", f"{BASE}/tickets/{answer['id']}")
                    n.http += 1
                    if status != 200:
                        n.error(f"track {status}")
        finally:
            await c.close()

    async def clerk(self, port: int, window: int, n: Counter) -> None:
        c = await RawHttp(HOST, port).connect()
        try:
            # Every clerk signs in at the same instant, as when a shift starts. Each argon2
            # verification holds 64 MiB while it runs; the server runs one at a time
            # (hall.server.PASSWORD_CHECKS), so the peak below includes that burst.
            status, body = await c.request("POST", "/api/v1/auth/login",
                                           {"username": f"clerk{window:02d}", "password": BENCH_PASSWORD})
            n.http += 1
            assert status == 200, (status, body)
            auth = {"Authorization": f"Bearer {body['token']}"}
            w = f"{BASE}/windows/{window}"
            status, body = await c.request("POST", f"{w}/sign-in", headers=auth)
            n.http += 1
            assert status == 200, (status, body)
            call_next = c.build("POST", f"{w}/call-next", None, auth)
            start = c.build("POST", f"{w}/start", None, auth)
            finish = c.build("POST", f"{w}/finish", None, auth)
            while n.called < self.tickets:
                status, _ = await c.raw(call_next)
                n.http += 1
                if status == 204:  # nobody waits for this window (yet)
                    await asyncio.sleep(0.02)
                    continue
                if status != 200:
                    n.error(f"call-next {status}")
                    await asyncio.sleep(0.05)
                    continue
                n.called += 1
                for req, what in ((start, "start"), (finish, "finish")):
                    status, _ = await c.raw(req)
                    n.http += 1
                    if status != 200:
                        n.error(f"{what} {status}")
                n.finished += 1
        finally:
            await c.close()

    async def scraper(self, port: int, n: Counter) -> None:
        """``/metrics`` every 15 s of the hour: one scrape per 1/240 of the tickets called."""
        c = await RawHttp(HOST, port).connect()
        try:
            while n.scrapes < self.scrapes:
                due = n.scrapes * self.tickets / max(1, self.scrapes)
                if n.called < due and n.called < self.tickets:
                    await asyncio.sleep(0.01)
                    continue
                status, _ = await c.request("GET", "/metrics")
                n.http += 1
                n.scrapes += 1
                if status != 200:
                    n.error(f"metrics {status}")
        finally:
            await c.close()

    async def hall_hour(self, env: dict[str, str], iot: IotBench, devices_file: Path) -> dict[str, Any]:
        b = self.b
        env["HALL_MQTT_URL"] = f"mqtt://{HOST}:{iot.port}"
        hall = await Proc("hall-memory", [str(HERE / "servers.py"), "hall", "--mqtt", "--devices", str(devices_file)],
                          env=env, log_dir=b.tmp).start()
        pid = hall.p.pid if hall.p else None
        try:
            port = await hall.port()
            await wait_healthy(port, hall)
            await asyncio.sleep(1.0)  # start-up finished (MQTT subscribed, timers armed)
            start = proc_memory(pid)
            log(f"memory: hall up on {HOST}:{port} (pid {pid}); RSS after start-up {start['rss']:.1f} MB")
            sp, _got, result, q = await b.screens(f"ws://{HOST}:{port}/ws/halls/{HALL}", self.screens)
            log(f"memory: {self.screens} screens connected; RSS {proc_memory(pid)['rss']:.1f} MB. The hour: "
                f"{self.messages} telemetry messages at {self.a.memory_rate:g}/s, {self.tickets} tickets issued, "
                f"tracked ×{TRACKS}, called, started and finished, {self.scrapes} /metrics scrapes")
            http = await RawHttp(HOST, port).connect()
            before, _, _ = await IotBench.counters(http)
            n = Counter()
            t0 = time.monotonic()
            parts = len(iot.publishers)
            for i, pl in enumerate(iot.publishers):
                await pl.tell(f"BUDGET {self.messages // parts + (i < self.messages % parts)}")
            await iot.rate(self.a.memory_rate)
            tasks = [asyncio.create_task(self.kiosk(port, n)) for _ in range(KIOSKS)]
            tasks += [asyncio.create_task(self.clerk(port, w, n)) for w in range(1, 12)]
            tasks.append(asyncio.create_task(self.scraper(port, n)))
            peak: dict[str, float] = {"rss": 0.0}

            async def sample() -> None:  # RSS every 0.1 s: when the peak came, and of what
                while True:
                    m = proc_memory(pid)
                    if m["rss"] > peak["rss"]:
                        peak.update(m, at_s=time.monotonic() - t0)
                    await asyncio.sleep(0.1)

            sampler = asyncio.create_task(sample())
            accepted = handled = last_accepted = 0.0
            stable = 0
            last_log = 0.0
            pending = set(tasks)
            deadline = t0 + max(600.0, 60 * self.hours * 20)
            while True:
                if pending:
                    done, pending = await asyncio.wait(pending, timeout=0.5)
                    for t in done:
                        t.result()  # a failed task fails the part
                else:
                    await asyncio.sleep(0.5)
                sent = await iot.sent()
                c, _, _ = await IotBench.counters(http)
                n.http += 1
                accepted = c["accepted"] - before["accepted"]
                handled = c["received"] - before["received"]
                stable = stable + 1 if accepted == last_accepted else 0
                last_accepted = accepted
                now = time.monotonic()
                if now - last_log >= 2.0:
                    last_log = now
                    log(f"memory: {now - t0:5.1f}s telemetry accepted {accepted:.0f}/{self.messages} (MQTT "
                        f"messages received {handled:.0f}), tickets issued {n.issued}/{self.tickets}, finished {n.finished}, "
                        f"HTTP requests {n.http}; hall RSS {proc_memory(pid)['rss']:.1f} MB")
                # done: every ticket finished, every message sent and accepted (or, QoS 0 having
                # lost some, nothing more accepted for 2 s)
                if not pending and sent >= self.messages and (accepted >= self.messages or stable >= 4):
                    break
                if now > deadline:
                    raise RuntimeError(f"the hour did not finish in {deadline - t0:.0f}s: telemetry "
                                       f"{accepted:.0f}/{self.messages}, tickets {n.finished}/{self.tickets}")
                if hall.p and hall.p.returncode is not None:
                    raise RuntimeError(f"the hall died during the hour{hall.tail()}")
            wall = time.monotonic() - t0
            sampler.cancel()
            await asyncio.sleep(1.0)  # the last events fanned out
            after = proc_memory(pid)
            st = await self.stats(sp, q)
            c, _, _ = await IotBench.counters(http)
            await http.close()
            n.http += 2  # the counter reads before and after
            log(f"memory: the hour took {wall:.1f}s; hall RSS {after['rss']:.1f} MB, peak (VmHWM) "
                f"{after['hwm']:.1f} MB; screens still open {st['open']}/{self.screens} "
                f"({st['messages']} messages received); errors {n.errors or 'none'}; highest RSS sampled "
                f"{peak['rss']:.1f} MB at {peak.get('at_s', 0):.1f}s (anonymous {peak.get('anon', 0):.1f} MB, "
                f"file {peak.get('file', 0):.1f} MB, {peak.get('threads', 0):.0f} threads); at the end: anonymous "
                f"{after['anon']:.1f} MB, file {after['file']:.1f} MB, {after['threads']:.0f} threads")
            await self.close_screens(sp, result)
            return {"start": start, "after": after, "peak": peak, "wall_s": wall, "http": n.http, "issued": n.issued,
                    "finished": n.finished, "scrapes": n.scrapes, "errors": n.errors,
                    "telemetry_accepted": c["accepted"] - before["accepted"],
                    "telemetry_received": c["received"] - before["received"],
                    "telemetry_rejected": c["rejected"] - before["rejected"],
                    "screens_open": st["open"], "screen_messages": st["messages"]}
        finally:
            await hall.stop()

    # -- the floor ----------------------------------------------------------------------------------------
    async def floor(self, requests: int) -> dict[str, Any]:
        b = self.b
        proc, port = await b.server("bare-http")
        pid = proc.p.pid if proc.p else None
        try:
            await asyncio.sleep(1.0)
            start = proc_memory(pid)
            sp, _got, result, q = await b.screens(f"ws://{HOST}:{port}/ws", self.screens)
            log(f"memory floor: bare Litestar up (pid {pid}), RSS after start-up {start['rss']:.1f} MB; "
                f"{self.screens} WebSockets; {requests} HTTP requests")
            left = [requests]

            async def one() -> None:
                c = await RawHttp(HOST, port).connect()
                try:
                    i = 0
                    while left[0] > 0:
                        left[0] -= 1
                        i += 1
                        status, _ = await c.request("POST", f"{BASE}/tickets",
                                                    {"service": SERVICES[i % len(SERVICES)], "channel": "walk_in"})
                        assert status == 201, status
                finally:
                    await c.close()

            await asyncio.gather(*(one() for _ in range(KIOSKS)))
            await asyncio.sleep(1.0)
            after = proc_memory(pid)
            st = await self.stats(sp, q)
            await self.close_screens(sp, result)
            log(f"memory floor: RSS {after['rss']:.1f} MB, peak {after['hwm']:.1f} MB; WebSockets open {st['open']}")
            return {"start": start, "after": after, "screens_open": st["open"]}
        finally:
            await proc.stop()

    async def run(self) -> list[dict[str, Any]]:
        if mosquitto_exe() is None:
            log("memory: mosquitto is not installed; the memory part is skipped")
            return []
        b = self.b
        env = b.hall_env()
        data_dir = Path(env["HALL_DATA_DIR"])  # the hall's, with the credential store the broker reads
        iot = IotBench(self.a, b.tmp, b.hall_env)
        t = time.monotonic()
        await asyncio.to_thread(iot.provision, data_dir)
        log(f"memory: {len(iot.devices)} devices provisioned ({time.monotonic() - t:.1f}s)")
        devices_file = b.tmp / "memory-devices.json"
        devices_file.write_text(json.dumps(iot.devices + iot.fault_devices))
        os.chmod(devices_file, 0o600)
        await iot.start_broker(data_dir / "mqtt")
        assert iot.broker is not None
        try:
            await iot.start_publishers(devices_file)
            hall = await self.hall_hour(env, iot, devices_file)
        finally:
            for pl in iot.publishers:
                with contextlib.suppress(Exception):
                    await pl.tell("STOP")
                await pl.proc.stop()
            await iot.broker.stop()
        floor = await self.floor(hall["http"])
        common = {
            "devices": len(iot.devices), "screens": self.screens, "simulated_hours": self.hours,
            "database": "sqlite", "processes": 1, "wall_s": _r(hall["wall_s"]),
            "telemetry_messages": self.messages, "telemetry_received": int(hall["telemetry_received"]),
            "telemetry_accepted": int(hall["telemetry_accepted"]),
            "telemetry_rejected": int(hall["telemetry_rejected"]), "telemetry_rate": self.a.memory_rate,
            "tickets": hall["finished"], "http_requests": hall["http"], "metrics_scrapes": hall["scrapes"],
            "errors": hall["errors"], "screens_open_at_end": hall["screens_open"],
            "screen_messages": hall["screen_messages"], "floor_screens_open_at_end": floor["screens_open"],
            "rss_after_start_mb": _r(hall["start"]["rss"]), "floor_rss_after_start_mb": _r(floor["start"]["rss"]),
            "source": "/proc/<pid>/status", "unit_note": "MiB (kB / 1024)",
        }
        return [
            {"metric": "memory_rss_mb", "value": _r(hall["after"]["rss"]), "unit": "MB",
             "floor": _r(floor["after"]["rss"]), "params": {**common, "field": "VmRSS after the hour",
                                                            "goal": "<= 250 MB per process"}},
            {"metric": "memory_peak_rss_mb", "value": _r(hall["after"]["hwm"]), "unit": "MB",
             "floor": _r(floor["after"]["hwm"]), "params": {**common, "field": "VmHWM (peak RSS) over the hour",
                                                            "goal": "<= 250 MB per process"}},
            {"metric": "memory_rss_startup_mb", "value": _r(hall["start"]["rss"]), "unit": "MB",
             "floor": _r(floor["start"]["rss"]), "params": {**common, "field": "VmRSS right after start-up"}},
        ]
