"""Turning a kiosk's request into an IssueRequest: channel, credential, priority, opening hours.

This is the async part of issuing (the 安康码 check is a network call); everything that needs the
database happens afterwards in ``issuing.issue_ticket``.
"""

from __future__ import annotations

from dataclasses import dataclass

from hall.errors import BadRequest, Unavailable
from hall.privacy import mask_name, person_hash
from hall.queue.ankang import AnkangUnavailable, AnkangVerifier
from hall.queue.idcard import InvalidIdNumber, age_on, parse_resident_id
from hall.queue.issuing import IssueRequest, unknown_service
from hall.runtime import HallRuntime

CHANNELS = ("walk_in", "id_card", "ankang", "appointment", "mobile")


@dataclass(frozen=True)
class IssueBody:
    service: str
    channel: str
    credential: str | None = None
    appointment_id: str | None = None


async def prepare_issue(
    h: HallRuntime, body: IssueBody, verifier: AnkangVerifier | None, idempotency_key: str | None
) -> IssueRequest:
    if body.channel not in CHANNELS:
        raise BadRequest(f"取号渠道必须是 {'、'.join(CHANNELS)} 之一", f"channel must be one of {', '.join(CHANNELS)}",
                         code="bad_channel")
    svc = h.cfg.service(body.service)
    if svc is None:
        raise unknown_service(body.service)
    now = h.now()
    if not svc.open_at(now):
        raise Unavailable(f"「{svc.name}」现在不办理，办理时间：{svc.hours_text()}",
                          f"{svc.code} is closed now; opening hours: {svc.hours_text()}",
                          code="service_closed", extra={"hours": svc.hours_text()})
    id_number: str | None = None
    name: str | None = None
    if body.channel in ("id_card", "ankang") and not (body.credential or "").strip():
        raise BadRequest("请出示证件或安康码", "credential required for this channel", code="credential_required")
    if body.channel == "id_card":
        id_number = parse_resident_id(body.credential or "").number
    elif body.channel == "ankang":
        if verifier is None:
            raise AnkangUnavailable()
        identity = await verifier.verify(body.credential or "")
        id_number = parse_resident_id(identity.id_number).number
        name = identity.name
    elif body.channel == "appointment" and not body.appointment_id:
        raise BadRequest("请输入预约码", "appointment_id required for the appointment channel",
                         code="appointment_required")
    priority = "normal"
    if id_number is not None:
        birth = parse_resident_id(id_number).birth_date
        if birth > now.date():
            raise InvalidIdNumber("date")
        if age_on(birth, now.date()) >= h.cfg.green_channel_age:
            priority = "green"
    return IssueRequest(
        service=svc.code, channel=body.channel, priority=priority,
        person_hash=person_hash(h.secret, id_number) if id_number else None,
        masked_name=mask_name(name) if name else None,
        appointment_id=body.appointment_id if body.channel == "appointment" else None,
        idempotency_key=idempotency_key,
    )
