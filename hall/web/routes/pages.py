"""The pages: hall screen, window screen, kiosk, clerk terminal, rating pad, ticket tracking,
facility staff's alarms.

Plain HTML files in ``hall/web/pages`` with ES modules and CSS in ``hall/web/static``: no build
step. A page gets its data from the REST API and the WebSocket stream, like any other client; the
server only fills in ``{{hall}}``, ``{{window}}``, ``{{ticket}}`` and ``{{hall_name}}`` (escaped).
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path

from litestar import Controller, Request, Response, get
from litestar.params import FromPath
from litestar.static_files import create_static_files_router
from sqlalchemy import select

from hall.db.models import ticket_t
from hall.queue.calling import unknown_window
from hall.queue.issuing import unknown_ticket
from hall.runtime import HallRuntime
from hall.web.deps import server_of

PAGES = Path(__file__).resolve().parent.parent / "pages"
STATIC = Path(__file__).resolve().parent.parent / "static"

static_router = create_static_files_router(path="/static", directories=[STATIC], include_in_schema=False)


@cache
def _template(name: str) -> str:
    return (PAGES / f"{name}.html").read_text(encoding="utf-8")


def render(name: str, **values: str) -> Response[str]:
    text = _template(name)
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", html.escape(value, quote=True))
    return Response(text, media_type="text/html; charset=utf-8",
                    headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


def _hall_with_window(request: Request, hall: str, window: str) -> HallRuntime:
    h = server_of(request).hall(hall)
    if h.cfg.window(window) is None:
        raise unknown_window(window)
    return h


class PageController(Controller):
    include_in_schema = False

    @get("/screen/hall/{hall:str}")
    async def hall_screen(self, request: Request, hall: FromPath[str]) -> Response[str]:
        h = server_of(request).hall(hall)
        return render("hall_screen", hall=h.id, hall_name=h.cfg.name)

    @get("/screen/window/{hall:str}/{window:str}")
    async def window_screen(self, request: Request, hall: FromPath[str], window: FromPath[str]) -> Response[str]:
        h = _hall_with_window(request, hall, window)
        return render("window_screen", hall=h.id, hall_name=h.cfg.name, window=window)

    @get("/kiosk/{hall:str}")
    async def kiosk(self, request: Request, hall: FromPath[str]) -> Response[str]:
        h = server_of(request).hall(hall)
        return render("kiosk", hall=h.id, hall_name=h.cfg.name)

    @get("/clerk/{hall:str}")
    async def clerk(self, request: Request, hall: FromPath[str]) -> Response[str]:
        h = server_of(request).hall(hall)
        return render("clerk", hall=h.id, hall_name=h.cfg.name)

    @get("/staff/{hall:str}")
    async def staff(self, request: Request, hall: FromPath[str]) -> Response[str]:
        """The facility staff's phone page: the alarms assigned to them."""
        h = server_of(request).hall(hall)
        return render("staff", hall=h.id, hall_name=h.cfg.name)

    @get("/rate/{hall:str}/{window:str}")
    async def rating_pad(self, request: Request, hall: FromPath[str], window: FromPath[str]) -> Response[str]:
        h = _hall_with_window(request, hall, window)
        return render("rate", hall=h.id, hall_name=h.cfg.name, window=window)

    @get("/t/{ticket_id:str}")
    async def track(self, request: Request, ticket_id: FromPath[str]) -> Response[str]:
        """The tracking page behind the QR on a slip: the ticket id alone names its hall."""
        srv = server_of(request)

        def hall_of(conn) -> str | None:  # noqa: ANN001
            return conn.execute(select(ticket_t.c.hall_id).where(ticket_t.c.id == ticket_id)).scalar()

        hall = await srv.db.read(hall_of)
        if hall is None or hall not in srv.halls:
            raise unknown_ticket()
        return render("track", hall=hall, hall_name=srv.halls[hall].cfg.name, ticket=ticket_id)
