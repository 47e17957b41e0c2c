"""Requests about a hall's devices go to the process that owns the hall (hall.leases).

Device twins, commands waiting for their answer and lockers waiting for a door live in the memory
of the one process that holds the hall's lease. Behind a shared address any process may receive
``/api/v1/halls/{hall}/devices…``, ``…/commands…`` or ``…/lockers…``; one that does not own the hall
passes the request on, as it came, to the owner's private address and returns the owner's answer.
A forwarded request carries ``X-Hall-Forwarded``, and is never forwarded again (an owner that has
just lost the lease answers itself rather than bounce the request around). It also carries the
visitor's own address, signed with the deployment's secret (``X-Hall-Client``): the owner counts a
locker's wrong codes by that address, not by the forwarding process's, and a client cannot forge it.
"""

from __future__ import annotations

import hmac
import logging
import re
from typing import Any

import httpx

from hall.privacy import keyed_hash
from hall.server import HallServer

log = logging.getLogger(__name__)

OWNED_PATHS = re.compile(r"^/api/v1/halls/([^/]+)/(devices|commands|lockers)(/|$)")
FORWARDED = "x-hall-forwarded"
CLIENT = "x-hall-client"  # "address signature": the original client's address, signed (client_of)
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection", "host",
               "content-length"}
TIMEOUT_S = 30.0  # a pickup waits for the locker's door (up to its own timeout) on the owner


def _sign(secret: bytes, address: str) -> str:
    return keyed_hash(secret, "client", address)[:32]


def client_of(secret: bytes, address: str, headers: Any) -> str:
    """The client's address: the connection's own, or, on a request forwarded by another process of
    the deployment, the original client's (only when its signature checks out)."""
    claimed = headers.get(CLIENT) if headers is not None else None
    if claimed:
        addr, _, sig = claimed.rpartition(" ")
        if addr and hmac.compare_digest(sig.encode(), _sign(secret, addr).encode()):  # bytes: any text
            return addr
    return address


def _unavailable() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    body = ('{"error":"hall_owner_unavailable","detail":"该大厅的设备服务正在切换，请稍后重试 / '
            'the process serving this hall\'s devices is changing over, please retry shortly"}').encode()
    return 503, [(b"content-type", b"application/json"), (b"retry-after", b"2")], body


def forwarding(server: HallServer) -> Any:
    """ASGI middleware factory."""
    client: dict[str, httpx.AsyncClient] = {}

    def factory(app: Any) -> Any:
        async def middleware(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http" or server.leases is None:
                await app(scope, receive, send)
                return
            m = OWNED_PATHS.match(scope["path"])
            if m is None or server.owns(m.group(1)) or m.group(1) not in server.halls:
                await app(scope, receive, send)
                return
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
            if FORWARDED in headers:
                await app(scope, receive, send)
                return
            try:
                owner = await server.leases.owner_of(m.group(1))
            except Exception:  # the database is away: nobody can say who owns the hall now
                await _answer(send, *_unavailable())
                return
            if owner is None or not owner[1] or owner[0] == server.leases.me:
                await _answer(send, *_unavailable())
                return
            body = b""
            while True:
                msg = await receive()
                body += msg.get("body", b"")
                if not msg.get("more_body"):
                    break
            fwd = {k: v for k, v in headers.items() if k not in HOP_HEADERS}
            fwd[FORWARDED] = server.leases.me
            client_addr = scope.get("client")
            if client_addr:
                fwd["x-forwarded-for"] = client_addr[0]
                fwd[CLIENT] = f"{client_addr[0]} {_sign(server.secret, client_addr[0])}"
            if "c" not in client:
                client["c"] = httpx.AsyncClient(timeout=TIMEOUT_S)
            url = owner[1].rstrip("/") + scope["path"] + (("?" + scope["query_string"].decode("latin-1"))
                                                          if scope.get("query_string") else "")
            try:
                r = await client["c"].request(scope["method"], url, headers=fwd, content=body)
            except httpx.HTTPError as e:
                log.warning("forward to the owner of hall %s failed: %s", m.group(1), type(e).__name__)
                await _answer(send, *_unavailable())
                return
            out = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in r.headers.items()
                   if k.lower() not in HOP_HEADERS and k.lower() != "content-encoding"]
            await _answer(send, r.status_code, out, r.content)

        return middleware

    return factory


async def _answer(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
