"""Simulated visitors and window clerks that drive a hall through its public API (for the demo).

Visitors take tickets at the kiosk endpoint (walk-in, ID card, sometimes elderly for the green
channel); clerks sign in to windows and call, start, finish (with a rating) or mark no-shows.
Clerks now and then step away (离岗); the standby desk listens to the hall's event stream and
answers what the staffing controller asks: a B clerk covers a post whose A left
(``post.cover_needed``), a standby clerk opens a tidal window (``tidal.opened``). Everything goes
through REST and the WebSocket, exactly as real kiosks and clerk terminals do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from dataclasses import dataclass
from datetime import date

import httpx
import websockets

from hall.queue.idcard import make_resident_id

log = logging.getLogger("hall.sim")


@dataclass
class SimConfig:
    base_url: str
    hall: str = "hn-tja"
    windows: tuple[str, ...] = ("1", "2", "3", "4", "5", "6", "9", "10", "11")
    arrival_s: float = 4.0  # mean seconds between visitors
    service_s: tuple[float, float] = (6.0, 20.0)
    no_show_rate: float = 0.08
    step_away_rate: float = 0.01  # chance per visitor served that the clerk steps away for a while
    away_s: tuple[float, float] = (60.0, 240.0)
    seed: int = 7


class Simulation:
    def __init__(self, cfg: SimConfig, clerk_password: str) -> None:
        self.cfg = cfg
        self.password = clerk_password
        self.rng = random.Random(cfg.seed)
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        async with httpx.AsyncClient(base_url=self.cfg.base_url, timeout=10) as client:
            services = [s["code"] for s in (await client.get(f"/api/v1/halls/{self.cfg.hall}/services")).json()]
            tasks = [asyncio.create_task(self._visitors(client, services))]
            windows = {w["window"]: w for w in (await client.get(f"/api/v1/halls/{self.cfg.hall}/windows")).json()}
            for number in self.cfg.windows:
                w = windows.get(number)
                if w and w["post"]["a"]:
                    tasks.append(asyncio.create_task(self._clerk(client, number, w["post"]["a"])))
            tasks.append(asyncio.create_task(self._standby_desk(client)))
            await self._stop.wait()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)

    async def _visitors(self, client: httpx.AsyncClient, services: list[str]) -> None:
        n = 0
        while not self._stop.is_set():
            await self._sleep(self.rng.expovariate(1 / self.cfg.arrival_s))
            n += 1
            service = self.rng.choice(services)
            body: dict = {"service": service, "channel": "walk_in"}
            if self.rng.random() < 0.5:
                elderly = self.rng.random() < 0.15
                year = self.rng.randint(1940, 1950) if elderly else self.rng.randint(1960, 2004)
                birth = date(year, self.rng.randint(1, 12), self.rng.randint(1, 28))
                body = {"service": service, "channel": "id_card",
                        "credential": make_resident_id("341181", birth, self.rng.randint(1, 999))}
            try:
                r = await client.post(f"/api/v1/halls/{self.cfg.hall}/tickets", json=body,
                                      headers={"Idempotency-Key": f"sim-{self.cfg.seed}-{n}"})
                if r.status_code == 201:
                    t = r.json()
                    log.info("visitor took %s (%s, %d ahead)", t["number"], service, t["ahead"])
            except httpx.HTTPError as e:
                log.warning("visitor: %s", type(e).__name__)

    async def _login(self, client: httpx.AsyncClient, username: str) -> dict[str, str] | None:
        try:
            r = await client.post("/api/v1/auth/login", json={"username": username, "password": self.password})
            return {"Authorization": f"Bearer {r.json()['token']}"}
        except (httpx.HTTPError, KeyError, ValueError):
            log.warning("clerk %s could not log in", username)
            return None

    async def _clerk(self, client: httpx.AsyncClient, window: str, username: str, *, via: str = "sign-in") -> None:
        """Work a window until told otherwise: the window closes (409) or someone else takes it (403)."""
        base = f"/api/v1/halls/{self.cfg.hall}/windows/{window}"
        headers = await self._login(client, username)
        if headers is None:
            return
        try:
            r = await client.post(f"{base}/{via}", headers=headers)
        except httpx.HTTPError:
            return
        if r.status_code != 200:
            log.info("clerk %s could not %s at window %s (%s)", username, via, window, r.status_code)
            return
        log.info("clerk %s at window %s (%s)", username, window, via)
        while not self._stop.is_set():
            try:
                r = await client.post(f"{base}/call-next", headers=headers)
                if r.status_code in (403, 409) and r.json().get("error") in ("not_your_window", "window_state"):
                    log.info("clerk %s leaves window %s (%s)", username, window, r.json().get("error"))
                    return
                if r.status_code == 204:
                    await self._sleep(3)
                    continue
                if r.status_code != 200:
                    await self._sleep(2)
                    continue
                await self._sleep(self.rng.uniform(2, 5))
                if self.rng.random() < self.cfg.no_show_rate:
                    await client.post(f"{base}/recall", headers=headers)
                    await self._sleep(3)
                    await client.post(f"{base}/no-show", headers=headers)
                    continue
                await client.post(f"{base}/start", headers=headers)
                await self._sleep(self.rng.uniform(*self.cfg.service_s))
                rating = self.rng.choices([5, 4, 3, 2, 1, None], [50, 25, 8, 3, 2, 12])[0]
                await client.post(f"{base}/finish", headers=headers, json={"rating": rating} if rating else {})
                if via == "sign-in" and self.rng.random() < self.cfg.step_away_rate:
                    await self._step_away(client, base, headers, username)
            except httpx.HTTPError as e:
                log.warning("clerk %s: %s", username, type(e).__name__)
                await self._sleep(2)

    async def _step_away(self, client: httpx.AsyncClient, base: str, headers: dict[str, str], username: str) -> None:
        """离岗 for a few minutes (B is asked to cover), then back: A takes the window again."""
        r = await client.post(f"{base}/step-away", headers=headers, json={"reason": "临时离岗"})
        if r.status_code != 200:
            return
        log.info("clerk %s stepped away", username)
        await self._sleep(self.rng.uniform(*self.cfg.away_s))
        await client.post(f"{base}/cover", headers=headers)

    async def _standby_desk(self, client: httpx.AsyncClient) -> None:
        """Answer the staffing controller from the event stream: covers and tidal openings."""
        url = self.cfg.base_url.replace("http", "ws", 1) + f"/ws/halls/{self.cfg.hall}?topics=post,tidal"
        busy: set[str] = set()
        tasks: set[asyncio.Task] = set()

        def spawn(window: str, username: str, via: str) -> None:
            if username in busy:
                return
            busy.add(username)
            task = asyncio.create_task(self._clerk(client, window, username, via=via))
            tasks.add(task)
            task.add_done_callback(lambda t: (tasks.discard(t), busy.discard(username)))

        while not self._stop.is_set():
            try:
                async with websockets.connect(url) as ws:
                    async for text in ws:
                        e = json.loads(text)
                        d = e.get("data") or {}
                        if e["type"] == "post.cover_needed" and d.get("b"):
                            spawn(d["window"], d["b"], "cover")
                        elif e["type"] == "tidal.opened" and d.get("clerk"):
                            spawn(d["window"], d["clerk"], "sign-in")
            except (OSError, websockets.WebSocketException):
                await self._sleep(2)
