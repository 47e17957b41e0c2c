"""The hall's benchmarks (CONTRACT.md, "Command line"):

    python bench/run.py [--quick] --out FILE.json

writes a JSON list of ``{"metric", "value", "unit", "floor", "params"}``; ``floor`` is the same
figure for the bare library (Litestar on uvicorn, a bare ``websockets`` server, or a raw paho
subscriber on the same Mosquitto), measured in the same run in the same way. Progress goes to stderr, a table to stdout. See bench/README.md.

Every server runs as its own process group on 127.0.0.1 and a free port, the hall on SQLite in a
temporary data directory with its clock set to a Monday 09:30 (services open at any real hour);
all of them are stopped and the directory removed at the end, whatever happens.

Parts, in order (each can be skipped): ticket issuing (SQLite, one process), call-out latency
(one process; 1/50/200 screens), the scale-out part (scaleout.py: issuing on PostgreSQL with two
processes on one SO_REUSEPORT port and with one, call-outs with 200 screens over two processes
linked by Redis; its databases are created and dropped in the run), the IoT part (iot.py), the
MQTT ingest with two hall processes owning one hall each (ingest2.py) and the resident memory
after a simulated hour (memory.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from benchlib import HOST, Proc, RawHttp, kill_all_sync, log, now_ns, percentile, use_uvloop, wait_healthy  # noqa: E402
from ingest2 import Ingest2  # noqa: E402
from iot import IotBench, mosquitto_exe  # noqa: E402
from memory import MemoryBench  # noqa: E402
from scaleout import ScaleOut  # noqa: E402
from servers import BENCH_PASSWORD  # noqa: E402

HALL = "hn-tja"
HALL_CLOCK = "2026-11-23T09:30+08:00"  # a Monday in opening hours


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.a = args
        self.tmp = tmp
        self.halls = 0
        self.procs = 0
        self.issuing_floor: dict[str, Any] | None = None  # the bare app, one process (shared by two figures)

    def hall_env(self) -> dict[str, str]:
        self.halls += 1
        data = self.tmp / f"hall-{self.halls}"
        data.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HALL_")}
        env.update(HALL_DATA_DIR=str(data), HALL_CLOCK=HALL_CLOCK, HALL_SECRET="bench-secret")
        return env

    async def server(self, kind: str, *extra: str, env: dict[str, str] | None = None) -> tuple[Proc, int]:
        if kind == "hall" and env is None:
            env = self.hall_env()
        self.procs += 1
        cmd = [str(HERE / "servers.py"), kind, *extra]
        if kind == "hall" and self.a.hall_launcher:
            cmd = [self.a.hall_launcher]
        proc = await Proc(f"{kind}-{self.procs}", cmd, env=env, log_dir=self.tmp).start()
        port = await proc.port()
        if kind != "bare-ws":
            await wait_healthy(port, proc)
        log(f"{kind} server up on {HOST}:{port} (pid {proc.p.pid})")
        return proc, port

    # -- metric 1: ticket issuing rate ---------------------------------------------------------
    async def issuing(self, kind: str) -> dict[str, Any]:
        proc, port = await self.server(kind)
        try:
            return await self.issue_load(kind, kind == "hall", port, [proc])
        finally:
            await proc.stop()

    async def issue_load(self, label: str, hall: bool, port: int, procs: list[Proc]) -> dict[str, Any]:
        """The issuing load (loadgen.py) against ``port``, served by ``procs`` (several when they
        share the port with SO_REUSEPORT); each process's CPU over the run is in ``cpu_cores``."""
        from iot import Cpu

        services = ["SB", "YB", "GJJ", "BDC", "QY", "HJ", "SW"]
        if hall:
            c = await RawHttp(HOST, port).connect()
            status, body = await c.request("GET", f"/api/v1/halls/{HALL}/services")
            await c.close()
            assert status == 200, (status, body)
            services = [s["code"] for s in body if s["open"]]
            assert services, "no service open: check HALL_CLOCK"
        bodies = []
        for s in services:
            bodies += ["--body", json.dumps({"service": s, "channel": "walk_in"})]
        log(f"issuing against {label}: {self.a.conns} connections, {self.a.seconds:g}s, "
            f"services {','.join(services)}")
        gen = await Proc(f"loadgen-{self.procs}", [str(HERE / "loadgen.py"), "--port", str(port), "--conns",
                                                   str(self.a.conns), "--seconds", str(self.a.seconds),
                                                   "--path", f"/api/v1/halls/{HALL}/tickets", *bodies],
                         log_dir=self.tmp).start()
        cpu = Cpu({f"server{i + 1}": [p] for i, p in enumerate(procs)})
        await asyncio.sleep(0.5)  # loadgen's warm-up
        cpu.start()
        line = await gen.line(self.a.seconds + 120)
        res = json.loads(line)
        res["cpu_cores"] = cpu.stop()
        await gen.stop()
        log(f"  {label}: {res['rate']:.0f} tickets/s (201s: {res['ok']}, statuses {res['statuses']}, "
            f"conn errors {res['conn_errors']}, p50 {res['latency_p50_ms']} ms, p99 {res['latency_p99_ms']} ms; "
            f"CPU in cores {res['cpu_cores']})")
        for proc in procs:
            if proc.p and proc.p.returncode is not None:
                raise RuntimeError(f"{label} died during the run{proc.tail()}")
        return res

    # -- metric 2: call-out latency ------------------------------------------------------------
    async def screens(self, url: str | list[str], k: int) -> tuple[Proc, dict[str, asyncio.Future], asyncio.Future,
                                                                  asyncio.Queue]:
        """K screens in one process (screens.py), spread over the URLs when there are several;
        ``quiet`` also receives the answers to ``STATS``."""
        extra = ["--no-deflate"] if self.a.no_deflate else []
        for u in [url] if isinstance(url, str) else url:
            extra += ["--url", u]
        proc = await Proc(f"screens-{k}", [str(HERE / "screens.py"), "--screens", str(k), *extra],
                          stdin=True, log_dir=self.tmp).start()
        while (await proc.line(120)) != "READY":
            pass
        got: dict[str, asyncio.Future] = {}
        result: asyncio.Future = asyncio.get_running_loop().create_future()
        quiet: asyncio.Queue = asyncio.Queue()

        async def pump() -> None:
            while True:
                try:
                    line = await proc.line(3600)
                except Exception as e:
                    if not result.done():
                        result.set_exception(e)
                    return
                if line.startswith("GOT "):
                    fut = got.setdefault(line[4:], asyncio.get_running_loop().create_future())
                    if not fut.done():
                        fut.set_result(None)
                elif line == "QUIET":
                    quiet.put_nowait(None)
                elif line.startswith("STATS "):
                    quiet.put_nowait(json.loads(line[6:]))
                elif line.startswith("RESULT "):
                    result.set_result(json.loads(line[7:]))
                    return

        asyncio.create_task(pump())
        return proc, got, result, quiet

    async def quiet(self, proc: Proc, q: asyncio.Queue) -> None:
        """Wait until the screens have received nothing for ``--quiet`` ms (earlier events drained)."""
        assert proc.p and proc.p.stdin
        proc.p.stdin.write(f"QUIET {self.a.quiet}\n".encode())
        await proc.p.stdin.drain()
        await asyncio.wait_for(q.get(), 60)

    async def collect(self, proc: Proc, result: asyncio.Future, sent: dict[str, int], k: int) -> dict[str, Any]:
        assert proc.p and proc.p.stdin
        proc.p.stdin.write(b"DUMP\n")
        await proc.p.stdin.drain()
        dump = await asyncio.wait_for(result, 60)
        await proc.stop()
        res = latencies(dump["receipts"], sent, k)
        if len(dump["by_url"]) > 1:  # per server: the screens of each
            n = len(dump["by_url"])
            res["by_server"] = [latencies(part, sent, k // n + (i < k % n)) for i, part in enumerate(dump["by_url"])]
        return res

    async def wait_got(self, got: dict[str, asyncio.Future], tid: str) -> bool:
        fut = got.setdefault(tid, asyncio.get_running_loop().create_future())
        try:
            await asyncio.wait_for(asyncio.shield(fut), 10)
            return True
        except TimeoutError:
            return False

    async def callouts_hall(self) -> dict[int, dict[str, Any]]:
        proc, port = await self.server("hall")
        try:
            out = await self.callouts_on(port, [f"ws://{HOST}:{port}/ws/halls/{HALL}"], self.a.screens, "the hall")
            if proc.p and proc.p.returncode is not None:
                raise RuntimeError(f"hall died during the run{proc.tail()}")
        finally:
            await proc.stop()
        return out

    async def callouts_on(self, port: int, urls: list[str], counts: list[int], label: str) -> dict[int, dict[str, Any]]:
        """Call-outs made through the hall on ``port`` (kiosk and clerk), measured at K screens
        spread over ``urls`` (one hall process, or several linked by Redis), for each K."""
        out: dict[int, dict[str, Any]] = {}
        clerk = await RawHttp(HOST, port).connect()
        kiosk = await RawHttp(HOST, port).connect()
        status, body = await clerk.request("POST", "/api/v1/auth/login",
                                           {"username": "clerk01", "password": BENCH_PASSWORD})
        assert status == 200, (status, body)
        auth = {"Authorization": f"Bearer {body['token']}"}
        win = "1"
        base = f"/api/v1/halls/{HALL}"
        status, body = await clerk.request("POST", f"{base}/windows/{win}/sign-in", headers=auth)
        assert status == 200, (status, body)
        call_next = clerk.build("POST", f"{base}/windows/{win}/call-next", None, auth)
        start = clerk.build("POST", f"{base}/windows/{win}/start", None, auth)
        issue = kiosk.build("POST", f"{base}/tickets", json.dumps({"service": "SB", "channel": "walk_in"}).encode())
        for k in counts:
            sp, got, result, quiet = await self.screens(urls, k)
            log(f"call-outs on {label}: {k} screens connected; {self.a.callouts} call-outs")
            for c in (clerk, kiosk):  # idle while the screens connected: the server may have closed them
                await c.close()
                await c.connect()
            sent: dict[str, int] = {}
            http_ms: list[float] = []
            timeouts = 0
            for i in range(self.a.warmup + self.a.callouts):
                status, _ = await kiosk.raw(issue)
                assert status == 201, status
                await self.quiet(sp, quiet)
                t0 = now_ns()
                status, body = await clerk.raw(call_next)
                t1 = now_ns()
                assert status == 200, (status, body)
                tid = json.loads(body)["ticket"]["id"]
                ok = await self.wait_got(got, tid)
                if i >= self.a.warmup:
                    sent[tid] = t0
                    http_ms.append((t1 - t0) / 1e6)
                    timeouts += not ok
                status, body = await clerk.raw(start)
                assert status == 200, (status, body)
            res = await self.collect(sp, result, sent, k)
            res["http_p50"] = percentile(http_ms, 50)
            res["http_p99"] = percentile(http_ms, 99)
            res["timeouts"] = timeouts
            out[k] = res
            log(f"  {label}, {k} screens: p50 {res['p50']:.2f} ms, p99 {res['p99']:.2f} ms, "
                f"max {res['max']:.2f} ms (first screen p50 {res['first_p50']:.2f} ms, last screen p50 "
                f"{res['last_p50']:.2f} ms, call-next answer p50 {res['http_p50']:.2f} ms; missing receipts "
                f"{res['missing']}){by_server(res)}")
        await clerk.close()
        await kiosk.close()
        return out

    async def callouts_floor(self) -> dict[int, dict[str, Any]]:
        # Like for like: the hall refuses permessage-deflate (hall.serving), so the floor does too.
        proc, port = await self.server("bare-ws", "--no-deflate")
        try:
            return await self.floor_callouts_on(port, [f"ws://{HOST}:{port}/screen"], self.a.screens,
                                                "bare websockets")
        finally:
            await proc.stop()

    async def floor_callouts_on(self, port: int, urls: list[str], counts: list[int],
                                label: str) -> dict[int, dict[str, Any]]:
        """The floor's call-outs: a trigger message to the bare server on ``port``, measured at K
        screens spread over ``urls``, for each K."""
        from websockets.asyncio.client import connect

        out: dict[int, dict[str, Any]] = {}
        trigger = await connect(f"ws://{HOST}:{port}/trigger", compression=None, ping_interval=None)
        for k in counts:
            sp, got, result, quiet = await self.screens(urls, k)
            log(f"call-outs on {label}: {k} screens connected; {self.a.callouts} call-outs")
            sent: dict[str, int] = {}
            timeouts = 0
            for i in range(self.a.warmup + self.a.callouts):
                tid = f"k{k}-{i:05d}"
                await self.quiet(sp, quiet)
                t0 = now_ns()
                await trigger.send(tid)
                ok = await self.wait_got(got, tid)
                if i >= self.a.warmup:
                    sent[tid] = t0
                    timeouts += not ok
            res = await self.collect(sp, result, sent, k)
            res["timeouts"] = timeouts
            out[k] = res
            log(f"  {label} (floor), {k} screens: p50 {res['p50']:.2f} ms, p99 {res['p99']:.2f} ms, "
                f"max {res['max']:.2f} ms (first screen p50 {res['first_p50']:.2f} ms, last screen p50 "
                f"{res['last_p50']:.2f} ms){by_server(res)}")
        await trigger.close()
        return out


def latencies(receipts: dict[str, list[int]], sent: dict[str, int], k: int) -> dict[str, Any]:
    """Call-out latency over every screen and call-out: receipt − the moment before the trigger."""
    lat: list[float] = []
    first: list[float] = []
    last: list[float] = []
    missing = 0
    for tid, t0 in sent.items():
        stamps = receipts.get(tid, [])
        missing += k - len(stamps)
        mine = [(t - t0) / 1e6 for t in stamps]
        lat += mine
        if mine:
            first.append(min(mine))
            last.append(max(mine))
    return {"p50": percentile(lat, 50), "p99": percentile(lat, 99), "max": max(lat) if lat else math.nan,
            "first_p50": percentile(first, 50), "last_p50": percentile(last, 50),
            "receipts": len(lat), "missing": missing, "callouts": len(sent)}


def by_server(res: dict[str, Any]) -> str:
    parts = [f"process {i + 1}: p50 {x['p50']:.2f} ms, p99 {x['p99']:.2f} ms"
             for i, x in enumerate(res.get("by_server", []))]
    return f"; {'; '.join(parts)}" if parts else ""


def r(x: float, nd: int = 2) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x, nd)


async def amain(a: argparse.Namespace) -> list[dict[str, Any]]:
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    assert me is not None
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, me.cancel)  # stop cleanly: the finally below ends every child
    load_at_start = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="hall-bench-"))
    results: list[dict[str, Any]] = []
    b = Bench(a, tmp)
    try:
        log(f"{'quick' if a.quick else 'full'} run; temp dir {tmp}; {os.cpu_count()} CPUs; "
            f"load average {load_at_start:.2f} (other work on the machine skews the figures; the floors "
            "are measured in the same run)")
        if not a.skip_issuing:
            floor = b.issuing_floor = await b.issuing("bare-http")
            hall = await b.issuing("hall")
            results.append({
                "metric": "tickets_issued_per_s", "value": r(hall["rate"], 1), "unit": "tickets/s",
                "floor": r(floor["rate"], 1),
                "params": {
                    "connections": a.conns, "seconds": a.seconds, "channel": "walk_in",
                    "errors": hall["non_201"] + sum(hall["conn_errors"].values()),
                    "statuses": hall["statuses"], "conn_errors": hall["conn_errors"],
                    "latency_p50_ms": hall["latency_p50_ms"], "latency_p99_ms": hall["latency_p99_ms"],
                    "floor_latency_p50_ms": floor["latency_p50_ms"], "floor_errors": floor["non_201"],
                    "database": "sqlite", "processes": 1, "cpu_cores": hall["cpu_cores"],
                    "floor_cpu_cores": floor["cpu_cores"],
                    "client": "raw asyncio HTTP/1.1 keep-alive, separate process",
                    "goal": ">= 1000",
                },
            })
        if not a.skip_callouts:
            hall_lat = await b.callouts_hall()
            floor_lat = await b.callouts_floor()
            for stat in ("p50", "p99"):
                for k in a.screens:
                    h, f = hall_lat[k], floor_lat[k]
                    params = {"screens": k, "callouts": h["callouts"], "receipts": h["receipts"],
                              "missing_receipts": h["missing"], "max_ms": r(h["max"]),
                              "floor_max_ms": r(f["max"]), "first_screen_p50_ms": r(h["first_p50"]),
                              "last_screen_p50_ms": r(h["last_p50"]), "call_next_http_p50_ms": r(h["http_p50"]),
                              "call_next_http_p99_ms": r(h["http_p99"]),
                              "screens_offer_deflate": not a.no_deflate, "server_deflate": False,
                              "path": "call-next from serving"}
                    if stat == "p99" and k == max(a.screens):
                        params["goal"] = "<= 25 ms and <= 2x floor"
                    results.append({"metric": f"callout_latency_{stat}_ms", "value": r(h[stat]), "unit": "ms",
                                    "floor": r(f[stat]), "params": params})
        if not a.skip_pg and not (a.skip_issuing and a.skip_callouts):
            results += await ScaleOut(b).run()
        if not a.skip_iot:
            if mosquitto_exe() is None:
                log("iot: mosquitto is not installed; the IoT part is skipped")
            else:
                results += await IotBench(a, tmp, b.hall_env).run()
        if not a.skip_iot and not a.skip_pg and mosquitto_exe() is not None:
            # ingest with two hall processes: needs PostgreSQL, Redis and Mosquitto
            so = ScaleOut(b)
            why = await so.available()
            if why:
                log(f"ingest with two processes skipped: {why}")
            else:
                try:
                    results += await Ingest2(b, so).run()
                finally:
                    await asyncio.to_thread(so.dbs.drop_all)
        if not a.skip_memory:
            results += await MemoryBench(b).run()
    finally:
        for pr in list(Proc.live):
            await pr.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    machine = {"cpus": os.cpu_count(), "loadavg_1m_at_start": round(load_at_start, 2),
               "python": sys.version.split()[0], "run": "quick" if a.quick else "full"}
    for m in results:
        m["params"].update(machine)
    return results


