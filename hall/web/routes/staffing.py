"""Staffing (#4): leave, A/B posts and their audit, the controller's decisions, the manager's
tidal override. Alarms are in ``alarms.py``. Step-away and cover are window actions (``windows.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, delete, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody, Parameter

from hall import audit
from hall.errors import BadRequest
from hall.runtime import ms
from hall.web.deps import audited_write, one_of, require_actor, server_of
from hall.windows import staffing

SUPERVISORS = ("manager", "admin")
AUDIT_READERS = ("manager", "admin", "duty_officer")
CLERKS = ("clerk", "manager", "admin")
DECISION_KINDS = ("tidal", "post", "wait")
TIDAL_ACTIONS = ("open", "close", "release")


@dataclass
class LeaveBody:
    clerk: str
    start: str  # ISO 8601; without an offset, the hall's local time
    end: str
    reason: str | None = None


@dataclass
class PostBody:
    a: str
    b: str | None = None


@dataclass
class TidalBody:
    action: str  # "open" | "close" | "release"
    services: list[str] | None = None  # for "open": what the window takes (default: all it can serve)
    minutes: int = 60  # how long the hold lasts


class StaffingController(Controller):
    path = "/api/v1/halls/{hall:str}"
    tags = ["staffing"]

    # ------------------------------------------------------------------ leave
    @post("/leaves", operation_id="RegisterLeave", status_code=201, opt={"audit": "leave.register"})
    async def register_leave(self, request: Request, hall: FromPath[str], data: JSONBody[LeaveBody]) -> dict[str, Any]:
        """Register leave in advance (a clerk their own, a manager anyone's); 409 ``leave_conflict`` when
        the A and the B of one post would be away at the same time."""
        srv = server_of(request)
        h = srv.hall(hall)
        actor = await require_actor(request, *CLERKS, hall=hall)
        return await audited_write(request, h, actor, staffing.register_leave, h, actor, data.clerk, data.start,
                                   data.end, data.reason or "", subject=data.clerk)

    @get("/leaves", operation_id="ListLeaves")
    async def list_leaves(self, request: Request, hall: FromPath[str]) -> list[dict[str, Any]]:
        """Registered leave, not cancelled, by start time."""
        srv = server_of(request)
        h = srv.hall(hall)
        await require_actor(request, "clerk", "duty_officer", *SUPERVISORS, hall=hall)
        return await srv.db.read(staffing.list_leaves, h)

    @delete("/leaves/{leave_id:str}", operation_id="CancelLeave", status_code=200, opt={"audit": "leave.cancel"})
    async def cancel_leave(self, request: Request, hall: FromPath[str], leave_id: FromPath[str]) -> dict[str, Any]:
        """Cancel a leave (one's own, or anyone's for a manager)."""
        srv = server_of(request)
        h = srv.hall(hall)
        actor = await require_actor(request, *CLERKS, hall=hall)
        return await audited_write(request, h, actor, staffing.cancel_leave, h, actor, leave_id)

    # ------------------------------------------------------------------ posts and audit
    @put("/posts/{window:str}", operation_id="SetPost", status_code=200, opt={"audit": "post.change"})
    async def set_post(self, request: Request, hall: FromPath[str], window: FromPath[str], data: JSONBody[PostBody]) -> dict[str, Any]:
        """The manager changes a window's A/B clerks (audited, and a ``post.changed`` event)."""
        srv = server_of(request)
        h = srv.hall(hall)
        actor = await require_actor(request, *SUPERVISORS, hall=hall)
        return await audited_write(request, h, actor, staffing.set_post, h, actor, window, data.a, data.b)

    @get("/audit", operation_id="AuditLog")
    async def audit_log(self, request: Request, hall: FromPath[str], since: FromQuery[str | None] = None,
                        until: FromQuery[str | None] = None, actor: FromQuery[str | None] = None,
                        action: FromQuery[str | None] = None, outcome: FromQuery[str | None] = None,
                        limit: int = Parameter(default=200, ge=1, le=1000)) -> list[dict[str, Any]]:
        """The audit log, newest first: every staff action (window, leave, posts, tidal overrides, alarms,
        devices, lockers, shift notes, follow-ups, sign-ins, accounts) and the server's own alarm actions
        (actor ``system``), ``[{id, at, hall, actor, action, subject, outcome, detail}]``. ``outcome`` is
        ``ok`` or ``refused`` (403/409 and failed sign-ins; ``detail.error`` holds the code). Filters:
        ``since`` (inclusive) and ``until`` (exclusive), ISO 8601, the hall's local time without an
        offset; ``actor`` (a username); ``action``, one (``window.call_next``) or a family (``window``);
        ``outcome``. An admin also sees the rows of no one hall (``hall: "*"``: unknown usernames at
        sign-in, accounts of every hall). Roles: manager, admin, duty_officer."""
        srv = server_of(request)
        h = srv.hall(hall)
        who = await require_actor(request, *AUDIT_READERS, hall=hall)
        one_of(outcome, audit.OUTCOMES, "outcome")
        if any("\x00" in v for v in (actor, action) if v):
            raise BadRequest("筛选条件不能含控制字符", "filters must not contain control characters", code="bad_filter")
        since_ms = ms(h.parse_time(since)) if since else None
        until_ms = ms(h.parse_time(until)) if until else None
        return await srv.db.read(lambda conn: audit.log(
            conn, h.id, since_ms=since_ms, until_ms=until_ms, actor=actor, action=action, outcome=outcome,
            limit=limit, with_global=who.role == "admin", iso=h.iso))

    # ------------------------------------------------------------------ the controller
    @get("/decisions", operation_id="ListDecisions")
    async def decisions(self, request: Request, hall: FromPath[str], kind: FromQuery[str | None] = None,
                        limit: int = Parameter(default=200, ge=1, le=1000)) -> list[dict[str, Any]]:
        """Every decision of the staffing controller (and of managers), newest first, with its reason."""
        srv = server_of(request)
        h = srv.hall(hall)
        await require_actor(request, "duty_officer", *SUPERVISORS, hall=hall)
        one_of(kind, DECISION_KINDS, "kind")
        return await srv.db.read(staffing.decisions, h, kind, limit)

    @post("/tidal/{window:str}", operation_id="HoldTidal", status_code=200, opt={"audit": "tidal.hold"})
    async def hold_tidal(self, request: Request, hall: FromPath[str], window: FromPath[str], data: JSONBody[TidalBody]) -> dict[str, Any]:
        """The manager's override of a tidal window: hold it open (``services``) or closed for
        ``minutes``, or release it to the policy. Answers the window's view."""
        srv = server_of(request)
        h = srv.hall(hall)
        actor = await require_actor(request, *SUPERVISORS, hall=hall)
        one_of(data.action or "?", TIDAL_ACTIONS, "action")
        return await audited_write(request, h, actor, staffing.hold_tidal, h, actor, window, data.action, data.services,
                                   data.minutes)
