"""Small shared pieces of the benchmarks: a lean HTTP/1.1 keep-alive client, event loop set-up,
percentiles, the clock every process stamps with, and the child processes (each in its own
process group, stopped whatever happens).

The client is deliberately minimal (no pooling, no redirects, one request at a time per connection)
so the load generator spends as little CPU as possible: on a 2-core machine it shares the CPUs
with the server it measures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# CLOCK_MONOTONIC on Linux: one system-wide clock, so stamps from different processes compare.
now_ns = time.monotonic_ns

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
PY = sys.executable
T0 = time.monotonic()


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
        """Send one request and read its answer. A keep-alive connection the server closed while it
        was idle (uvicorn closes one after 5 s) answers with EOF before any byte: the request is sent
        once more on a new connection, as HTTP clients do."""
        for attempt in (0, 1):
            if self.reader is None or self.reader.at_eof():
                await self.close()
                await self.connect()
            self.send(raw)
            try:
                return await self.read_response()
            except (asyncio.IncompleteReadError, ConnectionResetError) as e:
                if attempt or (isinstance(e, asyncio.IncompleteReadError) and e.partial):
                    raise
                await self.close()
                self.reader = None
        raise AssertionError("unreachable")

    async def request(self, method: str, path: str, data: Any = None,
                      headers: dict[str, str] | None = None) -> tuple[int, Any]:
        body = json.dumps(data).encode() if data is not None else None
        status, payload = await self.raw(self.build(method, path, body, headers))
        try:
            parsed = json.loads(payload) if payload else None
        except ValueError:
            parsed = payload
        return status, parsed


def _die_with_parent() -> None:
    """In the child, before exec: get SIGKILL if the benchmark itself is killed (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def log(msg: str) -> None:
    print(f"[bench {time.monotonic() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


# -- processes ---------------------------------------------------------------------------------

class Proc:
    """A child process in its own process group (so the whole group can be stopped)."""

    live: list[Proc] = []

    def __init__(self, name: str, args: list[str], env: dict[str, str] | None = None,
                 stdin: bool = False, log_dir: Path | None = None, program: str = PY) -> None:
        """``args`` of ``program`` (default: this Python, so args[0] is a script)."""
        self.name, self.args, self.env = name, args, env
        self.program = program
        self.want_stdin = stdin
        self.log_path = (log_dir / f"{name}.log") if log_dir else None
        self.p: asyncio.subprocess.Process | None = None

    async def start(self) -> Proc:
        err = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115
        try:
            self.p = await asyncio.create_subprocess_exec(
                self.program, *self.args, cwd=str(ROOT), env=self.env, start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
                stdin=asyncio.subprocess.PIPE if self.want_stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=err if err else None, limit=1 << 26,
            )
        finally:
            if err:
                err.close()
        Proc.live.append(self)
        return self

    async def line(self, timeout: float = 60.0) -> str:
        assert self.p and self.p.stdout
        raw = await asyncio.wait_for(self.p.stdout.readline(), timeout)
        if not raw:
            raise RuntimeError(f"{self.name} ended early (exit {self.p.returncode}){self.tail()}")
        return raw.decode().rstrip("\n")

    async def port(self) -> int:
        while True:
            line = await self.line(120)
            if line.startswith("PORT "):
                return int(line.split()[1])

    def tail(self) -> str:
        if self.log_path and self.log_path.exists():
            text = self.log_path.read_text(errors="replace")[-3000:]
            return f"; log tail:\n{text}" if text.strip() else ""
        return ""

    async def stop(self) -> None:
        p = self.p
        if p is None:
            return
        if p.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(p.wait(), 10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                await p.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, signal.SIGKILL)  # anything the child left in its group
        if self in Proc.live:
            Proc.live.remove(self)


def kill_all_sync() -> None:
    for pr in list(Proc.live):
        if pr.p is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pr.p.pid, signal.SIGKILL)


async def wait_healthy(port: int, proc: Proc, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.p and proc.p.returncode is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.p.returncode}{proc.tail()}")
        try:
            c = await RawHttp(HOST, port).connect()
            try:
                status, _ = await c.request("GET", "/healthz")
            finally:
                await c.close()
            if status == 200:
                return
        except OSError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{proc.name} not healthy after {timeout}s{proc.tail()}")
