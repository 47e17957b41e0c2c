"""How the server process runs: uvicorn settings and process tuning, shared by the CLI and bench."""

from __future__ import annotations

import gc
import signal
import socket
import sys
from typing import Any


def tune_gc() -> None:
    """Freeze what start-up allocated and collect less often.

    A full collection over a server's long-lived objects paused call-outs for up to ~100 ms in
    the benchmarks; frozen objects are never scanned again, and a higher first threshold makes
    young collections rarer (they stay short: our per-request garbage is small).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def uvicorn_config(app: Any, **kw: Any) -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        ws_max_size=1 << 16,
        # Event messages are small; compressing each one for each screen cost ~15% of fan-out time.
        ws_per_message_deflate=False,
        lifespan="on",
        **kw,
    )


def listen(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket; ``reuse_port``: other processes may listen on the same port
    (SO_REUSEPORT: the kernel spreads new connections over them)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind((host, port))
    s.listen(2048)
    s.set_inheritable(True)
    return s


def run(app: Any, *, host: str = "127.0.0.1", port: int = 0, sock: socket.socket | None = None,
        socks: list[socket.socket] | None = None) -> None:
    """Run until SIGINT/SIGTERM; on either, the caller's ``finally`` blocks run."""
    import uvicorn

    # uvicorn re-raises SIGTERM after its graceful shutdown with the handler it found: make that
    # handler an ordinary exit so that cleanup in the caller runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    tune_gc()
    if sock is not None or socks:
        uvicorn.Server(uvicorn_config(app)).run(sockets=[*(socks or []), *([sock] if sock else [])])
    else:
        uvicorn.Server(uvicorn_config(app, host=host, port=port)).run()
