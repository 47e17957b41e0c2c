"""A screen that stops reading must not hold up the others, and is dropped past a bound (real
server, real sockets)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import socket
import time

import httpx
import websockets

from tests.live import LiveServer

BURST = 1000  # ~300 KB of events, far more than the stalled client's 4 KB receive buffer
SEND_BOUND_S = 2.0  # the test's HALL_WS_SEND_TIMEOUT_S (10 s by default)
SEND_BUFFER = 16 * 1024  # the kernel's send buffer per stream socket (64 KiB by default)
WAIT_S = 60.0  # generous: CI runs two suites at once on two cores


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


def metric(text: str, name: str) -> float:
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


async def wait_metrics(http: httpx.AsyncClient, ok: object, what: str) -> str:
    deadline = time.monotonic() + WAIT_S
    while True:
        text = (await http.get("/metrics")).text
        if ok(text):  # type: ignore[operator]
            return text
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{text}"
        await asyncio.sleep(0.2)


def read_until_closed(s: socket.socket) -> str:
    """Start reading the stalled socket: what the server left in it, then EOF or a reset."""
    s.settimeout(WAIT_S)
    try:
        while s.recv(65536):
            pass
    except ConnectionResetError:
        return "reset"
    return "eof"


async def _scenario(base: str, ws_base: str, port: int) -> tuple[list[int], int, str]:
    stalled = stalled_screen(port)
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        await wait_metrics(http, lambda t: metric(t, "hall_stream_clients") == 1, "the stalled screen to connect")
        # The healthy screen reads all the time, as a real screen does.
        async with websockets.connect(f"{ws_base}/ws/halls/hn-tja", max_queue=None) as healthy:
            snap = json.loads(await healthy.recv())
            seqs: list[int] = []

            async def read_all() -> None:
                while len(seqs) < BURST:
                    seqs.append(json.loads(await healthy.recv())["seq"])

            reading = asyncio.create_task(read_all())
            sem = asyncio.Semaphore(32)

            async def issue(i: int) -> None:
                async with sem:
                    r = await http.post("/api/v1/halls/hn-tja/tickets",
                                        json={"service": ["SB", "YB", "GJJ"][i % 3], "channel": "walk_in"})
                    assert r.status_code == 201

            await asyncio.gather(*(issue(i) for i in range(BURST)))
            await asyncio.wait_for(reading, timeout=WAIT_S)
            # The stalled screen is gone, the healthy one is still there.
            text = await wait_metrics(
                http, lambda t: metric(t, "hall_stream_dropped_total") >= 1 and metric(t, "hall_stream_clients") == 1,
                "the stalled screen to be dropped")
            dropped = int(metric(text, "hall_stream_dropped_total"))
            seqs = [s - snap["seq"] for s in seqs]
        how = await asyncio.to_thread(read_until_closed, stalled)
        stalled.close()
        # Both handlers ended: nothing left behind for either screen.
        await wait_metrics(http, lambda t: metric(t, "hall_stream_clients") == 0, "the stream client count to reach 0")
    return seqs, dropped, how


def test_a_stalled_screen_does_not_stop_the_others_and_is_dropped(hall):
    hall.server.ws_send_timeout_s = SEND_BOUND_S
    hall.server.ws_send_buffer_bytes = SEND_BUFFER
    with LiveServer(hall.app) as srv:
        seqs, dropped, how = asyncio.run(_scenario(srv.url, srv.ws_url, srv.port))
    assert seqs == list(range(1, BURST + 1)), "the healthy screen missed, repeated or reordered events"
    assert dropped == 1, "only the screen that stopped reading is dropped"
    assert how in ("eof", "reset")
