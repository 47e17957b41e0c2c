"""``/ws/halls/{hall}``: snapshot or replay from ``since``, then live events (see hall.stream)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket as so
from typing import TYPE_CHECKING, Any

from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect
from litestar.params import FromPath
from websockets.frames import OP_TEXT, Frame

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
CLOSE_TOO_SLOW = 4408  # a client that stopped reading: one send blocked past HallServer.ws_send_timeout_s
CLOSE_GRACE_S = 1.0  # how long the "too slow" close frame may wait for room before the connection is cut
# A live event goes straight onto the connection's transport, framed once for every screen, while
# less than this much is waiting unsent there; past it, through the ASGI server's send, which waits
# for room (and is bounded by ws_send_timeout_s).
DIRECT_LIMIT = 16 * 1024


class TooSlow(Exception):
    """One send to this client blocked past the bound: it has stopped reading."""


def keep_transport(app: Any) -> Any:
    """ASGI wrapper around the whole app (Litestar's own middleware wraps ``send`` before any route
    middleware sees it): keep a WebSocket connection's asyncio transport in ``scope["hall.transport"]``
    when the ASGI server lets us reach it (uvicorn's protocols hand over a bound ``send`` of the
    protocol, which holds its transport); else None and the stream does without."""

    async def wrapper(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            protocol = getattr(send, "__self__", None)
            transport = getattr(protocol, "transport", None)
            scope["hall.transport"] = transport if callable(getattr(transport, "abort", None)) else None
            # uvicorn's own WebSocket protocols (and only they: their frames are whole writes, and
            # they say when they have sent the close frame) may be written to directly (_write_direct).
            direct = type(protocol).__module__.startswith("uvicorn.protocols.websockets") and hasattr(
                protocol, "close_sent") and scope["hall.transport"] is not None
            scope["hall.direct"] = protocol if direct else None
        await app(scope, receive, send)

    return wrapper


def _limit_send_buffer(socket: WebSocket, nbytes: int) -> None:
    """Bound the kernel's send buffer of this connection. Left alone, the kernel grows it to
    megabytes, so a client that stopped reading would take an hour of events before a send blocked;
    bounded, one that falls that far behind blocks the sender, and is dropped ``ws_send_timeout_s``
    later."""
    transport = socket.scope.get("hall.transport")  # type: ignore[call-overload]
    sock = transport.get_extra_info("socket") if transport is not None and nbytes else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(so.SOL_SOCKET, so.SO_SNDBUF, nbytes)


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
    _limit_send_buffer(socket, srv.ws_send_buffer_bytes)
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
        if sender.done() and not sender.cancelled() and isinstance(sender.exception(), TooSlow):
            srv.metrics.inc("hall_stream_dropped_total")
            log.warning("hall %s: a stream client (screen %s) stopped reading for %.1f s and was dropped",
                        hall, device or "-", srv.ws_send_timeout_s)
            await _drop(socket)
    finally:
        srv.metrics.gauge("hall_stream_clients", -1)
        if screen is not None:
            srv.iot.screen_disconnected(screen)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_GRACE_S):  # never wait on a client that does not read
                await socket.close()


async def _drop(socket: WebSocket) -> None:
    """Close with CLOSE_TOO_SLOW "too slow" if the frame finds room soon, else cut the connection
    (a client that stopped reading never takes the close frame, and its buffer never drains)."""
    try:
        async with asyncio.timeout(CLOSE_GRACE_S):
            await socket.close(code=CLOSE_TOO_SLOW, reason="too slow")
        return
    except Exception:  # timed out, or the connection went meanwhile
        pass
    transport = socket.scope.get("hall.transport")  # type: ignore[call-overload]
    if transport is not None:
        transport.abort()


@functools.lru_cache(maxsize=256)
def _live(item: bytes) -> tuple[int, str, str, bytes]:
    """A live event as the stream sends it: seq, topic, envelope, and the envelope as one WebSocket
    text frame (server to client: unmasked, uncompressed). Every screen of the process receives the
    same item, so this is done once per event, not once per screen."""
    seq, topic, env = unwire(item)
    return seq, topic, env, Frame(OP_TEXT, env.encode()).serialize(mask=False)


def _write_direct(socket: WebSocket, frame: bytes) -> bool:
    """Write a framed message straight to the connection's transport, if its ASGI server allows it
    (uvicorn's protocols: whole-frame writes, and they say when they have sent the close frame) and
    little waits unsent there; False when it must go through the ASGI send instead."""
    protocol = socket.scope.get("hall.direct")  # type: ignore[call-overload]
    if protocol is None or protocol.close_sent:
        return False
    transport = protocol.transport
    if transport.is_closing() or transport.get_write_buffer_size() >= DIRECT_LIMIT:
        return False
    transport.write(frame)
    return True


async def _put(socket: WebSocket, text: str, bound: float, frame: bytes | None = None) -> None:
    """Send one message; past ``bound`` seconds blocked (the client's buffers are full) raise TooSlow.

    With ``frame`` (the message framed already) it is written to the transport directly when that
    is allowed (_write_direct): for 200 screens the ASGI send and its wrappers cost more than the
    write itself. Writes stay in order: the protocol writes whole frames too, on the same loop."""
    if frame is not None and _write_direct(socket, frame):
        return
    try:
        async with asyncio.timeout(bound):
            await socket.send_text(text)
    except TimeoutError:
        raise TooSlow from None


class _Caught:
    """A stream that has sent everything up to ``last`` and waits on an empty queue (``on``): the
    next event, if it is ``last + 1``, is written from the channel's delivery itself (_deliver_directly)."""

    __slots__ = ("last", "on")

    def __init__(self) -> None:
        self.last = 0
        self.on = False


def _deliver_directly(sub: Subscriber, socket: WebSocket, topics: set[str] | None, caught: _Caught) -> None:
    """Let the channel's delivery write each live event to this screen itself while the screen is
    caught up, as a broadcast does, instead of queueing it and waking the screen's task: with 200
    screens per process those wake-ups were most of a call-out's fan-out. Anything else (a screen
    behind, a gap, a full transport, an error) is queued for the task as before, in order."""
    queue_it = sub.put_nowait

    def put_nowait(item: bytes | None) -> bool:
        if item is not None and caught.on and sub.qsize == 0:
            try:
                seq, topic, _env, frame = _live(item)
                if seq <= caught.last:
                    return True  # sent already
                if seq == caught.last + 1 and (
                        (topics is not None and topic not in topics) or _write_direct(socket, frame)):
                    caught.last = seq
                    return True
            except Exception:  # never let one screen break the delivery to the others
                log.debug("direct delivery failed; queued", exc_info=True)
        return queue_it(item)

    sub.put_nowait = put_nowait  # type: ignore[method-assign]


async def _send(socket: WebSocket, srv: HallServer, h: HallRuntime, sub: Subscriber, since: int | None,
                topics: set[str] | None) -> None:
    """Snapshot or replay, then the live events in seq order; a gap is filled from the log.

    When the log cannot be read (the database is away) the client gets ``database_unavailable`` and
    the close code ``CLOSE_UNAVAILABLE``; it comes back later with ``?since=`` and misses nothing."""
    hall = h.id
    bound = srv.ws_send_timeout_s
    caught = _Caught()
    try:
        if since is None:
            last, text = await srv.db.read(snapshot, h)
            await _put(socket, text, bound)
        else:
            last = since
            for seq, env in await srv.db.read(read_events, hall, since, topics):
                await _put(socket, env, bound)
                last = seq
        if socket.scope.get("hall.direct") is not None:  # type: ignore[call-overload]
            _deliver_directly(sub, socket, topics, caught)
        caught.last, caught.on = last, sub.qsize == 0
        async for item in sub.iter_events():
            caught.on = False
            last = max(last, caught.last)  # what the delivery wrote meanwhile
            seq, topic, env, frame = _live(item)
            if seq > last:
                if seq > last + 1:  # a gap: fetch what the live stream has not brought (yet)
                    for _s, e in await srv.db.read(read_events, hall, last, topics, seq):
                        await _put(socket, e, bound)
                if topics is None or topic in topics:
                    await _put(socket, env, bound, frame)
                last = seq
            caught.last, caught.on = last, sub.qsize == 0
    except (WebSocketDisconnect, ConnectionError):
        pass
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        with contextlib.suppress(Exception):
            await socket.send_json(error_body())
            await socket.close(code=CLOSE_UNAVAILABLE, reason="database unavailable")
    finally:
        caught.on = False  # the stream ends: nothing more is written past its task


async def _drain_client(socket: WebSocket) -> None:
    """Read (and ignore) what the client sends, so a disconnect ends the handler promptly."""
    with contextlib.suppress(WebSocketDisconnect, Exception):
        while True:
            msg = await socket.receive()
            if msg.get("type") == "websocket.disconnect":
                return
