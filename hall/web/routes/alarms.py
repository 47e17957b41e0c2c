"""Alarms (#5): the list, one alarm with its history, and the operators' actions.

Roles: duty_officer, facility, manager, admin. Facility staff act on the alarms assigned to them
(403 ``not_assigned``) and take an alarm by assigning it to themselves; shelving is for the duty
officer and the managers. Every action answers the alarm's view, is audited and goes on the stream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody, Parameter, QueryParameter

from hall import alarms
from hall.hallconfig import SEVERITIES
from hall.web.deps import STAFF_ROLES, audited_write, one_of, require_actor, server_of

ALARM_STATES = ("active", "acked", "cleared", "closed", "open")
ALARM_SOURCES = ("post", "service", "device", "hall", "followup")
SHELVERS = ("duty_officer", "manager", "admin")


@dataclass
class AssignBody:
    assignee: str


@dataclass
class CommentBody:
    text: str


@dataclass
class ShelveBody:
    minutes: int
    reason: str


@dataclass
class ResolveBody:
    note: str | None = None


class AlarmController(Controller):
    path = "/api/v1/halls/{hall:str}/alarms"
    tags = ["alarms"]

    @get("/", operation_id="ListAlarms")
    async def list_alarms(self, request: Request, hall: FromPath[str],
                          alarm_state: Annotated[str | None, QueryParameter(name="state")] = None,
                          severity: FromQuery[str | None] = None, source: FromQuery[str | None] = None,
                          assignee: FromQuery[str | None] = None, subject: FromQuery[str | None] = None,
                          flood_id: FromQuery[str | None] = None,
                          limit: int = Parameter(default=200, ge=1, le=1000)) -> list[dict[str, Any]]:
        """Alarms, newest first; ``state`` is ``active``, ``acked``, ``cleared``, ``closed`` or ``open``
        (any of the first three); also by ``severity``, ``source``, ``assignee``, ``subject`` and
        ``flood_id`` (the alarms grouped under a flood alarm)."""
        srv = server_of(request)
        h = srv.hall(hall)
        await require_actor(request, *STAFF_ROLES, hall=hall)
        one_of(alarm_state, ALARM_STATES, "state")
        one_of(severity, SEVERITIES, "severity")
        one_of(source, ALARM_SOURCES, "source")
        query = partial(alarms.list_alarms, severity=severity, source=source, assignee=assignee, subject=subject,
                        flood_id=flood_id)
        return await srv.db.read(query, h, alarm_state, limit)

    @get("/{alarm_id:str}", operation_id="GetAlarm")
    async def get_alarm(self, request: Request, hall: FromPath[str], alarm_id: FromPath[str]) -> dict[str, Any]:
        """One alarm with its ``history`` (the audit trail, oldest first) and ``comments``."""
        srv = server_of(request)
        h = srv.hall(hall)
        await require_actor(request, *STAFF_ROLES, hall=hall)
        return await srv.db.read(alarms.get_alarm, h, alarm_id)

    async def _act(self, request: Request, hall: str, roles: tuple[str, ...], fn: Callable[..., Any],
                   *args: Any) -> dict[str, Any]:
        srv = server_of(request)
        h = srv.hall(hall)
        actor = await require_actor(request, *roles, hall=hall)
        return await audited_write(request, h, actor, lambda tx: fn(tx, h, h.now(), actor, *args))

    @post("/{alarm_id:str}/ack", operation_id="AckAlarm", status_code=200, opt={"audit": "alarm.ack"})
    async def ack(self, request: Request, hall: FromPath[str], alarm_id: FromPath[str]) -> dict[str, Any]:
        """Acknowledge: ``active`` → ``acked``, ``cleared`` → ``closed``; 409 ``alarm_state`` otherwise."""
        return await self._act(request, hall, STAFF_ROLES, alarms.ack, alarm_id)

    @post("/{alarm_id:str}/assign", operation_id="AssignAlarm", status_code=200, opt={"audit": "alarm.assign"})
    async def assign(self, request: Request, hall: FromPath[str], alarm_id: FromPath[str],
                     data: JSONBody[AssignBody]) -> dict[str, Any]:
        """Assign an open alarm to a staff member who handles alarms (facility staff: to themselves)."""
        return await self._act(request, hall, STAFF_ROLES, alarms.assign, alarm_id, data.assignee)

    @post("/{alarm_id:str}/comment", operation_id="CommentAlarm", status_code=200, opt={"audit": "alarm.comment"})
    async def comment(self, request: Request, hall: FromPath[str], alarm_id: FromPath[str],
                      data: JSONBody[CommentBody]) -> dict[str, Any]:
        """Add a comment (in any state)."""
        return await self._act(request, hall, STAFF_ROLES, alarms.comment, alarm_id, data.text)

    @post("/{alarm_id:str}/shelve", operation_id="ShelveAlarm", status_code=200, opt={"audit": "alarm.shelve"})
    async def shelve(self, request: Request, hall: FromPath[str], alarm_id: FromPath[str],
                     data: JSONBody[ShelveBody]) -> dict[str, Any]:
        """Shelve an open alarm for ``minutes`` (1–1440) with a ``reason``: not announced again and
        not escalated until then."""
        return await self._act(request, hall, SHELVERS, alarms.shelve, alarm_id, data.minutes, data.reason)

    @post("/{alarm_id:str}/unshelve", operation_id="UnshelveAlarm", status_code=200, opt={"audit": "alarm.unshelve"})
    async def unshelve(self, request: Request, hall: FromPath[str], alarm_id: FromPath[str]) -> dict[str, Any]:
        """End a shelf before its time; 409 ``alarm_state`` if the alarm is not shelved."""
        return await self._act(request, hall, SHELVERS, alarms.unshelve, alarm_id)

    @post("/{alarm_id:str}/resolve", operation_id="ResolveAlarm", status_code=200, opt={"audit": "alarm.resolve"})
    async def resolve(self, request: Request, hall: FromPath[str], alarm_id: FromPath[str],
                      data: JSONBody[ResolveBody | None] = None) -> dict[str, Any]:
        """Close an open alarm whatever its state, with an optional ``note``."""
        return await self._act(request, hall, STAFF_ROLES, alarms.resolve, alarm_id, data.note if data else None)
