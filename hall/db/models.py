"""SQLModel tables. Every hall-scoped row carries ``hall_id``; times are Unix milliseconds.

Only the repositories and use cases touch these; what leaves the server is built from plain dicts
shaped by CONTRACT.md, never from these rows.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Text, false, text
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
    # AB posts: since when nobody is at the window (clerk left or stepped away), and why
    left_ms: int | None = Field(default=None, sa_type=BigInteger)
    away_reason: str | None = None
    cover_asked: str | None = Field(default=None, max_length=64, description="the B asked to cover, this time")
    vacant: bool = Field(default=False, sa_column_kwargs={"server_default": false()},
                         description="a 空岗 alarm is up for the current vacancy")
    # tidal windows: opened by the policy (or the manager), the services taken, the clerk asked
    tidal_open: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    tidal_closing: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    tidal_services: str = Field(default="", sa_column_kwargs={"server_default": ""},
                                description="comma-separated service codes taken while open")
    tidal_since_ms: int | None = Field(default=None, sa_type=BigInteger)
    tidal_clerk: str | None = Field(default=None, max_length=64)
    held: str | None = Field(default=None, max_length=8, description="manager override: open / closed")
    held_until_ms: int | None = Field(default=None, sa_type=BigInteger)


class StaffRow(SQLModel, table=True):
    __tablename__ = "staff"
    username: str = Field(primary_key=True, max_length=64)
    password_hash: str
    role: str = Field(max_length=16)
    hall_id: str | None = Field(default=None, max_length=32, description="None: every hall")
    display_name: str = ""
    staff_no: str = ""
    active: bool = True

    __table_args__ = (Index("ix_staff_hall_role", "hall_id", "role"),)


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


class PostRow(SQLModel, table=True):
    """A manager's change of a window's A/B clerks (the hall file's ``post`` is the default)."""

    __tablename__ = "post"
    hall_id: str = Field(primary_key=True, max_length=32)
    window: str = Field(primary_key=True, max_length=8)
    a: str = Field(max_length=64)
    b: str | None = Field(default=None, max_length=64)
    updated_ms: int = Field(sa_type=BigInteger)
    updated_by: str = Field(max_length=64)


class LeaveRow(SQLModel, table=True):
    """Leave registered in advance; refused when A and B of one post would be away at once."""

    __tablename__ = "leave"
    id: str = Field(primary_key=True, max_length=32)
    hall_id: str = Field(max_length=32)
    clerk: str = Field(max_length=64)
    start_ms: int = Field(sa_type=BigInteger)
    end_ms: int = Field(sa_type=BigInteger)
    reason: str = ""
    created_ms: int = Field(sa_type=BigInteger)
    created_by: str = Field(max_length=64)
    cancelled_ms: int | None = Field(default=None, sa_type=BigInteger)

    __table_args__ = (Index("ix_leave_hall_clerk", "hall_id", "clerk", "start_ms"),)


class DecisionRow(SQLModel, table=True):
    """Every staffing decision with its reason: tidal openings and closings, covers, overrides."""

    __tablename__ = "decision"
    id: int | None = Field(default=None, primary_key=True)
    hall_id: str = Field(max_length=32)
    at_ms: int = Field(sa_type=BigInteger)
    kind: str = Field(max_length=16, description="tidal / post / wait")
    subject: str = Field(max_length=16, description="a window number or a service code")
    action: str = Field(max_length=16)
    code: str = Field(max_length=24)
    reason: str
    actor: str | None = Field(default=None, max_length=64, description="None: the policy decided")
    data: str = Field(default="{}", sa_column=Column(Text, nullable=False))

    __table_args__ = (Index("ix_decision_hall_at", "hall_id", "at_ms"),)


class AlarmRow(SQLModel, table=True):
    """An alarm: 空岗, wait alerts now; device alarms later. One open alarm per source and type."""

    __tablename__ = "alarm"
    id: str = Field(primary_key=True, max_length=32)
    hall_id: str = Field(max_length=32)
    source: str = Field(max_length=16, description="post / service / device")
    subject: str = Field(max_length=64, description="window number, service code or device id")
    type: str = Field(max_length=32)
    severity: str = Field(max_length=12)
    state: str = Field(max_length=12, description="active / acked / cleared / closed")
    raised_ms: int = Field(sa_type=BigInteger)
    cleared_ms: int | None = Field(default=None, sa_type=BigInteger)
    acked_by: str | None = Field(default=None, max_length=64)
    acked_ms: int | None = Field(default=None, sa_type=BigInteger)
    count: int = 1
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    # the lifecycle beyond raise/ack/clear (device alarms; any alarm may use it)
    last_ms: int | None = Field(default=None, sa_type=BigInteger, description="last raised or counted again")
    assignee: str | None = Field(default=None, max_length=64)
    shelved_until_ms: int | None = Field(default=None, sa_type=BigInteger)
    escalation: int = Field(default=0, sa_column_kwargs={"server_default": "0"},
                            description="how many times it was escalated unacknowledged")
    escalated_ms: int | None = Field(default=None, sa_type=BigInteger)
    flood_id: str | None = Field(default=None, max_length=32, description="the flood alarm it is grouped under")
    closed_ms: int | None = Field(default=None, sa_type=BigInteger)
    closed_by: str | None = Field(default=None, max_length=64, description="who resolved it; None: it cleared")

    __table_args__ = (
        Index(
            "ux_alarm_open", "hall_id", "source", "subject", "type", unique=True,
            sqlite_where=text("state != 'closed'"), postgresql_where=text("state != 'closed'"),
        ),
        Index("ix_alarm_hall_state", "hall_id", "state", "raised_ms"),
    )


class AuditRow(SQLModel, table=True):
    """Who did what (hall.audit): every staff action, and the refused ones (``outcome``)."""

    __tablename__ = "audit"
    id: int | None = Field(default=None, primary_key=True)
    hall_id: str = Field(max_length=32, description="the hall, or '*' for none (e.g. an unknown username)")
    at_ms: int = Field(sa_type=BigInteger)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=32)
    subject: str = Field(max_length=64)
    outcome: str = Field(default="ok", max_length=16, sa_column_kwargs={"server_default": "ok"},
                         description="ok, or refused (403/409, a failed sign-in: the code is in detail)")
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False))

    __table_args__ = (Index("ix_audit_hall_at", "hall_id", "at_ms"),)


