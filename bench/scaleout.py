"""Issue #8's scale-out figures, run by bench/run.py (``--skip-pg`` leaves them out).

* ``tickets_issued_per_s`` on PostgreSQL: the issuing load of the first part against TWO hall
  processes listening on one port (each makes its listening socket with SO_REUSEPORT and hands it
  to ``hall.serving.run(sock=…)``; the kernel spreads the load generator's connections over
  them), on a fresh database, with Redis fan-out (``HALL_REDIS_URL``). Floor: the bare Litestar app
  (bare_app.py) as two processes on one SO_REUSEPORT port. The same load against ONE hall process
  on PostgreSQL is reported too (floor: one bare process), for comparison.
* ``callout_latency_p50_ms``/``_p99_ms`` with 200 screens over two processes: two hall processes on
  one fresh PostgreSQL database, each on its own port, linked by Redis fan-out; 100 screens on
  each; the clerk's call-next goes through process A; latency is measured at all 200 screens.
  Floor: two bare ``websockets`` processes linked by Redis pub/sub (the trigger on the first, 100
  screens on each), measured the same way.

Every measurement gets its own database ``hall_bench_<pid>_<n>`` (created on the server of
``--pg-url``, dropped at the end) and its own Redis key prefix / channel. When PostgreSQL or Redis
does not answer, the part is skipped with a message saying which.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchlib import HOST, Proc, log

if TYPE_CHECKING:
    from run import Bench

HALL = "hn-tja"


def _r(x: float | None, nd: int = 2) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x, nd)


class Databases:
    """Fresh PostgreSQL databases for the run, all dropped by :meth:`drop_all`."""

    def __init__(self, admin_url: str) -> None:
        from sqlalchemy import create_engine

        self.admin_url = admin_url
        self.engine = create_engine(admin_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True,
                                    connect_args={"connect_timeout": 3})
        self.names: list[str] = []

    def check(self) -> str | None:
        """None when the server answers, else why not."""
        from sqlalchemy import text

        try:
            with self.engine.connect() as c:
                c.execute(text("SELECT 1"))
        except Exception as e:  # any failure to connect: the part is skipped
            return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        return None

    def create(self) -> str:
        """A new empty database; returns its URL."""
        from sqlalchemy import text

        name = f"hall_bench_{os.getpid()}_{len(self.names) + 1}"
        with self.engine.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            c.execute(text(f'CREATE DATABASE "{name}"'))
        self.names.append(name)
        return self.engine.url.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        from sqlalchemy import text

        with self.engine.connect() as c:
            for name in self.names:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.names.clear()
        self.engine.dispose()


def postgres_cpu_s() -> float:
    """CPU seconds used so far by every process named ``postgres`` visible here (the server is
    local on the bench machine); NaN when there is none."""
    from iot import cpu_s

    total, found = 0.0, False
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if (d / "comm").read_text().strip() != "postgres":
                continue
        except OSError:
            continue
        c = cpu_s(int(d.name))
        if not math.isnan(c):
            total, found = total + c, True
    return total if found else math.nan


async def with_postgres_cpu(coro: Any) -> dict[str, Any]:
    """Run the issuing load ``coro``; add the local PostgreSQL server's CPU over it, in cores (None
    when the server's processes are not visible here)."""
    t0, c0 = time.monotonic(), await asyncio.to_thread(postgres_cpu_s)
    res = await coro
    c1 = await asyncio.to_thread(postgres_cpu_s)
    res["postgres_cpu_cores"] = round((c1 - c0) / (time.monotonic() - t0), 2) if not math.isnan(c0) else None
    return res


def redis_check(url: str) -> str | None:
    try:
        from redis import Redis

        r = Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        try:
            r.ping()
        finally:
            r.close()
    except Exception as e:  # any failure: the part is skipped
        return f"{type(e).__name__}: {e}"
    return None


