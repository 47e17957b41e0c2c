"""The floor for ticket issuing: a bare Litestar app with the hall's ticket route shape.

``POST /api/v1/halls/{hall}/tickets`` decodes the same body as the hall (a dataclass) and answers a
constant 201 JSON of the same size; ``/ws`` accepts a WebSocket, sends a hello and holds it (the
memory floor's screens); nothing else. Served by bench/servers.py ``bare-http`` on the
same uvicorn settings as the hall.
"""

import contextlib
from dataclasses import dataclass
from typing import Any

from litestar import Litestar, Response, WebSocket, get, post, websocket
from litestar.exceptions import WebSocketDisconnect


@dataclass(frozen=True)
class Body:
    service: str
    channel: str
    credential: "str | None" = None
    appointment_id: "str | None" = None


ANSWER = {
    "id": "0123456789abcdef0123", "number": "A001", "service": "SB", "channel": "walk_in",
    "status": "waiting", "priority": "normal", "ahead": 0, "est_wait_s": 0,
    "issued_at": "2026-11-23T09:30:00+08:00", "track_url": "http://127.0.0.1/t/0123456789abcdef0123",
}


@post("/api/v1/halls/{hall:str}/tickets", status_code=201)
async def issue(hall: str, data: Body) -> Response[dict[str, Any]]:
    return Response(ANSWER, status_code=201)


@get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@websocket("/ws")
async def screen(socket: WebSocket) -> None:
    """The memory floor's screen: a hello, then the connection is held until the client leaves."""
    await socket.accept()
    await socket.send_text('{"type":"snapshot","seq":0,"hall":"hn-tja","data":{}}')
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await socket.receive_data(mode="text")


app = Litestar(route_handlers=[issue, healthz, screen], debug=False, openapi_config=None)