class DeviceRow(SQLModel, table=True):
    """A device's twin: registry (config or API) and what it last reported.

    Connectivity changes are written when they happen; metrics are written now and then (not for
    every telemetry message), so a restart shows the last figures a moment old.
    """

    __tablename__ = "device"
    hall_id: str = Field(primary_key=True, max_length=32)
    device: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=16)
    location: str = ""
    window: str | None = Field(default=None, max_length=8)
    origin: str = Field(default="config", max_length=8, description="config / api")
    fw: str | None = Field(default=None, max_length=32)
    boot: int | None = Field(default=None, sa_type=BigInteger)
    online: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    conn_since_ms: int | None = Field(default=None, sa_type=BigInteger, description="connectivity changed at")
    last_seen_ms: int | None = Field(default=None, sa_type=BigInteger)
    metrics: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    skew_ms: int | None = Field(default=None, sa_type=BigInteger, description="device clock minus receipt time")
    created_ms: int = Field(default=0, sa_type=BigInteger)


class CommandRow(SQLModel, table=True):
    """A command to a device: stored before it is published, never resent automatically.

    States: ``pending`` (stored) → ``sent`` → ``accepted`` → ``done``; or ``failed`` /
    ``rejected`` (the device said so), ``timeout`` (no answer in time), ``expired`` (not sent
    before it expired), ``unknown`` (in flight when the server restarted).
    """

    __tablename__ = "command"
    id: str = Field(primary_key=True, max_length=36)
    hall_id: str = Field(max_length=32)
    device: str = Field(max_length=64)
    name: str = Field(max_length=16)
    args: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    state: str = Field(max_length=12)
    created_ms: int = Field(sa_type=BigInteger)
    expires_ms: int = Field(sa_type=BigInteger)
    sent_ms: int | None = Field(default=None, sa_type=BigInteger)
    acked_ms: int | None = Field(default=None, sa_type=BigInteger)
    done_ms: int | None = Field(default=None, sa_type=BigInteger)
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    actor: str | None = Field(default=None, max_length=64, description="None: the server itself (a pickup)")
    purpose: str | None = Field(default=None, max_length=48, description="e.g. deposit:<id> or pickup:<id>")

    __table_args__ = (
        Index("ix_command_hall_device", "hall_id", "device", "created_ms"),
        Index("ix_command_state", "state"),
    )


