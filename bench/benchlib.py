"""Small shared pieces of the benchmarks: a lean HTTP/1.1 keep-alive client, event loop set-up,
percentiles, and the clock every process stamps with.

The client is deliberately minimal (no pooling, no redirects, one request at a time per connection)
so the load generator spends as little CPU as possible: on a 2-core machine it shares the CPUs
with the server it measures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import Sequence
from typing import Any

# CLOCK_MONOTONIC on Linux: one system-wide clock, so stamps from different processes compare.
now_ns = time.monotonic_ns


def use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of unsorted values; NaN when empty."""
    if not values:
        return math.nan
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))
    return float(s[k])


class HttpError(Exception):
    pass


class RawHttp:
    """One keep-alive HTTP/1.1 connection; ``request`` sends one request and reads one answer."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self._host_hdr = f"{host}:{port}"

    async def connect(self) -> RawHttp:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
            self.writer = None

    def build(self, method: str, path: str, body: bytes | None = None,
              headers: dict[str, str] | None = None) -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self._host_hdr}"]
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        if body is not None:
            lines.append("Content-Type: application/json")
            lines.append(f"Content-Length: {len(body)}")
        elif method in ("POST", "PUT", "PATCH"):
            lines.append("Content-Length: 0")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        return head + body if body is not None else head

    def send(self, raw: bytes) -> None:
        assert self.writer is not None
        self.writer.write(raw)

    async def read_response(self) -> tuple[int, bytes]:
        reader = self.reader
        assert reader is not None
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = -1
        chunked = False
        for line in head.split(b"\r\n")[1:]:
            low = line.lower()
            if low.startswith(b"content-length:"):
                length = int(line[15:].strip())
            elif low.startswith(b"transfer-encoding:") and b"chunked" in low:
                chunked = True
        if chunked:
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    break
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            return status, b"".join(parts)
        if length < 0:
            if status in (204, 304) or 100 <= status < 200:
                return status, b""
            raise HttpError("response without Content-Length")
        return status, (await reader.readexactly(length) if length else b"")

    async def raw(self, raw: bytes) -> tuple[int, bytes]:
        self.send(raw)
        return await self.read_response()

    async def request(self, method: str, path: str, data: Any = None,
                      headers: dict[str, str] | None = None) -> tuple[int, Any]:
        body = json.dumps(data).encode() if data is not None else None
        status, payload = await self.raw(self.build(method, path, body, headers))
        try:
            parsed = json.loads(payload) if payload else None
        except ValueError:
            parsed = payload
        return status, parsed
