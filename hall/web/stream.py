"""``/ws/halls/{hall}``: snapshot or replay from ``since``, then live events (see hall.stream)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect
from litestar.params import FromPath

from hall.db.outage import error_body, is_unavailable
from hall.errors import HallError
from hall.runtime import HallRuntime
from hall.server import HallServer
from hall.stream import TOPICS, channel_name, read_events, snapshot, unwire
from hall.web.deps import server_of

if TYPE_CHECKING:
    from litestar.channels import Subscriber

log = logging.getLogger(__name__)

CLOSE_UNAVAILABLE = 4503  # the database is away: the error body, then this close; screens reconnect later


def _parse(socket: WebSocket) -> tuple[int | None, set[str] | None]:
    since_raw = socket.query_params.get("since")
    since = None
    if since_raw not in (None, ""):
        if not str(since_raw).isdigit():
            raise ValueError("since must be a non-negative integer")
        since = int(since_raw)
    topics_raw = socket.query_params.get("topics")
    topics = None
    if topics_raw:
        topics = {t.strip() for t in topics_raw.split(",") if t.strip()}
        unknown = topics - set(TOPICS)
        if unknown:
            raise ValueError(f"unknown topics: {', '.join(sorted(unknown))}")
    return since, topics


@websocket("/ws/halls/{hall:str}")
async def hall_stream(socket: WebSocket, hall: FromPath[str]) -> None:
    srv = server_of(socket)
    await socket.accept()
    try:
        h = srv.hall(hall)
        since, topics = _parse(socket)
    except (HallError, ValueError) as e:
        body = e.body() if isinstance(e, HallError) else {"error": "bad_request", "detail": f"参数错误 / {e}"}
        await socket.send_json(body)
        await socket.close(code=4404 if isinstance(e, HallError) else 4400)
        return
    channels = srv.channels
    assert channels is not None
    device = socket.query_params.get("device") or None  # a registered hall screen says which it is
    screen = srv.iot.screen_connected(h, device) if srv.iot is not None and device else None
    srv.metrics.gauge("hall_stream_clients", 1)
    try:
        async with channels.start_subscription([channel_name(hall)]) as sub:
            sender = asyncio.create_task(_send(socket, srv, h, sub, since, topics))
            reader = asyncio.create_task(_drain_client(socket))
            try:
                await asyncio.wait({sender, reader}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sender.cancel()
                reader.cancel()
                await asyncio.gather(sender, reader, return_exceptions=True)
    finally:
        srv.metrics.gauge("hall_stream_clients", -1)
        if screen is not None:
            srv.iot.screen_disconnected(screen)
        with contextlib.suppress(Exception):
            await socket.close()


async def _send(socket: WebSocket, srv: HallServer, h: HallRuntime, sub: Subscriber, since: int | None,
                topics: set[str] | None) -> None:
    """Snapshot or replay, then the live events in seq order; a gap is filled from the log.

    When the log cannot be read (the database is away) the client gets ``database_unavailable`` and
    the close code ``CLOSE_UNAVAILABLE``; it comes back later with ``?since=`` and misses nothing."""
    hall = h.id
    try:
        if since is None:
            last, text = await srv.db.read(snapshot, h)
            await socket.send_text(text)
        else:
            last = since
            for seq, env in await srv.db.read(read_events, hall, since, topics):
                await socket.send_text(env)
                last = seq
        async for item in sub.iter_events():
            seq, topic, env = unwire(item)
            if seq <= last:
                continue
            if seq > last + 1:  # a gap: fetch what the live stream has not brought (yet)
                for _s, e in await srv.db.read(read_events, hall, last, topics, seq):
                    await socket.send_text(e)
            if topics is None or topic in topics:
                await socket.send_text(env)
            last = seq
    except (WebSocketDisconnect, ConnectionError):
        pass
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        with contextlib.suppress(Exception):
            await socket.send_json(error_body())
            await socket.close(code=CLOSE_UNAVAILABLE, reason="database unavailable")


async def _drain_client(socket: WebSocket) -> None:
    """Read (and ignore) what the client sends, so a disconnect ends the handler promptly."""
    with contextlib.suppress(WebSocketDisconnect, Exception):
        while True:
            msg = await socket.receive()
            if msg.get("type") == "websocket.disconnect":
                return
