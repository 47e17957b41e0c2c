"""Services, tickets and appointments of a hall."""

from __future__ import annotations

import asyncio
import csv
import io
import unicodedata
from dataclasses import dataclass
from datetime import date as date_cls
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from sqlalchemy import select

from hall import announce
from hall.db.models import ACTIVE_STATUSES, FINAL_STATUSES, ticket_t
from hall.errors import BadRequest, Unavailable
from hall.queue import appointments as appt
from hall.queue import rating, repo
from hall.queue.front import IssueBody, prepare_issue
from hall.queue.issuing import estimate_for, issue_ticket, replayed, requeue, unknown_ticket
from hall.queue.policy import Waiting
from hall.runtime import HallRuntime
from hall.stream import services_view
from hall.web.deps import STAFF_ROLES, audited_write, require_actor, server_of


def _absolute(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    if "track_url" in body and body["track_url"].startswith("/"):
        body = {**body, "track_url": str(request.base_url).rstrip("/") + body["track_url"]}
    return body


def ticket_status(conn: Any, h: HallRuntime, ticket_id: str) -> dict[str, Any]:
    t = repo.get_ticket(conn, h.id, ticket_id)
    if t is None:
        raise unknown_ticket()
    ahead = est = None
    if t.status == "waiting":
        me = Waiting(t.id, t.service, t.priority, t.queued_ms, t.overtaken, t.qseq)
        ahead = repo.count_ahead(conn, h.id, t.service, me, h.policy)
        est = estimate_for(conn, h, t.service, ahead)
    svc = h.cfg.service(t.service)
    wcfg = h.cfg.window(t.window) if t.window else None
    return {
        "id": t.id, "number": t.number, "status": t.status, "service": t.service,
        "service_name": svc.name if svc else t.service, "ahead": ahead, "est_wait_s": est,
        "window": t.window, "window_name": wcfg.name if wcfg else None, "issued_at": h.iso(t.issued_ms),
        "called_at": h.iso(t.called_ms),
    }


def list_tickets(conn: Any, h: HallRuntime, status: str | None, service: str | None, day: str | None,
                 limit: int, before: str | None) -> list[dict[str, Any]]:
    q = select(ticket_t).where(ticket_t.c.hall_id == h.id)
    if status:
        q = q.where(ticket_t.c.status == status)
    if service:
        q = q.where(ticket_t.c.service == service)
    if day:
        q = q.where(ticket_t.c.day == day)
    if before:
        ref = repo.get_ticket(conn, h.id, before)
        if ref is None:
            raise unknown_ticket()
        q = q.where((ticket_t.c.issued_ms < ref.issued_ms)
                    | ((ticket_t.c.issued_ms == ref.issued_ms) & (ticket_t.c.qseq < ref.qseq)))
    q = q.order_by(ticket_t.c.issued_ms.desc(), ticket_t.c.qseq.desc()).limit(limit)
    return [
        {"id": t.id, "number": t.number, "service": t.service, "channel": t.channel, "status": t.status,
         "priority": t.priority, "issued_at": h.iso(t.issued_ms), "called_at": h.iso(t.called_ms),
         "window": t.window, "masked_name": t.masked_name}
        for t in conn.execute(q)
    ]


STATUSES = ACTIVE_STATUSES + FINAL_STATUSES


def _check_filters(status: str | None, day: str | None) -> None:
    if status and status not in STATUSES:
        raise BadRequest(f"状态须为 {'、'.join(STATUSES)} 之一", f"status must be one of {', '.join(STATUSES)}",
                         code="bad_status")
    if day:
        try:
            date_cls.fromisoformat(day)
        except ValueError:
            raise BadRequest("日期格式须为 YYYY-MM-DD", "date must be YYYY-MM-DD", code="bad_date") from None


@dataclass
class RatingBody:
    rating: int


@dataclass
class AppointmentBody:
    service: str
    slot_start: str  # ISO 8601; without an offset, the hall's local time
    slot_end: str
    name: str | None = None
    id_number: str | None = None


class TicketController(Controller):
    path = "/api/v1/halls/{hall:str}"
    tags = ["tickets"]

    @get("/services", operation_id="ListServices")
    async def services(self, request: Request, hall: FromPath[str]) -> list[dict[str, Any]]:
        """Services with waiting counts, estimated waits and whether they are open now."""
        srv = server_of(request)
        h = srv.hall(hall)
        return await srv.db.read(services_view, h)

    @post("/tickets", operation_id="IssueTicket", status_code=201)
    async def issue(self, request: Request, hall: FromPath[str], data: JSONBody[IssueBody]) -> Response[dict[str, Any]]:
        """Take a ticket (kiosk, phone). A retried request with the same Idempotency-Key creates nothing new."""
        srv = server_of(request)
        h = srv.hall(hall)
        key = request.headers.get("idempotency-key") or None
        if key is not None and len(key) > 128:
            raise BadRequest("Idempotency-Key 过长", "Idempotency-Key is longer than 128 characters",
                             code="bad_idempotency_key")
        prev = await srv.db.read(replayed, hall, key) if key else None  # a retry: the first answer, even if closed now
        if prev is not None:
            return Response(_absolute(request, prev.body), status_code=prev.status)
        req = await prepare_issue(h, data, srv.verifiers.get(hall), key)
        issued = await srv.db.write(issue_ticket, h, req)
        if not issued.replayed:
            srv.metrics.inc("hall_tickets_issued_total", channel=req.channel)
        return Response(_absolute(request, issued.body), status_code=issued.status)

    @get("/tickets/{ticket_id:str}", operation_id="GetTicket")
    async def get_ticket(self, request: Request, hall: FromPath[str], ticket_id: FromPath[str]) -> dict[str, Any]:
        """A ticket's status, people ahead and estimated wait (the tracking page reads this)."""
        srv = server_of(request)
        return await srv.db.read(ticket_status, srv.hall(hall), ticket_id)

    @get("/tickets", operation_id="ListTickets")
    async def list(
        self, request: Request, hall: FromPath[str], status: FromQuery[str | None] = None, service: FromQuery[str | None] = None,
        date: FromQuery[str | None] = None, limit: int = Parameter(default=50, ge=1, le=500), before: FromQuery[str | None] = None,
    ) -> list[dict[str, Any]]:
        """Staff: tickets newest first, paged with ``limit`` and ``before`` (a ticket id)."""
        srv = server_of(request)
        h = srv.hall(hall)
        await require_actor(request, "clerk", *STAFF_ROLES, hall=hall)
        _check_filters(status, date)
        return await srv.db.read(list_tickets, h, status, service, date, limit, before)

    @post("/tickets/{ticket_id:str}/requeue", operation_id="RequeueTicket", status_code=200,
          opt={"audit": "ticket.requeue"})
    async def requeue(self, request: Request, hall: FromPath[str], ticket_id: FromPath[str]) -> dict[str, Any]:
        """Staff: put a missed (no-show) ticket back in the queue within the grace period."""
        srv = server_of(request)
        h = srv.hall(hall)
        actor = await require_actor(request, "clerk", *STAFF_ROLES, hall=hall)
        return await audited_write(request, h, actor, requeue, h, ticket_id)

    @post("/tickets/{ticket_id:str}/rating", operation_id="RateTicket", status_code=200)
    async def rate(self, request: Request, hall: FromPath[str], ticket_id: FromPath[str], data: JSONBody[RatingBody]) -> dict[str, Any]:
        """The rating pad: 好差评 for a finished ticket, once, within 15 minutes (no login)."""
        srv = server_of(request)
        return await srv.db.write(rating.rate, srv.hall(hall), ticket_id, data.rating)

    @get("/announce.wav", operation_id="AnnounceAudio", media_type="audio/wav")
    async def announce_audio(self, request: Request, hall: FromPath[str], text: FromQuery[str]) -> Response[bytes]:
        """A call-out spoken by the server (espeak-ng, Mandarin) for screens without a Chinese voice."""
        server_of(request).hall(hall)
        text = text.strip()
        if not text or len(text) > announce.MAX_CHARS:
            raise BadRequest("播报文字须为1到80个字", "text must be 1 to 80 characters", code="bad_text")
        if any(unicodedata.category(c) in ("Cc", "Cs") for c in text):  # a NUL cannot go to espeak-ng
            raise BadRequest("播报文字不能含控制字符", "text must not contain control characters", code="bad_text")
        audio = await asyncio.to_thread(announce.synthesize, text)
        if audio is None:
            raise Unavailable("服务器语音不可用（未安装 espeak-ng）", "server speech is unavailable (no espeak-ng)",
                              code="audio_unavailable")
        return Response(audio, media_type="audio/wav", headers={"Cache-Control": "public, max-age=86400"})

    @post("/appointments", operation_id="CreateAppointment", status_code=201, opt={"audit": "appointment.create"})
    async def create_appointment(self, request: Request, hall: FromPath[str], data: JSONBody[AppointmentBody]) -> dict[str, Any]:
        """Staff: book an appointment (the online booking system calls this too)."""
        srv = server_of(request)
        h = srv.hall(hall)
        actor = await require_actor(request, "clerk", "manager", "admin", hall=hall)
        return await audited_write(request, h, actor, appt.create, h, appt.NewAppointment.of(h, data.__dict__))

    @post("/appointments/import", operation_id="ImportAppointments", status_code=200,
          opt={"audit": "appointment.import"})
    async def import_appointments(self, request: Request, hall: FromPath[str]) -> dict[str, Any]:
        """Staff: import appointments from CSV (service,slot_start,slot_end,name,id_number; header row)."""
        srv = server_of(request)
        h = srv.hall(hall)
        actor = await require_actor(request, "manager", "admin", hall=hall)
        raw = await request.body()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise BadRequest("CSV 须为 UTF-8 编码", "the CSV must be UTF-8", code="bad_csv") from None
        rows = appt.parse_csv(h, csv.DictReader(io.StringIO(text)))
        return await audited_write(request, h, actor, appt.import_many, h, rows)
