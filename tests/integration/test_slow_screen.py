"""A screen that stops reading must not hold up the others (real server, real sockets)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket

import httpx
import websockets

from tests.live import LiveServer

BURST = 1000  # ~300 KB of events, far more than the stalled client's 4 KB receive buffer


def stalled_screen(port: int) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads: its tiny receive
    buffer fills at once, so the server's sends to it block."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /ws/halls/hn-tja HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


async def _scenario(base: str, ws_base: str, port: int) -> tuple[int, int]:
    stalled = stalled_screen(port)
    async with websockets.connect(f"{ws_base}/ws/halls/hn-tja") as healthy:
        snap = json.loads(await healthy.recv())
        async with httpx.AsyncClient(base_url=base) as http:
            sem = asyncio.Semaphore(32)

            async def issue(i: int) -> None:
                async with sem:
                    r = await http.post("/api/v1/halls/hn-tja/tickets",
                                        json={"service": ["SB", "YB", "GJJ"][i % 3], "channel": "walk_in"})
                    assert r.status_code == 201

            await asyncio.gather(*(issue(i) for i in range(BURST)))
        received = 0
        last = snap["seq"]
        while last < snap["seq"] + BURST:
            msg = json.loads(await asyncio.wait_for(healthy.recv(), timeout=30))
            assert msg["seq"] == last + 1, "the healthy screen saw a gap"
            last = msg["seq"]
            received += 1
    stalled.close()
    return received, last - snap["seq"]


def test_a_stalled_screen_does_not_stop_the_others(hall):
    with LiveServer(hall.app) as srv:
        received, span = asyncio.run(_scenario(srv.url, srv.ws_url, srv.port))
    assert received == BURST and span == BURST
