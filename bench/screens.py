"""K hall screens in one process: WebSocket clients (the ``websockets`` library) that stamp every
call-out the moment it arrives.

    python bench/screens.py --url ws://127.0.0.1:P/ws/halls/hn-tja --screens 200 [--no-deflate]
    python bench/screens.py --url ws://…:P1/… --url ws://…:P2/… --screens 200
        (several servers: screen i connects to url i mod n, so 100 on each of two)

Protocol with the parent (bench/run.py), one line at a time:
  stdout ``READY``         every screen is connected and has read its first message (the snapshot)
  stdout ``GOT <id>``      every screen has received the call-out of ticket <id>
  stdin  ``QUIET <ms>``    answer ``QUIET`` once no screen has received anything for <ms> ms
                           (the server has finished fanning out earlier events, and the screens
                           have read them: the next call-out starts from a quiet hall)
  stdin  ``STATS``         answer ``STATS <json>``: {"open": screens still connected, "messages": received}
  stdin  ``DUMP``          print ``RESULT <json>``: {"receipts": {id: [receipt stamps, ns]},
                           "by_url": [{id: [stamps]} for each url]} and exit

Stamps are ``time.monotonic_ns()`` (CLOCK_MONOTONIC, the same clock in every process), taken
before the message is parsed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import now_ns, use_uvloop  # noqa: E402

MARK = "ticket.called"


async def run(urls: list[str], k: int, compression: bool) -> None:
    from websockets.asyncio.client import connect

    receipts: dict[str, list[int]] = {}
    by_url: list[dict[str, list[int]]] = [{} for _ in urls]
    last_rx = [now_ns()]
    counts = {"open": 0, "messages": 0}
    out = sys.stdout

    async def open_one(url: str) -> object:
        ws = await connect(url, compression="deflate" if compression else None, ping_interval=None,
                           max_size=None, open_timeout=60, close_timeout=1)
        await ws.recv()  # the snapshot (hall) or hello (floor)
        return ws

    sem = asyncio.Semaphore(32)

    async def opened(i: int) -> object:
        async with sem:
            return await open_one(urls[i % len(urls)])

    sockets = await asyncio.gather(*(opened(i) for i in range(k)))

    async def listen(ws, mine: dict[str, list[int]]) -> None:  # noqa: ANN001
        counts["open"] += 1
        try:
            async for msg in ws:
                t = now_ns()
                last_rx[0] = t
                counts["messages"] += 1
                if MARK not in msg:
                    continue
                env = json.loads(msg)
                if env.get("type") != MARK or env["data"].get("recall"):
                    continue
                tid = env["data"]["ticket_id"]
                mine.setdefault(tid, []).append(t)
                got = receipts.setdefault(tid, [])
                got.append(t)
                if len(got) == k:
                    out.write(f"GOT {tid}\n")
                    out.flush()
        except Exception:
            pass
        finally:
            counts["open"] -= 1

    tasks = [asyncio.create_task(listen(ws, by_url[i % len(urls)])) for i, ws in enumerate(sockets)]
    out.write("READY\n")
    out.flush()
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if not line or line == "DUMP":
            break
        if line.startswith("QUIET"):
            quiet_ns = int(float(line.split()[1]) * 1e6)
            await asyncio.sleep(quiet_ns / 1e9)
            while (gap := now_ns() - last_rx[0]) < quiet_ns:
                await asyncio.sleep((quiet_ns - gap) / 1e9)
            out.write("QUIET\n")
            out.flush()
        elif line == "STATS":
            await asyncio.sleep(0)  # let the listeners start
            out.write("STATS " + json.dumps(counts) + "\n")
            out.flush()
    out.write("RESULT " + json.dumps({"receipts": receipts, "by_url": by_url}) + "\n")
    out.flush()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", action="append", required=True, help="a server's WebSocket URL; repeat for several")
    ap.add_argument("--screens", type=int, required=True)
    ap.add_argument("--no-deflate", action="store_true")
    a = ap.parse_args()
    use_uvloop()
    asyncio.run(run(a.url, a.screens, compression=not a.no_deflate))


if __name__ == "__main__":
    main()
