"""Window actions of a clerk (CONTRACT.md, "Window states and who may act")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, JSONBody

from hall.errors import BadRequest
from hall.queue import calling
from hall.web.deps import audited_write, require_actor, server_of
from hall.windows import service as windows
from hall.windows import staffing
from hall.windows.service import window_view, window_views

CLERKS = ("clerk", "manager", "admin")


@dataclass
class PauseBody:
    reason: str


@dataclass
class StepAwayBody:
    reason: str


@dataclass
class FinishBody:
    rating: int | None = None


@dataclass
class TransferBody:
    service: str


@dataclass
class CallBody:
    ticket_id: str


class WindowController(Controller):
    path = "/api/v1/halls/{hall:str}/windows"
    tags = ["windows"]

    async def _run(self, request: Request, hall: FromPath[str], fn: Any, *args: Any) -> Any:
        srv = server_of(request)
        h = srv.hall(hall)
        actor = await require_actor(request, *CLERKS, hall=hall)
        return await audited_write(request, h, actor, fn, h, *args[:1], actor, *args[1:])

    async def _and_view(self, request: Request, hall: FromPath[str], number: str, fn: Any, *extra: Any) -> dict[str, Any]:
        await self._run(request, hall, fn, number, *extra)
        srv = server_of(request)
        return await srv.db.read(window_view, srv.hall(hall), number)

    @get("", operation_id="ListWindows")
    async def list(self, request: Request, hall: FromPath[str]) -> list[dict[str, Any]]:
        """Every window with its state, post and current ticket."""
        srv = server_of(request)
        return await srv.db.read(window_views, srv.hall(hall))

    @post("/{window:str}/call-next", operation_id="CallNext", status_code=200, opt={"audit": "window.call_next"})
    async def call_next(self, request: Request, hall: FromPath[str], window: FromPath[str]) -> Response[Any]:
        """Call the next ticket by the hall's calling policy; 204 when nobody waits for this window."""
        srv = server_of(request)
        ticket = await self._run(request, hall, calling.call_next, window)
        if ticket is None:
            return Response(None, status_code=204)
        srv.metrics.inc("hall_callouts_total")
        return Response({"ticket": ticket}, status_code=200)

    @post("/{window:str}/call", operation_id="CallTicket", status_code=200, opt={"audit": "window.call"})
    async def call(self, request: Request, hall: FromPath[str], window: FromPath[str], data: JSONBody[CallBody]) -> dict[str, Any]:
        """Call a chosen ticket out of order."""
        ticket = await self._run(request, hall, calling.call_ticket, window, data.ticket_id)
        server_of(request).metrics.inc("hall_callouts_total")
        return {"ticket": ticket}

    @post("/{window:str}/recall", operation_id="Recall", status_code=200, opt={"audit": "window.recall"})
    async def recall(self, request: Request, hall: FromPath[str], window: FromPath[str]) -> dict[str, Any]:
        """Call the current ticket again (counted)."""
        return await self._and_view(request, hall, window, calling.recall)

    @post("/{window:str}/no-show", operation_id="NoShow", status_code=200, opt={"audit": "window.no_show"})
    async def no_show(self, request: Request, hall: FromPath[str], window: FromPath[str]) -> dict[str, Any]:
        """The called visitor did not come (过号); they may be re-queued within the grace period."""
        return await self._and_view(request, hall, window, calling.no_show)

    @post("/{window:str}/start", operation_id="StartService", status_code=200, opt={"audit": "window.start"})
    async def start(self, request: Request, hall: FromPath[str], window: FromPath[str]) -> dict[str, Any]:
        """The visitor arrived: service starts."""
        return await self._and_view(request, hall, window, calling.start)

    @post("/{window:str}/finish", operation_id="FinishService", status_code=200, opt={"audit": "window.finish"})
    async def finish(self, request: Request, hall: FromPath[str], window: FromPath[str], data: JSONBody[FinishBody | None] = None) -> dict[str, Any]:
        """Service done, with the visitor's optional rating (1–5, GB/T 39734)."""
        rating = data.rating if data else None
        if rating is not None and not 1 <= rating <= 5:
            raise BadRequest("评价须为1到5", "rating must be 1 to 5", code="bad_rating")
        return await self._and_view(request, hall, window, calling.finish, rating)

    @post("/{window:str}/transfer", operation_id="Transfer", status_code=200, opt={"audit": "window.transfer"})
    async def transfer(self, request: Request, hall: FromPath[str], window: FromPath[str], data: JSONBody[TransferBody]) -> dict[str, Any]:
        """Send the visitor to another service, keeping their place by original issue time."""
        return await self._and_view(request, hall, window, calling.transfer, data.service)

    @post("/{window:str}/pause", operation_id="PauseWindow", status_code=200, opt={"audit": "window.pause"})
    async def pause(self, request: Request, hall: FromPath[str], window: FromPath[str], data: JSONBody[PauseBody]) -> dict[str, Any]:
        """Pause the window, with a reason shown on its screen."""
        return await self._run(request, hall, windows.pause, window, data.reason)

    @post("/{window:str}/resume", operation_id="ResumeWindow", status_code=200, opt={"audit": "window.resume"})
    async def resume(self, request: Request, hall: FromPath[str], window: FromPath[str]) -> dict[str, Any]:
        return await self._run(request, hall, windows.resume, window)

    @post("/{window:str}/sign-in", operation_id="SignIn", status_code=200, opt={"audit": "window.sign_in"})
    async def sign_in(self, request: Request, hall: FromPath[str], window: FromPath[str]) -> dict[str, Any]:
        """The clerk takes the window; they alone (or a manager) may act on it until sign-out."""
        return await self._run(request, hall, windows.sign_in, window)

    @post("/{window:str}/sign-out", operation_id="SignOut", status_code=200, opt={"audit": "window.sign_out"})
    async def sign_out(self, request: Request, hall: FromPath[str], window: FromPath[str]) -> dict[str, Any]:
        return await self._run(request, hall, windows.sign_out, window)

    @post("/{window:str}/step-away", operation_id="StepAway", status_code=200, opt={"audit": "window.step_away"})
    async def step_away(self, request: Request, hall: FromPath[str], window: FromPath[str], data: JSONBody[StepAwayBody]) -> dict[str, Any]:
        """离岗: the signed-in clerk leaves the window, even mid-service (a reason is required).

        The window keeps its state, queue and any ticket in service for B, who is told at once
        (``post.cover_needed``)."""
        return await self._run(request, hall, staffing.step_away, window, data.reason)

    @post("/{window:str}/cover", operation_id="CoverWindow", status_code=200, opt={"audit": "window.cover"})
    async def cover(self, request: Request, hall: FromPath[str], window: FromPath[str]) -> dict[str, Any]:
        """接岗: the post's B (or A, coming back) takes the window with its queue and any ticket in service."""
        return await self._run(request, hall, staffing.cover, window)