class ScaleOut:
    def __init__(self, b: Bench) -> None:
        self.b = b
        self.a = b.a
        self.dbs = Databases(self.a.pg_url)
        self.runs = 0

    def env(self, db_url: str) -> dict[str, str]:
        """A hall environment (temp data dir, clock, secret) on ``db_url`` with Redis fan-out under
        a prefix of its own."""
        self.runs += 1
        env = self.b.hall_env()
        env.update(HALL_DATABASE_URL=db_url, HALL_REDIS_URL=self.a.redis_url,
                   HALL_REDIS_PREFIX=f"hall-bench-{os.getpid()}-{self.runs}")
        return env

    async def fresh_env(self) -> dict[str, str]:
        url = await asyncio.to_thread(self.dbs.create)
        log(f"fresh PostgreSQL database {url.rsplit('/', 1)[1]}")
        return self.env(url)

    async def reuse_port_pair(self, kind: str, env: dict[str, str] | None) -> tuple[list[Proc], int]:
        """Two ``kind`` processes on one port (SO_REUSEPORT). The first one migrates the database
        and creates the clerks before the second starts."""
        p1, port = await self.b.server(kind, "--reuse-port", env=env)
        p2, port2 = await self.b.server(kind, "--reuse-port", "--port", str(port), env=env)
        assert port2 == port, (port, port2)
        return [p1, p2], port

    async def available(self) -> str | None:
        why = await asyncio.to_thread(self.dbs.check)
        if why:
            return f"PostgreSQL at {self.a.pg_url} does not answer ({why})"
        why = await asyncio.to_thread(redis_check, self.a.redis_url)
        if why:
            return f"Redis at {self.a.redis_url} does not answer ({why})"
        return None

    # -- ticket issuing on PostgreSQL --------------------------------------------------------------
    async def issuing(self) -> list[dict[str, Any]]:
        b = self.b
        out = []
        # floor: the bare app, two processes on one port, then one
        procs, port = await self.reuse_port_pair("bare-http", None)
        try:
            floor2 = await b.issue_load("bare Litestar, 2 processes on one port", False, port, procs)
        finally:
            for p in procs:
                await p.stop()
        procs, port = await self.reuse_port_pair("hall", await self.fresh_env())
        try:
            hall2 = await with_postgres_cpu(
                b.issue_load("the hall on PostgreSQL, 2 processes on one port", True, port, procs))
        finally:
            for p in procs:
                await p.stop()
        floor1 = b.issuing_floor  # measured already by the SQLite part of this run
        if floor1 is None:
            p1, port = await b.server("bare-http")
            try:
                floor1 = await b.issue_load("bare Litestar, 1 process", False, port, [p1])
            finally:
                await p1.stop()
        p1, port = await b.server("hall", env=await self.fresh_env())
        try:
            hall1 = await with_postgres_cpu(b.issue_load("the hall on PostgreSQL, 1 process", True, port, [p1]))
        finally:
            await p1.stop()
        for n, hall, floor in ((2, hall2, floor2), (1, hall1, floor1)):
            params = {
                "processes": n, "database": "postgresql", "fanout": "redis",
                "listening": "one port, SO_REUSEPORT" if n > 1 else "one port",
                "connections": self.a.conns, "seconds": self.a.seconds, "channel": "walk_in",
                "errors": hall["non_201"] + sum(hall["conn_errors"].values()),
                "statuses": hall["statuses"], "conn_errors": hall["conn_errors"],
                "latency_p50_ms": hall["latency_p50_ms"], "latency_p99_ms": hall["latency_p99_ms"],
                "floor_latency_p50_ms": floor["latency_p50_ms"], "floor_errors": floor["non_201"],
                "cpu_cores": hall["cpu_cores"], "floor_cpu_cores": floor["cpu_cores"],
                "postgres_cpu_cores": hall.get("postgres_cpu_cores"),
                "client": "raw asyncio HTTP/1.1 keep-alive, separate process",
            }
            if n == 2:
                params["goal"] = ">= 2000"
            out.append({"metric": "tickets_issued_per_s", "value": _r(hall["rate"], 1), "unit": "tickets/s",
                        "floor": _r(floor["rate"], 1), "params": params})
        return out

    # -- call-out latency over two processes ----------------------------------------------------------
    async def callouts(self) -> list[dict[str, Any]]:
        b = self.b
        k = self.a.scaleout_screens
        env = await self.fresh_env()
        pa, port_a = await b.server("hall", env=env)
        procs = [pa]
        try:
            pb, port_b = await b.server("hall", env=env)
            procs.append(pb)
            urls = [f"ws://{HOST}:{p}/ws/halls/{HALL}" for p in (port_a, port_b)]
            hall = (await b.callouts_on(port_a, urls, [k], "two hall processes (PostgreSQL, Redis fan-out)"))[k]
            for p in procs:
                if p.p and p.p.returncode is not None:
                    raise RuntimeError(f"a hall process died during the run{p.tail()}")
        finally:
            for p in procs:
                await p.stop()
        channel = f"hall-bench-{os.getpid()}-floor"
        extra = ["--no-deflate", "--redis", self.a.redis_url, "--channel", channel]
        fa, fport_a = await b.server("bare-ws", *extra)
        procs = [fa]
        try:
            fb, fport_b = await b.server("bare-ws", *extra)
            procs.append(fb)
            urls = [f"ws://{HOST}:{p}/screen" for p in (fport_a, fport_b)]
            floor = (await b.floor_callouts_on(fport_a, urls, [k], "two bare websockets processes (Redis)"))[k]
        finally:
            for p in procs:
                await p.stop()
        out = []
        for stat in ("p50", "p99"):
            params: dict[str, Any] = {
                "screens": k, "processes": 2, "screens_per_process": [k // 2 + k % 2, k // 2],
                "database": "postgresql", "fanout": "redis", "callouts": hall["callouts"],
                "receipts": hall["receipts"], "missing_receipts": hall["missing"], "max_ms": _r(hall["max"]),
                "floor_max_ms": _r(floor["max"]), "first_screen_p50_ms": _r(hall["first_p50"]),
                "last_screen_p50_ms": _r(hall["last_p50"]), "call_next_http_p50_ms": _r(hall["http_p50"]),
                "call_next_http_p99_ms": _r(hall["http_p99"]),
                "by_process": [{"p50_ms": _r(x["p50"]), "p99_ms": _r(x["p99"]), "max_ms": _r(x["max"])}
                               for x in hall.get("by_server", [])],
                "floor_by_process": [{"p50_ms": _r(x["p50"]), "p99_ms": _r(x["p99"]), "max_ms": _r(x["max"])}
                                     for x in floor.get("by_server", [])],
                "screens_offer_deflate": not self.a.no_deflate, "server_deflate": False,
                "path": "call-next through process A; screens on A and B",
            }
            if stat == "p99":
                params["goal"] = "<= 25 ms"
            out.append({"metric": f"callout_latency_{stat}_ms", "value": _r(hall[stat]), "unit": "ms",
                        "floor": _r(floor[stat]), "params": params})
        return out

    async def run(self) -> list[dict[str, Any]]:
        why = await self.available()
        if why:
            log(f"scale-out part skipped: {why}")
            return []
        out: list[dict[str, Any]] = []
        try:
            if not self.a.skip_issuing:
                out += await self.issuing()
            if not self.a.skip_callouts:
                out += await self.callouts()
        finally:
            await asyncio.to_thread(self.dbs.drop_all)
        return out
