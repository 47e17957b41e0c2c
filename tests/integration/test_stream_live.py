"""Many screens on a real server while events pour in: every screen gets every event once, in seq
order, each the same text; a screen with a topic filter gets exactly its topic's events; a screen
that replays from ``since`` goes on live without a seam (real uvicorn, real sockets: the path
where the server writes a caught-up screen's events itself, hall.web.stream._deliver_directly)."""

from __future__ import annotations

import asyncio
import json

import httpx
import websockets

from tests.conftest import PASSWORD
from tests.live import LiveServer

API = "/api/v1/halls/hn-tja"
TICKETS = 300
CALLS = 20
WAIT_S = 60.0


async def _screen(url: str, until: list[int], out: list[dict]) -> None:
    """Read the stream (snapshot first, when there is one) until the burst is over (``until`` is
    set) and nothing more has come for a second."""
    async with websockets.connect(url, max_queue=None) as ws:
        while True:
            try:
                out.append(json.loads(await asyncio.wait_for(ws.recv(), 1.0)))
            except TimeoutError:
                if until:
                    return


async def _scenario(base: str, ws_base: str) -> tuple[dict[str, list[list[dict]]], int]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        token = (await http.post("/api/v1/auth/login", json={"username": "clerk01", "password": PASSWORD})).json()
        auth = {"Authorization": f"Bearer {token['token']}"}
        assert (await http.post(f"{API}/windows/1/sign-in", headers=auth)).status_code == 200
        until: list[int] = []  # filled once the burst is over: the hall's last seq
        kinds = {"plain": f"{ws_base}/ws/halls/hn-tja", "window": f"{ws_base}/ws/halls/hn-tja?topics=window",
                 "replay": f"{ws_base}/ws/halls/hn-tja?since=0"}
        got: dict[str, list[list[dict]]] = {k: [] for k in kinds}
        tasks = []
        for kind, n in (("plain", 12), ("window", 3), ("replay", 3)):
            for _ in range(n):
                out: list[dict] = []
                got[kind].append(out)
                tasks.append(asyncio.create_task(_screen(kinds[kind], until, out)))
        await asyncio.sleep(0.5)  # the screens connect (a late one still gets all from its snapshot on)
        sem = asyncio.Semaphore(24)

        async def issue(i: int) -> None:
            async with sem:
                r = await http.post(f"{API}/tickets", json={"service": ["SB", "YB", "GJJ"][i % 3],
                                                            "channel": "walk_in"})
                assert r.status_code == 201, r.text

        async def calls() -> None:
            done = 0
            while done < CALLS:
                r = await http.post(f"{API}/windows/1/call-next", headers=auth)
                if r.status_code == 204:  # no ticket yet: the kiosks have only begun
                    await asyncio.sleep(0.02)
                    continue
                assert r.status_code == 200, r.text
                for step in ("start", "finish"):
                    r = await http.post(f"{API}/windows/1/{step}", headers=auth)
                    assert r.status_code == 200, r.text
                done += 1

        await asyncio.gather(calls(), *(issue(i) for i in range(TICKETS)))
        # One more call: its last event is a window event, so the window screens reach the end too.
        r = await http.post(f"{API}/windows/1/call-next", headers=auth)
        assert r.status_code == 200, r.text
        async with websockets.connect(f"{ws_base}/ws/halls/hn-tja") as ws:
            until.append(json.loads(await ws.recv())["seq"])  # the hall's last seq: the screens stop past it
        _done, pending = await asyncio.wait(tasks, timeout=WAIT_S)
        behind = {k: [screen[-1]["seq"] if screen else None for screen in v] for k, v in got.items()}
        assert not pending, f"screens still reading past seq {until[0]}: {behind}"
        return got, until[0]


def test_many_screens_get_every_event_once_in_order(hall):
    with LiveServer(hall.app) as srv:
        got, until = asyncio.run(_scenario(srv.url, srv.ws_url))
    full = [m for m in got["replay"][0] if m["type"] != "snapshot"]
    last = full[-1]["seq"]
    assert last >= until, "the replaying screen stopped short"
    assert [m["seq"] for m in full] == list(range(1, last + 1)), "the replaying screen has a gap or a repeat"
    assert sum(m["type"] == "ticket.issued" for m in full) >= TICKETS
    by_seq = {m["seq"]: m for m in full}
    for screen in got["replay"][1:]:
        assert screen == got["replay"][0], "two replaying screens saw different streams"
    for screen in got["plain"]:
        snap, *live = screen
        assert snap["type"] == "snapshot"
        assert [m["seq"] for m in live] == list(range(snap["seq"] + 1, last + 1)), "a gap, a repeat or disorder"
        assert all(m == by_seq[m["seq"]] for m in live), "a live event differs from the stored one"
    window = [m for m in full if m["type"].startswith("window.")]
    assert len(window) >= CALLS * 3
    for screen in got["window"]:
        snap, *live = screen
        assert live == [m for m in window if m["seq"] > snap["seq"]], "the window screen's events differ"
