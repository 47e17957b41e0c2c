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


def run(app: Any, *, host: str = "127.0.0.1", port: int = 0, sock: socket.socket | None = None) -> None:
    """Run until SIGINT/SIGTERM; on either, the caller's ``finally`` blocks run."""
    import uvicorn

    # uvicorn re-raises SIGTERM after its graceful shutdown with the handler it found: make that
    # handler an ordinary exit so that cleanup in the caller runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    tune_gc()
    if sock is not None:
        uvicorn.Server(uvicorn_config(app)).run(sockets=[sock])
    else:
        uvicorn.Server(uvicorn_config(app, host=host, port=port)).run()
