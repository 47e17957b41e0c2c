"""Simulated visitors and window clerks that drive a hall through its public API (for the demo).

Visitors take tickets at the kiosk endpoint (walk-in, ID card, sometimes elderly for the green
channel); clerks sign in to windows and call, start, finish (with a rating) or mark no-shows.
Everything goes through REST, exactly as real kiosks and clerk terminals do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from datetime import date

import httpx

from hall.queue.idcard import make_resident_id

log = logging.getLogger("hall.sim")


@dataclass
class SimConfig:
    base_url: str
    hall: str = "hn-tja"
    windows: tuple[str, ...] = ("1", "2", "3", "4", "5", "6", "9", "10")
    arrival_s: float = 4.0  # mean seconds between visitors
    service_s: tuple[float, float] = (6.0, 20.0)
    no_show_rate: float = 0.08
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

    async def _clerk(self, client: httpx.AsyncClient, window: str, username: str) -> None:
        base = f"/api/v1/halls/{self.cfg.hall}/windows/{window}"
        try:
            r = await client.post("/api/v1/auth/login", json={"username": username, "password": self.password})
            headers = {"Authorization": f"Bearer {r.json()['token']}"}
            await client.post(f"{base}/sign-in", headers=headers)
        except (httpx.HTTPError, KeyError):
            log.warning("clerk %s could not sign in at window %s", username, window)
            return
        while not self._stop.is_set():
            try:
                r = await client.post(f"{base}/call-next", headers=headers)
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
            except httpx.HTTPError as e:
                log.warning("clerk %s: %s", username, type(e).__name__)
                await self._sleep(2)
