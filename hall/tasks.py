"""Stopping background tasks for certain.

``task.cancel()`` asks once; a library that catches ``CancelledError`` somewhere below (seen with
the Redis pub/sub client under a subscription) lets the task carry on waiting, and a plain
``await task`` then holds the server's shutdown forever. Here a task is asked again until it ends,
within a bound, and one that will not end is left behind with a warning rather than hanging the stop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

log = logging.getLogger(__name__)


async def cancel_and_wait(tasks: Iterable[asyncio.Task | None], *, timeout_s: float = 5.0, what: str = "") -> None:
    """Cancel ``tasks`` and wait until they have ended (re-cancelling every 0.1 s), at most ``timeout_s``."""
    todo = [t for t in tasks if t is not None]
    pending = {t for t in todo if not t.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while pending:
        for t in pending:
            t.cancel()
        left = deadline - loop.time()
        if left <= 0:
            log.warning("%s: %d task(s) did not stop within %.0f s; left behind", what or "stop", len(pending),
                        timeout_s)
            return
        _, pending = await asyncio.wait(pending, timeout=min(0.1, left))
    for t in todo:  # take a failed task's error, as ``await`` did, so asyncio does not report it unread
        if not t.cancelled():
            t.exception()
