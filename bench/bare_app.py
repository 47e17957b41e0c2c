"""The floor for ticket issuing: a bare Litestar app with the hall's ticket route shape.

``POST /api/v1/halls/{hall}/tickets`` decodes the same body as the hall (a dataclass) and answers a
constant 201 JSON of the same size; nothing else. Served by bench/servers.py ``bare-http`` on the
same uvicorn settings as the hall.
"""

from dataclasses import dataclass
from typing import Any

from litestar import Litestar, Response, get, post


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


app = Litestar(route_handlers=[issue, healthz], debug=False, openapi_config=None)