def table(results: list[dict[str, Any]]) -> str:
    rows = [("metric", "params", "value", "floor", "ratio")]
    for m in results:
        p = m["params"]
        if "rss_after_start_mb" in p:
            what = f"devices={p['devices']} screens={p['screens']}"
        elif "screens" in p:
            what = f"screens={p['screens']}" + (f" processes={p['processes']}" if "processes" in p else "")
        elif "background_rate" in p:
            what = f"background={p['background_rate']}/s"
        elif "devices" in p:
            what = f"devices={p['devices']}" + (f" processes={p['processes']}" if "processes" in p else "")
        else:
            what = f"conns={p.get('connections')}"
            if "database" in p:
                what += f" {p['database']}" + (f" processes={p['processes']}" if "processes" in p else "")
        v, f = m["value"], m["floor"]
        ratio = f"{v / f:.2f}x" if v is not None and f else "-"
        rows.append((m["metric"], what, f"{v} {m['unit']}", f"{f} {m['unit']}" if f is not None else "-", ratio))
    widths = [max(len(str(row[i])) for row in rows) for i in range(5)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a short run (about 2 minutes) for CI")
    ap.add_argument("--out", required=True, help="write the JSON list of results here")
    ap.add_argument("--conns", type=int, default=64, help="concurrent HTTP connections (default 64)")
    ap.add_argument("--seconds", type=float, help="issuing run length (quick 3, full 10)")
    ap.add_argument("--callouts", type=int, help="measured call-outs per screen count (quick 50, full 200)")
    ap.add_argument("--screens", default="1,50,200", help="screen counts, comma-separated")
    ap.add_argument("--quiet", type=float, default=20.0,
                    help="before each call-out, wait until the screens have received nothing for this many ms "
                         "(default 20): each call-out starts from a quiet hall")
    ap.add_argument("--no-deflate", action="store_true",
                    help="screens do not offer permessage-deflate (browsers do; default: offer it)")
    ap.add_argument("--hall-launcher", metavar="FILE",
                    help="start the hall with this Python file instead of 'servers.py hall' (to try a variant; "
                         "it must print 'PORT <n>' and create the clerks as servers.py does)")
    ap.add_argument("--skip-issuing", action="store_true")
    ap.add_argument("--skip-callouts", action="store_true")
    ap.add_argument("--skip-iot", action="store_true", help="leave out the IoT part (Mosquitto, ingest, alarms)")
    ap.add_argument("--skip-pg", action="store_true",
                    help="leave out the scale-out part (PostgreSQL + Redis: issuing on 2 processes and 1, call-outs "
                         "over 2 processes)")
    ap.add_argument("--pg-url", default=os.environ.get("HALL_BENCH_PG_URL",
                                                       "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
                    help="a PostgreSQL server where the run may create and drop its databases (hall_bench_<pid>_<n>)")
    ap.add_argument("--redis-url", default=os.environ.get("HALL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
                    help="Redis for the fan-out between processes (keys and channels under a prefix of the run)")
    ap.add_argument("--skip-memory", action="store_true",
                    help="leave out the resident memory after an hour of simulated traffic")
    ap.add_argument("--memory-hours", type=float,
                    help="simulated hours of traffic for the memory figure (quick 0.1, full 1)")
    ap.add_argument("--memory-tickets", type=int, default=600,
                    help="tickets per simulated hour (default 600: about 10x the busiest hour of the reference day)")
    ap.add_argument("--memory-rate", type=float, default=5000.0,
                    help="telemetry msg/s offered while the hour runs (default 5000)")
    ap.add_argument("--memory-screens", type=int, default=200, help="screens connected for the memory figure")
    ap.add_argument("--scaleout-screens", type=int, default=200,
                    help="screens for the call-outs over two processes, half on each (default 200)")
    ap.add_argument("--iot-seconds", type=float, help="IoT ingest measuring interval (quick 3, full 10)")
    ap.add_argument("--iot-samples", type=int, help="measured fault events (quick 30, full 200)")
    ap.add_argument("--iot-devices", type=int, default=200, help="telemetry devices, half kiosks (default 200)")
    ap.add_argument("--iot-rate", type=float, default=20000.0,
                    help="offered telemetry msg/s while the ingest rate is measured (default 20000, twice the "
                         "goal; 0: as fast as the broker takes it)")
    ap.add_argument("--iot-profile", metavar="FILE",
                    help="record the hall with py-spy during the ingest interval (collapsed stacks into FILE)")
    ap.add_argument("--iot-publishers", type=int, default=2, help="telemetry publisher processes (default 2)")
    ap.add_argument("--ingest2-rate", type=float, default=40000.0,
                    help="offered telemetry msg/s in all for the ingest with two hall processes (default 40000)")
    ap.add_argument("--iot-background", type=float, default=1000.0,
                    help="background telemetry msg/s during the alarm latency (default 1000)")
    a = ap.parse_args()
    a.seconds = a.seconds or (3.0 if a.quick else 10.0)
    a.callouts = a.callouts or (50 if a.quick else 200)
    a.warmup = 5
    a.iot_seconds = a.iot_seconds or (3.0 if a.quick else 10.0)
    a.iot_samples = a.iot_samples or (30 if a.quick else 200)
    a.iot_warmup = 1.0 if a.quick else 2.0
    a.memory_hours = a.memory_hours or (0.1 if a.quick else 1.0)
    a.screens = [int(x) for x in a.screens.split(",") if x.strip()]
    use_uvloop()
    try:
        results = asyncio.run(amain(a))
    except (KeyboardInterrupt, asyncio.CancelledError):
        log("interrupted; every server stopped, temporary files removed")
        return 130
    finally:
        kill_all_sync()
    Path(a.out).write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n")
    print(table(results))
    log(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
