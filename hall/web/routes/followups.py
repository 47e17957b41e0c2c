"""差评回访 (#7): the follow-up items poor ratings opened, and the manager's call-back and fix.

Reading: duty_officer, manager, admin. Recording: manager, admin. The rules are in
``hall.followup`` and ``hall.followup_policy``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody, Parameter, QueryParameter

from hall import followup
from hall.web.deps import audited_write, one_of, require_actor, server_of

READERS = ("duty_officer", "manager", "admin")
RECORDERS = ("manager", "admin")


@dataclass
class NoteBody:
    note: str


class FollowupController(Controller):
    path = "/api/v1/halls/{hall:str}/followups"
    tags = ["followups"]

    @get("/", operation_id="ListFollowups")
    async def list_followups(self, request: Request, hall: FromPath[str],
                             item_state: Annotated[str | None, QueryParameter(name="state")] = None,
                             overdue: FromQuery[bool | None] = None,
                             limit: int = Parameter(default=500, ge=1, le=5000)) -> list[dict[str, Any]]:
        """Follow-up items, newest first; ``state`` is ``open``, ``called_back``, ``fixed`` or
        ``pending`` (not fixed); ``overdue=true``: a step past its deadline and not done."""
        srv = server_of(request)
        h = srv.hall(hall)
        await require_actor(request, *READERS, hall=hall)
        one_of(item_state, followup.LIST_STATES, "state")
        return await srv.db.read(partial(followup.list_followups, state=item_state, overdue=overdue, limit=limit), h)

    @get("/{followup_id:str}", operation_id="GetFollowup")
    async def get_followup(self, request: Request, hall: FromPath[str], followup_id: FromPath[str]) -> dict[str, Any]:
        """One follow-up item; 404 ``unknown_followup``."""
        srv = server_of(request)
        h = srv.hall(hall)
        await require_actor(request, *READERS, hall=hall)
        return await srv.db.read(followup.get_followup, h, followup_id)

    @post("/{followup_id:str}/callback", operation_id="FollowupCallback", status_code=200,
          opt={"audit": "followup.callback"})
    async def callback(self, request: Request, hall: FromPath[str], followup_id: FromPath[str],
                       data: JSONBody[NoteBody]) -> dict[str, Any]:
        """回访 recorded with a ``note``: ``open`` → ``called_back``; 409 ``followup_state``."""
        srv = server_of(request)
        h = srv.hall(hall)
        actor = await require_actor(request, *RECORDERS, hall=hall)
        return await audited_write(request, h, actor,
                                   lambda tx: followup.record_callback(tx, h, h.now(), actor, followup_id, data.note))

    @post("/{followup_id:str}/fix", operation_id="FollowupFix", status_code=200, opt={"audit": "followup.fix"})
    async def fix(self, request: Request, hall: FromPath[str], followup_id: FromPath[str],
                  data: JSONBody[NoteBody]) -> dict[str, Any]:
        """整改 recorded with a ``note``: ``called_back`` → ``fixed``; 409 ``followup_state``."""
        srv = server_of(request)
        h = srv.hall(hall)
        actor = await require_actor(request, *RECORDERS, hall=hall)
        return await audited_write(request, h, actor,
                                   lambda tx: followup.record_fix(tx, h, h.now(), actor, followup_id, data.note))
