"""Pickup lockers (亮码取件): deposits by staff, pickup by code (no login), slot views."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody
from sqlalchemy import select

from hall.db.models import slot_t
from hall.errors import BadRequest
from hall.iot import lockers
from hall.privacy import normalise_id, person_hash
from hall.web.deps import STAFF_ROLES, refusals_audited, require_actor, server_of
from hall.web.forward import client_of

DEPOSITORS = ("clerk", "duty_officer", "manager", "admin")


@dataclass
class DepositBody:
    item: str  # what is left, e.g. 营业执照 (shown to staff only)
    holder_credential: str | None = None  # the holder's ID number: stored only as a salted hash


@dataclass
class PickupBody:
    code: str
    device: str | None = None  # the locker or kiosk the code was typed at


def _locker_ids(conn: Any, hall: str) -> list[str]:
    return sorted({r.device for r in conn.execute(select(slot_t.c.device).where(slot_t.c.hall_id == hall))})


class LockerController(Controller):
    path = "/api/v1/halls/{hall:str}/lockers"
    tags = ["lockers"]

    @post("/{device:str}/deposits", operation_id="Deposit", status_code=201, opt={"audit": "locker.deposit"})
    async def deposit(self, request: Request, hall: FromPath[str], device: FromPath[str],
                      data: JSONBody[DepositBody]) -> dict[str, Any]:
        """Leave an item: a free slot is chosen and its door opens; closing the door on the item
        confirms it (``locker.deposited``). The answer holds the pickup code, shown only here."""
        srv = server_of(request)
        h = srv.hall(hall)
        actor = await require_actor(request, *DEPOSITORS, hall=hall)
        item = (data.item or "").strip()
        if not item or len(item) > 128:
            raise BadRequest("请填写物品名称（1-128字）", "item must be 1-128 characters", code="bad_item")
        holder = None
        if data.holder_credential:
            holder = person_hash(h.secret, normalise_id(data.holder_credential))
        async with refusals_audited(request, h, actor, device):  # the deposit audits itself (hall.iot.lockers)
            return await srv.iot.deposit(h, device, item, actor.username, holder)

    @post("/pickup", operation_id="Pickup", status_code=200)
    async def pickup(self, request: Request, hall: FromPath[str], data: JSONBody[PickupBody]) -> dict[str, Any]:
        """A visitor's code (no login): the door opens, and the answer comes once the locker
        confirms it open. Wrong codes are counted per locker (or per client); too many lock it out
        (429 ``locked_out``). A door that does not open: 503 ``door_jammed``, the code stays valid."""
        srv = server_of(request)
        h = srv.hall(hall)
        code = (data.code or "").strip()
        if not code.isdigit() or len(code) > 16:
            raise BadRequest("取件码应为数字", "the pickup code is digits", code="bad_code_format")
        if data.device:
            srv.iot.twin(h, data.device)  # 404 for an unknown device
            source = f"device:{data.device}"
        else:
            source = f"client:{client_of(srv.secret, request.client.host if request.client else '?', request.headers)}"
        return await srv.iot.pickup(h, code, source)

    @get("", operation_id="ListLockers")
    async def list_lockers(self, request: Request, hall: FromPath[str]) -> list[dict[str, Any]]:
        """Every locker: slots (door, occupied, the deposit on it), free slots."""
        srv = server_of(request)
        h = srv.hall(hall)
        await require_actor(request, *DEPOSITORS, "facility", hall=hall)

        def read(conn: Any) -> list[dict[str, Any]]:
            return [lockers.locker_view(conn, h, d) for d in _locker_ids(conn, h.id)]

        return await srv.db.read(read)

    @get("/{device:str}", operation_id="GetLocker")
    async def get_locker(self, request: Request, hall: FromPath[str], device: FromPath[str]) -> dict[str, Any]:
        srv = server_of(request)
        h = srv.hall(hall)
        await require_actor(request, *STAFF_ROLES, "clerk", hall=hall)
        return await srv.db.read(lockers.locker_view, h, device)
