"""SQLModel tables. Every hall-scoped row carries ``hall_id``; times are Unix milliseconds.

Only the repositories and use cases touch these; what leaves the server is built from plain dicts
shaped by CONTRACT.md, never from these rows.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Text, text
from sqlmodel import Field, SQLModel

ACTIVE_STATUSES = ("waiting", "called", "serving")
FINAL_STATUSES = ("finished", "no_show", "expired", "cancelled")


class HallRow(SQLModel, table=True):
    __tablename__ = "hall"
    id: str = Field(primary_key=True, max_length=32)
    name: str
    seq: int = Field(default=0, description="last event seq of this hall (gap-free counter)")


class EventRow(SQLModel, table=True):
    """The spine: one row per change, per-hall gap-free ``seq``, written with the change."""

    __tablename__ = "event"
    hall_id: str = Field(primary_key=True, max_length=32)
    seq: int = Field(primary_key=True)
    type: str = Field(max_length=48)
    topic: str = Field(max_length=16)
    at_ms: int = Field(sa_type=BigInteger)
    envelope: str = Field(sa_column=Column(Text, nullable=False))

    __table_args__ = (Index("ix_event_hall_type_at", "hall_id", "topic", "at_ms"),)


class ServiceCounter(SQLModel, table=True):
    """Ticket numbers per hall, service and day, allocated with one atomic upsert."""

    __tablename__ = "service_counter"
    hall_id: str = Field(primary_key=True, max_length=32)
    service: str = Field(primary_key=True, max_length=8)
    day: str = Field(primary_key=True, max_length=10)
    last: int = 0


class TicketRow(SQLModel, table=True):
    __tablename__ = "ticket"
    id: str = Field(primary_key=True, max_length=32)
    hall_id: str = Field(max_length=32)
    service: str = Field(max_length=8, description="the service it waits for now")
    origin_service: str = Field(max_length=8, description="the service its number belongs to")
    day: str = Field(max_length=10)
    counter: int
    number: str = Field(max_length=12)
    channel: str = Field(max_length=16)
    status: str = Field(max_length=12)
    priority: str = Field(max_length=16, description="green / appointment / transferred / normal")
    issued_ms: int = Field(sa_type=BigInteger)
    queued_ms: int = Field(sa_type=BigInteger, description="its place in the queue: issue time, kept on transfer")
    qseq: int = Field(default=0, description="the hall seq when it joined the queue: the tie-break")
    called_ms: int | None = Field(default=None, sa_type=BigInteger)
    started_ms: int | None = Field(default=None, sa_type=BigInteger)
    finished_ms: int | None = Field(default=None, sa_type=BigInteger)
    no_show_ms: int | None = Field(default=None, sa_type=BigInteger)
    window: str | None = Field(default=None, max_length=8)
    recall_count: int = 0
    overtaken: int = 0
    transfers: int = 0
    requeues: int = 0
    person_hash: str | None = Field(default=None, max_length=64)
    masked_name: str | None = Field(default=None, max_length=16)
    appointment_id: str | None = Field(default=None, max_length=32)
    rating: int | None = None

    __table_args__ = (
        Index("ux_ticket_number", "hall_id", "origin_service", "day", "counter", unique=True),
        Index("ix_ticket_queue", "hall_id", "status", "service", "queued_ms", "qseq"),
        Index("ix_ticket_issued", "hall_id", "issued_ms"),
        Index(
            "ux_ticket_person_active",
            "hall_id",
            "service",
            "person_hash",
            unique=True,
            sqlite_where=text("status IN ('waiting','called','serving') AND person_hash IS NOT NULL"),
            postgresql_where=text("status IN ('waiting','called','serving') AND person_hash IS NOT NULL"),
        ),
    )


class WindowRow(SQLModel, table=True):
    __tablename__ = "window_state"
    hall_id: str = Field(primary_key=True, max_length=32)
    window: str = Field(primary_key=True, max_length=8)
    state: str = Field(default="closed", max_length=12)
    clerk: str | None = Field(default=None, max_length=64)
    ticket_id: str | None = Field(default=None, max_length=32)
    pause_reason: str | None = None
    priority_streak: int = 0
    updated_ms: int = Field(default=0, sa_type=BigInteger)


class StaffRow(SQLModel, table=True):
    __tablename__ = "staff"
    username: str = Field(primary_key=True, max_length=64)
    password_hash: str
    role: str = Field(max_length=16)
    hall_id: str | None = Field(default=None, max_length=32, description="None: every hall")
    display_name: str = ""
    staff_no: str = ""
    active: bool = True


class SessionRow(SQLModel, table=True):
    __tablename__ = "staff_session"
    token_hash: str = Field(primary_key=True, max_length=64)
    username: str = Field(max_length=64, index=True)
    created_ms: int = Field(sa_type=BigInteger)
    expires_ms: int = Field(sa_type=BigInteger)


class IdempotencyRow(SQLModel, table=True):
    __tablename__ = "idempotency"
    hall_id: str = Field(primary_key=True, max_length=32)
    key: str = Field(primary_key=True, max_length=128)
    status: int
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_ms: int = Field(sa_type=BigInteger)


class AppointmentRow(SQLModel, table=True):
    __tablename__ = "appointment"
    id: str = Field(primary_key=True, max_length=32)
    hall_id: str = Field(max_length=32, index=True)
    service: str = Field(max_length=8)
    slot_start_ms: int = Field(sa_type=BigInteger)
    slot_end_ms: int = Field(sa_type=BigInteger)
    status: str = Field(default="booked", max_length=12)
    person_hash: str | None = Field(default=None, max_length=64)
    masked_name: str | None = Field(default=None, max_length=16)
    ticket_id: str | None = Field(default=None, max_length=32)
    created_ms: int = Field(sa_type=BigInteger)


hall_t = HallRow.__table__
event_t = EventRow.__table__
counter_t = ServiceCounter.__table__
ticket_t = TicketRow.__table__
window_t = WindowRow.__table__
staff_t = StaffRow.__table__
session_t = SessionRow.__table__
idem_t = IdempotencyRow.__table__
appointment_t = AppointmentRow.__table__
