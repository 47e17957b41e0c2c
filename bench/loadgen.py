"""HTTP load generator (its own process, so its CPU does not slow the measuring parent).

    python bench/loadgen.py --port P --conns 64 --seconds 10 --path /api/v1/halls/hn-tja/tickets \
        --body '{"service":"SB","channel":"walk_in"}' --body '{"service":"YB",...}' ...

Each connection sends POSTs back to back on one keep-alive connection, cycling through the bodies,
until the time is up. Prints one JSON object on stdout: counts by status, elapsed seconds, the
rate of 201 answers and request latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import RawHttp, now_ns, percentile, use_uvloop  # noqa: E402


async def run(host: str, port: int, conns: int, seconds: float, warmup: float, path: str,
              bodies: list[bytes]) -> dict:
    clients = [await RawHttp(host, port).connect() for _ in range(conns)]
    requests = [[c.build("POST", path, b) for b in bodies] for c in clients]
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    lat_us: list[float] = []
    t_start = now_ns()
    t_measure = t_start + int(warmup * 1e9)
    t_end = t_measure + int(seconds * 1e9)
    counted = [0]

    async def worker(i: int) -> None:
        c = clients[i]
        reqs = requests[i]
        j = i
        while True:
            t0 = now_ns()
            if t0 >= t_end:
                return
            raw = reqs[j % len(reqs)]
            j += 1
            try:
                status, _ = await c.raw(raw)
            except Exception as e:  # a dropped connection: count it and reconnect
                errors[type(e).__name__] += 1
                await c.close()
                try:
                    await c.connect()
                except Exception as e2:
                    errors[type(e2).__name__] += 1
                    await asyncio.sleep(0.05)
                continue
            t1 = now_ns()
            if t0 >= t_measure and t1 <= t_end:
                statuses[status] += 1
                lat_us.append((t1 - t0) / 1000)
                counted[0] += 1

    await asyncio.gather(*(worker(i) for i in range(conns)))
    for c in clients:
        await c.close()
    ok = statuses.get(201, 0)
    return {
        "ok": ok,
        "rate": ok / seconds,
        "seconds": seconds,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "non_201": sum(v for k, v in statuses.items() if k != 201),
        "conn_errors": dict(errors),
        "latency_p50_ms": round(percentile(lat_us, 50) / 1000, 3),
        "latency_p99_ms": round(percentile(lat_us, 99) / 1000, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--path", required=True)
    ap.add_argument("--body", action="append", required=True)
    a = ap.parse_args()
    use_uvloop()
    res = asyncio.run(run(a.host, a.port, a.conns, a.seconds, a.warmup, a.path, [b.encode() for b in a.body]))
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
