"""``/ws/halls/{hall}``: snapshot or replay from ``since``, then live events (see hall.stream)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from hall.errors import HallError
from hall.stream import TOPICS, channel_name, read_events, snapshot, unwire
from hall.web.deps import server_of

log = logging.getLogger(__name__)


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
async def hall_stream(socket: WebSocket, hall: str) -> None:
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
    srv.metrics.gauge("hall_stream_clients", 1)
    reader = asyncio.create_task(_drain_client(socket))
    try:
        async with channels.start_subscription([channel_name(hall)]) as sub:
            if since is None:
                last, text = await srv.db.read(snapshot, h)
                await socket.send_text(text)
            else:
                last = since
                for seq, env in await srv.db.read(read_events, hall, since, topics):
                    await socket.send_text(env)
                    last = seq
                last = max(last, since)
            events = sub.iter_events()
            while True:
                nxt = asyncio.ensure_future(anext(events))
                done, _ = await asyncio.wait({nxt, reader}, return_when=asyncio.FIRST_COMPLETED)
                if reader in done:
                    nxt.cancel()
                    break
                seq, topic, env = unwire(nxt.result())
                if seq <= last:
                    continue
                if seq > last + 1:  # a gap: fetch what the live stream has not brought (yet)
                    for _s, e in await srv.db.read(read_events, hall, last, topics, seq):
                        await socket.send_text(e)
                if topics is None or topic in topics:
                    await socket.send_text(env)
                last = seq
    except (WebSocketDisconnect, ConnectionError, StopAsyncIteration):
        pass
    finally:
        srv.metrics.gauge("hall_stream_clients", -1)
        reader.cancel()
        with contextlib.suppress(Exception):
            await socket.close()


async def _drain_client(socket: WebSocket) -> None:
    """Read (and ignore) what the client sends, so a disconnect ends the handler promptly."""
    with contextlib.suppress(WebSocketDisconnect, Exception):
        while True:
            msg = await socket.receive()
            if msg.get("type") == "websocket.disconnect":
                return
