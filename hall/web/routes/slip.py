"""A ticket's printed slip (PDF for thermal paper) and its tracking QR code (SVG); no login."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import anyio.to_thread
import segno
from litestar import Controller, Request, Response, get
from litestar.params import FromPath, FromQuery

from hall.errors import BadRequest
from hall.queue import repo
from hall.queue.issuing import unknown_ticket
from hall.runtime import HallRuntime
from hall.slip import PRINTABLE_MM, SlipData, build_slip
from hall.web.deps import server_of
from hall.web.routes.tickets import _absolute, ticket_status


def _track_url(request: Request, ticket_id: str) -> str:
    return _absolute(request, {"track_url": f"/t/{ticket_id}"})["track_url"]


def _known(conn: Any, h: HallRuntime, ticket_id: str) -> None:
    if repo.get_ticket(conn, h.id, ticket_id) is None:
        raise unknown_ticket()


def slip_data(status: dict[str, Any], hall_name: str, track_url: str) -> SlipData:
    """The slip's plain data from a ticket's status (``ticket_status``): nothing personal in it."""
    issued = datetime.fromisoformat(status["issued_at"]).strftime("%Y-%m-%d %H:%M")  # already hall local time
    return SlipData(hall_name=hall_name, number=status["number"], service_name=status["service_name"],
                    issued_at=issued, track_url=track_url, ahead=status["ahead"], est_wait_s=status["est_wait_s"])


class SlipController(Controller):
    path = "/api/v1/halls/{hall:str}/tickets"
    tags = ["tickets"]

    @get("/{ticket_id:str}/slip.pdf", operation_id="TicketSlip", media_type="application/pdf")
    async def slip(self, request: Request, hall: FromPath[str], ticket_id: FromPath[str],
                   width: FromQuery[int] = 80) -> Response[bytes]:
        """The ticket slip for an 80 mm or 58 mm thermal printer (``width``), as one long PDF page."""
        if width not in PRINTABLE_MM:
            raise BadRequest("纸宽须为 80 或 58 毫米", "width must be 80 or 58 (mm)", code="bad_width")
        srv = server_of(request)
        h = srv.hall(hall)
        status = await srv.db.read(ticket_status, h, ticket_id)
        data = slip_data(status, h.cfg.name, _track_url(request, ticket_id))
        pdf = await anyio.to_thread.run_sync(build_slip, data, width)
        return Response(pdf, media_type="application/pdf", headers={
            "Content-Disposition": f'inline; filename="slip-{status["number"]}.pdf"',
            "Cache-Control": "no-store",  # people ahead and the wait change by the minute
        })

    @get("/{ticket_id:str}/qr.svg", operation_id="TicketQr", media_type="image/svg+xml")
    async def qr(self, request: Request, hall: FromPath[str], ticket_id: FromPath[str]) -> Response[bytes]:
        """The ticket's tracking URL as a QR code (SVG), for the kiosk to show."""
        srv = server_of(request)
        await srv.db.read(_known, srv.hall(hall), ticket_id)
        buf = io.BytesIO()
        segno.make(_track_url(request, ticket_id), error="m", micro=False).save(
            buf, kind="svg", scale=8, border=4, xmldecl=False, title="扫码查看排队进度")
        return Response(buf.getvalue(), media_type="image/svg+xml", headers={"Cache-Control": "no-cache"})