class LockerSlotRow(SQLModel, table=True):
    """A locker slot as the server believes it to be, reconciled with the locker's reports."""

    __tablename__ = "locker_slot"
    hall_id: str = Field(primary_key=True, max_length=32)
    device: str = Field(primary_key=True, max_length=64)
    slot: int = Field(primary_key=True)
    door: str = Field(default="closed", max_length=8, description="open / closed, as last reported")
    occupied: bool = Field(default=False, description="as last reported by the locker")
    deposit_id: str | None = Field(default=None, max_length=32, description="the deposit using it")
    updated_ms: int = Field(default=0, sa_type=BigInteger)


class DepositRow(SQLModel, table=True):
    """An item left in a locker for a visitor (亮码取件). The pickup code is stored only hashed.

    States: ``opening`` (door asked open for the deposit) → ``stored`` (door closed on it: the
    code is valid) → ``picking`` (door asked open for the visitor) → ``picked_up``; or
    ``failed`` (the door never opened or closed), ``expired``, ``missing`` (reconciliation found
    the slot empty).
    """

    __tablename__ = "deposit"
    id: str = Field(primary_key=True, max_length=32)
    hall_id: str = Field(max_length=32)
    device: str = Field(max_length=64)
    slot: int
    item: str = Field(max_length=128)
    state: str = Field(max_length=12)
    code_hash: str = Field(max_length=64)
    holder_hash: str | None = Field(default=None, max_length=64)
    created_ms: int = Field(sa_type=BigInteger)
    stored_ms: int | None = Field(default=None, sa_type=BigInteger)
    expires_ms: int = Field(sa_type=BigInteger)
    picked_ms: int | None = Field(default=None, sa_type=BigInteger)
    actor: str = Field(max_length=64)

    __table_args__ = (
        Index("ix_deposit_code", "hall_id", "code_hash"),
        Index("ix_deposit_slot", "hall_id", "device", "slot", "state"),
    )


class PickupLockRow(SQLModel, table=True):
    """Wrong pickup codes by source (a locker, a kiosk, a client): too many lock it out."""

    __tablename__ = "pickup_lock"
    hall_id: str = Field(primary_key=True, max_length=32)
    source: str = Field(primary_key=True, max_length=64)
    failures: int = 0
    first_ms: int = Field(default=0, sa_type=BigInteger)
    locked_until_ms: int | None = Field(default=None, sa_type=BigInteger)


class LoginGuardRow(SQLModel, table=True):
    """Failed staff sign-ins per account and per address (keyed by an HMAC, never the name or the
    address itself): shared by every server process, so N processes do not give N times the tries."""

    __tablename__ = "login_guard"
    key_hash: str = Field(primary_key=True, max_length=64)
    failures: int = 0
    first_ms: int = Field(default=0, sa_type=BigInteger)
    locked_until_ms: int | None = Field(default=None, sa_type=BigInteger)


class WaitingCountRow(SQLModel, table=True):
    """How many tickets wait, per hall and service: kept by triggers on ``ticket`` (migration
    0010), so every write that moves a ticket into or out of ``waiting`` counts, whatever code
    made it. Issuing reads it under the hall lock instead of counting the waiting tickets, which
    grew with the queue."""

    __tablename__ = "waiting_count"
    hall_id: str = Field(primary_key=True, max_length=32)
    service: str = Field(primary_key=True, max_length=8)
    n: int = 0


hall_t = HallRow.__table__
event_t = EventRow.__table__
counter_t = ServiceCounter.__table__
ticket_t = TicketRow.__table__
window_t = WindowRow.__table__
staff_t = StaffRow.__table__
session_t = SessionRow.__table__
idem_t = IdempotencyRow.__table__
appointment_t = AppointmentRow.__table__
post_t = PostRow.__table__
leave_t = LeaveRow.__table__
decision_t = DecisionRow.__table__
alarm_t = AlarmRow.__table__
audit_t = AuditRow.__table__
waiting_t = WaitingCountRow.__table__
device_t = DeviceRow.__table__
command_t = CommandRow.__table__
slot_t = LockerSlotRow.__table__
deposit_t = DepositRow.__table__
pickup_lock_t = PickupLockRow.__table__
login_guard_t = LoginGuardRow.__table__


