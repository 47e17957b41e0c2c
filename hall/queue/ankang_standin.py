"""A local stand-in for the provincial 安康码 verification API, for demos and tests.

It speaks the API ``hall.queue.ankang.HttpAnkangVerifier`` expects, plus one call to issue codes:

- ``POST /codes`` ``{"name", "id_number", "ttl_s"?: 300, "status"?: "valid"|"revoked"}`` →
  ``201 {"code", "expires_at"}`` (ISO 8601, +08:00)
- ``POST /verify`` ``{"code"}`` → ``200 {"name", "id_number", "status"}``, status ``expired``
  once the code is ``ttl_s`` seconds old; ``404`` for an unknown code

Both need the ``X-Api-Key`` header (``401`` otherwise). Codes look like ``AHAKM`` followed by 20
upper-case base32 characters. The store is in memory: a stand-in, not a registry.
"""

from __future__ import annotations

import hmac
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import httpx
import msgspec
import uvicorn
from litestar import Litestar, Response, post
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import JSONBody

__all__ = ["CODE_PREFIX", "StandinServer", "create_standin_app", "new_code"]

CODE_PREFIX = "AHAKM"
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648 base32
_CODE_LEN = 20
_CST = ZoneInfo("Asia/Shanghai")
_FORGET_AFTER_S = 86_400.0
"""Codes expired for longer than this are dropped on the next issue, to bound the store."""


def new_code() -> str:
    """A fresh random code: ``AHAKM`` + 20 base32 characters (100 bits)."""
    return CODE_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(_CODE_LEN))


class IssueBody(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1)]
    id_number: Annotated[str, msgspec.Meta(min_length=1)]
    ttl_s: Annotated[int, msgspec.Meta(ge=0)] = 300
    status: Literal["valid", "revoked"] = "valid"


class VerifyBody(msgspec.Struct):
    code: str


@dataclass
class _Entry:
    name: str
    id_number: str
    status: str
    expires_at: float


def create_standin_app(api_key: str, clock: Callable[[], float] = time.time) -> Litestar:
    """The stand-in as a Litestar app; ``clock`` (Unix seconds) decides when codes expire."""
    if not api_key:
        raise ValueError("the stand-in needs a non-empty API key")
    store: dict[str, _Entry] = {}
    key = api_key.encode("utf-8")

    def require_key(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        given = connection.headers.get("x-api-key", "")
        if not hmac.compare_digest(given.encode("utf-8"), key):
            raise NotAuthorizedException("missing or wrong X-Api-Key")

    @post("/codes", guards=[require_key], status_code=201)
    async def issue(data: JSONBody[IssueBody]) -> dict[str, str]:
        now = clock()
        for stale in [c for c, e in store.items() if e.expires_at + _FORGET_AFTER_S < now]:
            del store[stale]
        code = new_code()
        expires_at = now + data.ttl_s
        store[code] = _Entry(data.name, data.id_number, data.status, expires_at)
        return {"code": code, "expires_at": datetime.fromtimestamp(expires_at, _CST).isoformat()}

    @post("/verify", guards=[require_key], status_code=200)
    async def verify(data: JSONBody[VerifyBody]) -> Response[dict[str, str]]:
        entry = store.get(data.code.strip())
        if entry is None:
            return Response({"error": "unknown_code"}, status_code=404)
        status = entry.status
        if status == "valid" and clock() >= entry.expires_at:
            status = "expired"
        return Response({"name": entry.name, "id_number": entry.id_number, "status": status})

    return Litestar(route_handlers=[issue, verify], openapi_config=None, logging_config=None)


class StandinServer:
    """Runs the stand-in with uvicorn in a background thread on 127.0.0.1 and a free port.

    ``start()`` returns once the server accepts connections; ``stop()`` returns once the thread
    has ended. After a ``stop()``, ``start()`` serves again on the same port and keeps the codes
    already issued. ``url`` is the verify URL to give ``HttpAnkangVerifier``.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
        startup_timeout: float = 10.0,
    ) -> None:
        self.api_key = api_key or secrets.token_urlsafe(24)
        self.app = create_standin_app(self.api_key, clock)
        self.startup_timeout = startup_timeout
        self._port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"StandinServer(base_url={self.base_url!r}, running={self.running})"

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("the stand-in has not been started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}" if self._port else ""

    @property
    def url(self) -> str:
        return f"{self.base_url}/verify" if self._port else ""

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> StandinServer:
        if self.running:
            raise RuntimeError("the stand-in is already running")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", self._port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"ankang-standin-{self._port}", daemon=True
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not server.started:
            if not thread.is_alive():
                sock.close()
                raise RuntimeError("the 安康码 stand-in failed to start")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the 安康码 stand-in did not start in time")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout / 2)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout / 2)
        if thread.is_alive():
            raise RuntimeError("the 安康码 stand-in thread did not stop")
        self._server = self._thread = None

    def __enter__(self) -> StandinServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def issue(self, name: str, id_number: str, ttl_s: int = 300, status: str = "valid") -> str:
        """Issue a code for this person (an HTTP call to ``POST /codes``) and return it."""
        response = httpx.post(
            f"{self.base_url}/codes",
            json={"name": name, "id_number": id_number, "ttl_s": ttl_s, "status": status},
            headers={"X-Api-Key": self.api_key},
            timeout=5.0,
            trust_env=False,
        )
        response.raise_for_status()
        return str(response.json()["code"])
