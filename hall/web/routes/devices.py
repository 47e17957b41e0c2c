"""Devices (#5): twins, and commands to them. Lockers have their own routes (``lockers.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody, Parameter, QueryParameter

from hall.iot import commands, repo
from hall.web.deps import STAFF_ROLES, refusals_audited, require_actor, server_of

COMMANDERS = ("duty_officer", "manager", "admin")


@dataclass
class DeviceBody:
    device: str  # its id in MQTT topics: lowercase letters, digits, "-"
    kind: str  # kiosk, ticket_printer, locker, screen, env_sensor, caller
    location: str | None = None
    window: str | None = None
    slots: int = 0  # lockers: how many slots


@dataclass
class CommandBody:
    name: str  # open_door, reboot, print, display
    args: dict[str, Any] = field(default_factory=dict)
    ttl_s: int | None = None  # not sent by then: it expires (default iot.command_ttl_s)


class DeviceController(Controller):
    path = "/api/v1/halls/{hall:str}"
    tags = ["devices"]

    @get("/devices", operation_id="ListDevices")
    async def list_devices(self, request: Request, hall: FromPath[str], kind: FromQuery[str | None] = None,
                           ) -> list[dict[str, Any]]:
        """Every registered device with its twin: connectivity, boot, firmware, last metrics, open alarms."""
        srv = server_of(request)
        h = srv.hall(hall)
        await require_actor(request, *STAFF_ROLES, hall=hall)
        active = await srv.db.read(repo.active_alarm_types, h.id)
        out = srv.iot.devices(h, active)
        return [d for d in out if d["kind"] == kind] if kind else out

    @post("/devices", operation_id="RegisterDevice", status_code=201, opt={"audit": "device.register"})
    async def register(self, request: Request, hall: FromPath[str], data: JSONBody[DeviceBody]) -> dict[str, Any]:
        """Register (or re-provision) a device: its registry row and its MQTT credentials, for the
        embedded broker and Mosquitto alike. The password is in this answer only; asking again
        rotates it. ``device.registered`` tells the console."""
        srv = server_of(request)
        h = srv.hall(hall)
        actor = await require_actor(request, "manager", "admin", hall=hall)
        async with refusals_audited(request, h, actor, data.device):  # the registration audits itself
            return await srv.iot.register(h, data.device, data.kind, data.location, data.window, data.slots,
                                          actor.username)

    @get("/devices/{device:str}", operation_id="GetDevice")
    async def get_device(self, request: Request, hall: FromPath[str], device: FromPath[str]) -> dict[str, Any]:
        """One device: its twin, a small history of metrics, its last messages and connectivity
        changes, and its recent commands."""
        srv = server_of(request)
        h = srv.hall(hall)
        await require_actor(request, *STAFF_ROLES, hall=hall)
        active = (await srv.db.read(repo.active_alarm_types, h.id)).get(device, [])
        detail = srv.iot.device_detail(h, device, active)
        detail["commands"] = await srv.db.read(commands.recent, h, device, None, 20)
        return detail

    @post("/devices/{device:str}/commands", operation_id="SendCommand", status_code=202,
          opt={"audit": "device.command"})
    async def send_command(self, request: Request, hall: FromPath[str], device: FromPath[str],
                           data: JSONBody[CommandBody]) -> dict[str, Any]:
        """Send a command (``open_door {slot}``, ``reboot``, ``print {ticket_id?}``, ``display {text}``).
        It is stored, then published once; follow it with ``GET …/commands/{id}`` or the
        ``command.*`` events. Never resent: a command without an answer times out visibly."""
        srv = server_of(request)
        h = srv.hall(hall)
        actor = await require_actor(request, *COMMANDERS, hall=hall)
        async with refusals_audited(request, h, actor, device):  # the command audits itself (hall.iot.commands)
            return await srv.iot.command(h, device, data.name, data.args or {}, actor.username, ttl_s=data.ttl_s)

    @get("/commands", operation_id="ListCommands")
    async def list_commands(self, request: Request, hall: FromPath[str], device: FromQuery[str | None] = None,
                            cmd_state: Annotated[str | None, QueryParameter(name="state")] = None,
                            limit: int = Parameter(default=50, ge=1, le=500)) -> list[dict[str, Any]]:
        """Commands, newest first."""
        srv = server_of(request)
        h = srv.hall(hall)
        await require_actor(request, *STAFF_ROLES, hall=hall)
        return await srv.db.read(commands.recent, h, device, cmd_state, limit)

    @get("/commands/{cmd_id:str}", operation_id="GetCommand")
    async def get_command(self, request: Request, hall: FromPath[str], cmd_id: FromPath[str]) -> dict[str, Any]:
        srv = server_of(request)
        h = srv.hall(hall)
        await require_actor(request, *STAFF_ROLES, hall=hall)
        return await srv.db.read(commands.get, h, cmd_id)
