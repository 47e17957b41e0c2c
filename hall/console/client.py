"""The console's connection to the server: REST (httpx) and the event stream (websockets).

The stream reconnects with backoff for as long as the console runs and always asks for the
events after the last ``seq`` the console applied, so nothing is missed and nothing repeated.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import websockets

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


class HallClient:
    def __init__(self, server: str, username: str, password: str, hall: str | None = None) -> None:
        self.server = server.rstrip("/")
        self.username, self._password = username, password
        self.hall = hall
        self.role: str | None = None
        self.display_name = ""
        self._http = httpx.AsyncClient(base_url=self.server, timeout=15.0)

    async def close(self) -> None:
        await self._http.aclose()

    # -- REST ---------------------------------------------------------------------------------
    async def login(self) -> None:
        r = await self._http.post("/api/v1/auth/login", json={"username": self.username, "password": self._password})
        body = self._check(r)
        self._http.headers["Authorization"] = f"Bearer {body['token']}"
        me = self._check(await self._http.get("/api/v1/auth/me"))
        self.role = me.get("role")
        self.display_name = me.get("display_name") or self.username
        self.hall = self.hall or me.get("hall_id") or me.get("hall") or "hn-tja"

    def _check(self, r: httpx.Response) -> Any:
        if r.status_code >= 400:
            try:
                body = r.json()
                raise ApiError(r.status_code, body.get("error", "error"), body.get("detail", r.text))
            except ValueError:
                raise ApiError(r.status_code, "error", r.text[:200]) from None
        if r.headers.get("content-type", "").startswith("application/json"):
            return r.json()
        return r.content

    def _path(self, path: str) -> str:
        return f"/api/v1/halls/{quote(self.hall or '')}{path}"

    async def get(self, path: str, **params: Any) -> Any:
        r = await self._http.get(self._path(path), params={k: v for k, v in params.items() if v is not None})
        if r.status_code == 401:  # the session ran out: sign in again once
            await self.login()
            r = await self._http.get(self._path(path), params={k: v for k, v in params.items() if v is not None})
        return self._check(r)

    async def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        r = await self._http.post(self._path(path), json=body or {})
        if r.status_code == 401:
            await self.login()
            r = await self._http.post(self._path(path), json=body or {})
        return self._check(r)

    # -- the stream -----------------------------------------------------------------------------
    def ws_url(self, since: int | None) -> str:
        u = urlsplit(self.server)
        scheme = "wss" if u.scheme == "https" else "ws"
        q = f"?since={since}" if since is not None and since >= 0 else ""
        return f"{scheme}://{u.netloc}/ws/halls/{quote(self.hall or '')}{q}"

    async def stream(self, since: Callable[[], int], on_message: Callable[[dict[str, Any]], Awaitable[None]],
                     on_status: Callable[[str], None], *, min_delay: float = 0.5, max_delay: float = 10.0) -> None:
        """Run until cancelled: connect, replay from ``since()``, hand every message over, and
        reconnect with backoff whenever the connection drops ("connecting", "live", "down")."""
        delay = min_delay
        while True:
            on_status("connecting")
            try:
                seq = since()
                async with websockets.connect(self.ws_url(seq if seq >= 0 else None), max_size=None,
                                              open_timeout=10, ping_interval=10, ping_timeout=10) as ws:
                    on_status("live")
                    delay = min_delay
                    async for raw in ws:
                        msg = json.loads(raw)
                        if "error" in msg:
                            raise ApiError(400, msg.get("error", "error"), msg.get("detail", ""))
                        await on_message(msg)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - any failure: say so, wait, try again
                log.info("stream down: %s", type(e).__name__)
            on_status("down")
            await asyncio.sleep(delay)
            delay = min(max_delay, delay * 2)
