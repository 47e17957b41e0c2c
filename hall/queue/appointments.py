"""Appointments (预约): stored from the API or a CSV export of the booking system, checked in at
the kiosk (see ``issuing._check_in`` for the timing rules)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert

from hall.db.database import Tx
from hall.db.models import appointment_t
from hall.errors import BadRequest, HallError
from hall.privacy import mask_name, person_hash
from hall.queue.idcard import parse_resident_id
from hall.queue.issuing import unknown_service
from hall.runtime import HallRuntime, ms


@dataclass(frozen=True)
class NewAppointment:
    service: str
    slot_start_ms: int
    slot_end_ms: int
    person_hash: str | None
    masked_name: str | None

    @classmethod
    def of(cls, h: HallRuntime, d: Mapping[str, Any]) -> NewAppointment:
        if h.cfg.service(str(d.get("service") or "")) is None:
            raise unknown_service(str(d.get("service")))
        start, end = h.parse_time(d.get("slot_start")), h.parse_time(d.get("slot_end"))
        if end <= start:
            raise BadRequest("预约结束时间须晚于开始时间", "slot_end must be after slot_start", code="bad_slot")
        idn = (d.get("id_number") or "").strip()
        name = (d.get("name") or "").strip()
        return cls(
            service=str(d["service"]), slot_start_ms=ms(start), slot_end_ms=ms(end),
            person_hash=person_hash(h.secret, parse_resident_id(idn).number) if idn else None,
            masked_name=mask_name(name) if name else None,
        )


def create(tx: Tx, h: HallRuntime, a: NewAppointment) -> dict[str, Any]:
    appt_id = secrets.token_hex(4).upper()
    tx.conn.execute(insert(appointment_t).values(
        id=appt_id, hall_id=h.id, service=a.service, slot_start_ms=a.slot_start_ms, slot_end_ms=a.slot_end_ms,
        person_hash=a.person_hash, masked_name=a.masked_name, created_ms=ms(h.now()),
    ))
    return {"id": appt_id, "service": a.service, "slot_start": h.iso(a.slot_start_ms),
            "slot_end": h.iso(a.slot_end_ms), "status": "booked"}


def parse_csv(h: HallRuntime, rows: Iterable[Mapping[str, Any]]) -> list[NewAppointment]:
    """Every row or none: an error names the CSV line."""
    out = []
    for line, row in enumerate(rows, start=2):
        try:
            out.append(NewAppointment.of(h, row))
        except HallError as e:
            raise BadRequest(f"第{line}行：{e.zh}", f"line {line}: {e.en}", code="bad_csv") from None
    return out


def import_many(tx: Tx, h: HallRuntime, rows: list[NewAppointment]) -> dict[str, Any]:
    created = [create(tx, h, a) for a in rows]
    return {"imported": len(created), "appointments": created}