class ShiftNoteRow(SQLModel, table=True):
    """A duty officer's handover note (交接班记录): staff text for the next shift, never visitors' data."""

    __tablename__ = "shift_note"
    id: int | None = Field(default=None, primary_key=True)
    hall_id: str = Field(max_length=32)
    at_ms: int = Field(sa_type=BigInteger)
    author: str = Field(max_length=64, description="the staff member's username")
    text: str = Field(sa_column=Column(Text, nullable=False))

    __table_args__ = (Index("ix_shift_note_hall_at", "hall_id", "at_ms"),)


shift_note_t = ShiftNoteRow.__table__


class FollowupRow(SQLModel, table=True):
    """差评回访: a 不满意 / 非常不满意 rating opens one; the manager records the call-back and the fix.

    States: ``open`` → ``called_back`` → ``fixed`` (closed). ``overdue`` notes that its alarm is up.
    """

    __tablename__ = "followup"
    id: str = Field(primary_key=True, max_length=32)
    hall_id: str = Field(max_length=32)
    ticket_id: str = Field(max_length=32)
    number: str = Field(max_length=12)
    service: str = Field(max_length=8)
    window: str | None = Field(default=None, max_length=8)
    clerk: str | None = Field(default=None, max_length=64, description="who served the visitor")
    rating: int
    state: str = Field(max_length=12)
    created_ms: int = Field(sa_type=BigInteger)
    callback_due_ms: int = Field(sa_type=BigInteger)
    fix_due_ms: int = Field(sa_type=BigInteger)
    called_back_ms: int | None = Field(default=None, sa_type=BigInteger)
    called_back_by: str | None = Field(default=None, max_length=64)
    callback_note: str | None = None
    fixed_ms: int | None = Field(default=None, sa_type=BigInteger)
    fixed_by: str | None = Field(default=None, max_length=64)
    fix_note: str | None = None
    overdue: bool = Field(default=False, sa_column_kwargs={"server_default": false()})

    __table_args__ = (
        Index("ux_followup_ticket", "hall_id", "ticket_id", unique=True),
        Index("ix_followup_hall_state", "hall_id", "state", "created_ms"),
    )


class FeedCursorRow(SQLModel, table=True):
    """The provincial feed's place in a hall's event log: the event log is the outbox, delivered in
    ``seq`` order at least once; this row says how far delivery has got and how it is going."""

    __tablename__ = "feed_cursor"
    hall_id: str = Field(primary_key=True, max_length=32)
    last_seq: int = Field(default=0, sa_type=BigInteger, description="every wanted event up to here is delivered")
    updated_ms: int = Field(default=0, sa_type=BigInteger)
    failures: int = 0
    next_try_ms: int | None = Field(default=None, sa_type=BigInteger)
    last_error: str | None = None


followup_t = FollowupRow.__table__
feed_cursor_t = FeedCursorRow.__table__


class NodeRow(SQLModel, table=True):
    """A running server process (#8): its address for requests that must reach a hall's owner, and
    when it last said it was alive. A node unseen for a lease's length is gone."""

    __tablename__ = "node"
    id: str = Field(primary_key=True, max_length=64)
    address: str = Field(default="", max_length=200, description="http://host:port other nodes forward to")
    started_ms: int = Field(sa_type=BigInteger)
    seen_ms: int = Field(sa_type=BigInteger)


class HallLeaseRow(SQLModel, table=True):
    """Which process owns a hall's single-writer work (its MQTT ingestion and device twins, the
    staffing controller, the alarm sweep, the day change, the provincial feed) until ``expires_ms``."""

    __tablename__ = "hall_lease"
    hall_id: str = Field(primary_key=True, max_length=32)
    owner: str = Field(max_length=64)
    expires_ms: int = Field(sa_type=BigInteger)
    taken_ms: int = Field(sa_type=BigInteger)
    epoch: int = Field(default=0, sa_type=BigInteger, description="+1 at each change of owner (fencing)")


node_t = NodeRow.__table__
hall_lease_t = HallLeaseRow.__table__
