"""The duty officer's shift (#6): handover notes, the shift's summary and its PDF, the staff to assign to.

Roles: duty_officer, manager, admin. Times in queries are ISO 8601; without an offset they are the
hall's local time. What the summary counts is documented in ``hall.shift``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody, Parameter

from hall import shift
from hall.runtime import ms
from hall.shift_pdf import HandoverData, handover_pdf
from hall.web.deps import audited_write, require_actor, server_of

SHIFT_ROLES = ("duty_officer", "manager", "admin")


@dataclass
class NoteBody:
    text: str


class ShiftController(Controller):
    path = "/api/v1/halls/{hall:str}"
    tags = ["shift"]

    @post("/shift/notes", operation_id="AddShiftNote", status_code=201, opt={"audit": "shift.note"})
    async def add_note(self, request: Request, hall: FromPath[str], data: JSONBody[NoteBody]) -> dict[str, Any]:
        """A handover note (1-2000 characters) → ``{id, at, author, author_name, text}``; ``shift.note``."""
        srv = server_of(request)
        h = srv.hall(hall)
        actor = await require_actor(request, *SHIFT_ROLES, hall=hall)
        return await audited_write(request, h, actor, lambda tx: shift.add_note(tx, h, h.now(), actor, data.text))

    @get("/shift/notes", operation_id="ListShiftNotes")
    async def list_notes(self, request: Request, hall: FromPath[str], since: FromQuery[str | None] = None,
                         limit: int = Parameter(default=50, ge=1, le=500)) -> list[dict[str, Any]]:
        """Handover notes, newest first, written at or after ``since`` (if given)."""
        srv = server_of(request)
        h = srv.hall(hall)
        await require_actor(request, *SHIFT_ROLES, hall=hall)
        since_ms = ms(h.parse_time(since)) if since else None
        return await srv.db.read(shift.list_notes, h, since_ms, None, limit)

    @get("/shift/summary", operation_id="ShiftSummary")
    async def summary(self, request: Request, hall: FromPath[str], since: FromQuery[str | None] = None,
                      until: FromQuery[str | None] = None) -> dict[str, Any]:
        """The shift's alarms, commands, lockers, tickets and notes from ``since`` to ``until``
        (default: the last 12 hours)."""
        srv = server_of(request)
        h = srv.hall(hall)
        await require_actor(request, *SHIFT_ROLES, hall=hall)
        start, end = shift.period(h, since, until)
        return await srv.db.read(shift.summary, h, start, end)

    @get("/shift/handover.pdf", operation_id="ShiftHandoverPdf", media_type="application/pdf")
    async def handover(self, request: Request, hall: FromPath[str], since: FromQuery[str | None] = None,
                       until: FromQuery[str | None] = None) -> Response[bytes]:
        """The handover sheet (A4, Chinese) for the period, with the signed-in officer's name."""
        srv = server_of(request)
        h = srv.hall(hall)
        actor = await require_actor(request, *SHIFT_ROLES, hall=hall)
        start, end = shift.period(h, since, until)
        summary = await srv.db.read(shift.summary, h, start, end)
        data = HandoverData(hall_name=h.cfg.name, officer=actor.display_name or actor.username, summary=summary,
                            printed_at=h.now().isoformat(timespec="seconds"))
        pdf = await anyio.to_thread.run_sync(handover_pdf, data)
        name = f"handover-{h.id}-{end.strftime('%Y%m%d-%H%M')}.pdf"
        return Response(pdf, media_type="application/pdf", headers={
            "Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "no-store"})

    @get("/staff", operation_id="ListStaff")
    async def staff(self, request: Request, hall: FromPath[str],
                    role: FromQuery[str | None] = None) -> list[dict[str, Any]]:
        """Active staff of the hall (and of every hall) to assign alarms to: ``[{username,
        display_name, role}]``, by username, optionally of one ``role``."""
        srv = server_of(request)
        srv.hall(hall)
        await require_actor(request, *SHIFT_ROLES, hall=hall)
        shift.check_role(role)
        return await srv.db.read(shift.staff_list, hall, role)
