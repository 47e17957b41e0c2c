"""亮码取件: pickup lockers. Staff deposit an item, the visitor opens its door with a code.

Deposit: a free slot is chosen, its door is commanded open, and the door closing on the item
confirms the deposit; the code (shown once, stored only as a salted hash) is valid from then
until it expires. Pickup: the code is checked (too many wrong codes from one place lock that
place out for a while and raise an alarm), the door is commanded open, and the locker's
``door_opened`` event confirms it; without that in ``door_confirm_s`` the door is jammed: an
alarm, and the code stays valid. After a restart, the first report of each locker is
reconciled with what the server believed (``reconcile``).

The decisions (which slot, whether a source is locked out, how a report and a belief differ)
are pure functions; the use cases run in one transaction each.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from hall import alarms, audit
from hall.db.database import Tx
from hall.db.models import deposit_t, pickup_lock_t, slot_t
from hall.errors import Conflict, HallError, NotFound, TooManyRequests
from hall.iot import rules
from hall.privacy import keyed_hash
from hall.ratelimit import LockState, after_failure, locked
from hall.runtime import HallRuntime, ms

ACTIVE = ("opening", "stored", "picking")


class LockedOut(TooManyRequests):
    code = "locked_out"


class DoorJammed(HallError):
    status = 503
    code = "door_jammed"


# -- pure decisions ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SlotInfo:
    slot: int
    door: str
    occupied: bool
    deposit_id: str | None


def choose_slot(slots: list[SlotInfo]) -> int | None:
    """The lowest free slot: no deposit on it, door closed, nothing inside as last reported."""
    free = [s.slot for s in slots if s.deposit_id is None and s.door == "closed" and not s.occupied]
    return min(free) if free else None


def code_hash(secret: bytes, hall: str, code: str) -> str:
    return keyed_hash(secret, "pickup", hall, code)


def new_code(digits: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(digits))


@dataclass(frozen=True, slots=True)
class Fix:
    slot: int
    deposit_id: str | None
    action: str  # stored, failed, picked_up, back_to_stored, missing, unexpected_item
    text: str


def reconcile_slots(reported: dict[int, bool], beliefs: dict[int, tuple[str, str]]) -> list[Fix]:
    """Compare a locker's report (slot -> occupied) with the deposits the server holds
    (slot -> (deposit id, state)); what to change so both agree."""
    fixes: list[Fix] = []
    for slot, occupied in sorted(reported.items()):
        dep = beliefs.get(slot)
        if dep is None:
            if occupied:
                fixes.append(Fix(slot, None, "unexpected_item", f"{slot}号格口有物品但无存件记录"))
            continue
        dep_id, state = dep
        if state == "opening":
            fixes.append(Fix(slot, dep_id, "stored" if occupied else "failed",
                             f"{slot}号格口存件{'已完成' if occupied else '未完成'}（重启后核对）"))
        elif state == "picking":
            fixes.append(Fix(slot, dep_id, "back_to_stored" if occupied else "picked_up",
                             f"{slot}号格口{'仍有物品' if occupied else '已取走'}（重启后核对）"))
        elif state == "stored" and not occupied:
            fixes.append(Fix(slot, dep_id, "missing", f"{slot}号格口应有物品但为空"))
    return fixes


# -- use cases -------------------------------------------------------------------------------------
def ensure_slots(tx: Tx, h: HallRuntime, now_ms: int) -> None:
    have = {(r.device, r.slot) for r in tx.conn.execute(select(slot_t.c.device, slot_t.c.slot)
                                                         .where(slot_t.c.hall_id == h.id))}
    for d in h.cfg.devices:
        if d.kind == "locker":
            for slot in range(1, d.slots + 1):
                if (d.id, slot) not in have:
                    tx.conn.execute(insert(slot_t).values(hall_id=h.id, device=d.id, slot=slot, door="closed",
                                                          occupied=False, updated_ms=now_ms))


def _slots(conn: Connection, hall: str, device: str) -> list[Any]:
    return list(conn.execute(select(slot_t).where(slot_t.c.hall_id == hall, slot_t.c.device == device)
                             .order_by(slot_t.c.slot)))


def deposit_view(h: HallRuntime, r: Any) -> dict[str, Any]:
    return {"id": r.id, "device": r.device, "slot": r.slot, "item": r.item, "state": r.state,
            "created_at": h.iso(r.created_ms), "stored_at": h.iso(r.stored_ms), "expires_at": h.iso(r.expires_ms),
            "picked_at": h.iso(r.picked_ms), "by": r.actor}


def start_deposit(tx: Tx, h: HallRuntime, now: datetime, device: str, item: str, actor: str,
                  holder_hash: str | None) -> dict[str, Any]:
    """Reserve a free slot and make the code; the caller then commands the door open."""
    tx.lock_hall(h.id)
    rows = _slots(tx.conn, h.id, device)
    if not rows:
        raise NotFound(f"没有智能柜「{device}」", f"unknown locker {device!r}", code="unknown_locker")
    slot = choose_slot([SlotInfo(r.slot, r.door, r.occupied, r.deposit_id) for r in rows])
    if slot is None:
        raise Conflict("智能柜已满，没有空闲格口", "the locker has no free slot", code="locker_full")
    cfg = h.cfg.iot.locker
    for _ in range(20):  # a code must be unique among the hall's active deposits
        code = new_code(cfg.code_digits)
        digest = code_hash(h.secret, h.id, code)
        clash = tx.conn.execute(select(deposit_t.c.id).where(
            deposit_t.c.hall_id == h.id, deposit_t.c.code_hash == digest, deposit_t.c.state.in_(ACTIVE))).first()
        if clash is None:
            break
    else:  # pragma: no cover - 10^8 codes
        raise Conflict("取件码生成失败，请重试", "could not make a unique code; retry", code="code_clash")
    dep_id = secrets.token_hex(8)
    now_ms = ms(now)
    tx.conn.execute(insert(deposit_t).values(
        id=dep_id, hall_id=h.id, device=device, slot=slot, item=item, state="opening", code_hash=digest,
        holder_hash=holder_hash, created_ms=now_ms, expires_ms=now_ms + cfg.code_ttl_h * 3_600_000, actor=actor))
    tx.conn.execute(update(slot_t).where(slot_t.c.hall_id == h.id, slot_t.c.device == device, slot_t.c.slot == slot)
                    .values(deposit_id=dep_id, updated_ms=now_ms))
    tx.emit(h.id, "locker.deposit_opening", now, {"device": device, "slot": slot, "deposit": dep_id, "by": actor})
    audit.record(tx, h.id, now, actor, "locker.deposit", device, deposit=dep_id, slot=slot)
    return {"deposit": dep_id, "slot": slot, "pickup_code": code, "state": "opening",
            "expires_at": h.iso(now_ms + cfg.code_ttl_h * 3_600_000)}


def _lock_state(conn: Connection, hall: str, source: str) -> LockState | None:
    r = conn.execute(select(pickup_lock_t).where(pickup_lock_t.c.hall_id == hall,
                                                 pickup_lock_t.c.source == source)).first()
    return LockState(r.failures, r.first_ms, r.locked_until_ms) if r else None


def start_pickup(tx: Tx, h: HallRuntime, now: datetime, code: str, source: str) -> dict[str, Any]:
    """Check a code from ``source``: the deposit it opens (now ``picking``), or an error. A wrong
    code is counted for the source, and the failure is committed (it raises only afterwards)."""
    tx.lock_hall(h.id)
    now_ms = ms(now)
    cfg = h.cfg.iot.locker
    st = _lock_state(tx.conn, h.id, source)
    left = locked(st, now_ms)
    if left is not None:
        return {"error": "locked_out", "retry_after_s": left}
    digest = code_hash(h.secret, h.id, code.strip())
    r = tx.conn.execute(select(deposit_t).where(
        deposit_t.c.hall_id == h.id, deposit_t.c.code_hash == digest, deposit_t.c.state == "stored")).first()
    if r is None or r.expires_ms <= now_ms:
        new = after_failure(st, now_ms, cfg.max_wrong_codes, cfg.wrong_window_min * 60_000,
                            cfg.lockout_min * 60_000)
        values = {"failures": new.failures, "first_ms": new.first_ms, "locked_until_ms": new.locked_until_ms}
        if st is None:
            tx.conn.execute(insert(pickup_lock_t).values(hall_id=h.id, source=source, **values))
        else:
            tx.conn.execute(update(pickup_lock_t).where(pickup_lock_t.c.hall_id == h.id,
                                                        pickup_lock_t.c.source == source).values(**values))
        if new.locked_until_ms is not None:
            subject = source.split(":", 1)[1] if source.startswith("device:") else "pickup"
            alarms.raise_alarm(tx, h, now, "device", subject, "pickup_guessing", "critical",
                               {"failures": new.failures, "lockout_min": cfg.lockout_min,
                                "text": f"取件码连续输错{new.failures}次，已锁定{cfg.lockout_min}分钟"})
            tx.emit(h.id, "locker.locked_out", now, {"source": source.split(":", 1)[0], "device": subject,
                                                     "failures": new.failures, "minutes": cfg.lockout_min})
            return {"error": "locked_out", "retry_after_s": cfg.lockout_min * 60}
        return {"error": "bad_code", "tries_left": cfg.max_wrong_codes - new.failures}
    if st is not None and st.failures:
        tx.conn.execute(update(pickup_lock_t).where(pickup_lock_t.c.hall_id == h.id, pickup_lock_t.c.source == source)
                        .values(failures=0, locked_until_ms=None))
    tx.conn.execute(update(deposit_t).where(deposit_t.c.id == r.id).values(state="picking"))
    tx.emit(h.id, "locker.pickup_opening", now, {"device": r.device, "slot": r.slot, "deposit": r.id})
    return {"deposit": r.id, "device": r.device, "slot": r.slot}


def pickup_failed(tx: Tx, h: HallRuntime, now: datetime, dep_id: str, reason: str) -> None:
    """The door did not open for the visitor: the code stays valid for another try."""
    tx.lock_hall(h.id)
    done = tx.conn.execute(update(deposit_t).where(deposit_t.c.id == dep_id, deposit_t.c.state == "picking")
                           .values(state="stored")).rowcount
    if done:
        tx.emit(h.id, "locker.pickup_failed", now, {"deposit": dep_id, "reason": reason})


def deposit_failed(tx: Tx, h: HallRuntime, now: datetime, dep_id: str, reason: str) -> None:
    tx.lock_hall(h.id)
    r = tx.conn.execute(select(deposit_t).where(deposit_t.c.id == dep_id)).first()
    if r is None or r.state != "opening":
        return
    tx.conn.execute(update(deposit_t).where(deposit_t.c.id == dep_id).values(state="failed"))
    _free(tx, h, r.device, r.slot, ms(now))
    tx.emit(h.id, "locker.deposit_failed", now, {"device": r.device, "slot": r.slot, "deposit": dep_id,
                                                 "reason": reason})


def _free(tx: Tx, h: HallRuntime, device: str, slot: int, now_ms: int) -> None:
    tx.conn.execute(update(slot_t).where(slot_t.c.hall_id == h.id, slot_t.c.device == device, slot_t.c.slot == slot)
                    .values(deposit_id=None, updated_ms=now_ms))


def on_door(tx: Tx, h: HallRuntime, now: datetime, device: str, type_: str, slot: int,
            occupied: bool | None) -> dict[str, Any] | None:
    """A locker's door event moves the deposit on that slot; returns what happened, if anything."""
    tx.lock_hall(h.id)
    now_ms = ms(now)
    door = "open" if type_ == "door_opened" else "closed"
    values: dict[str, Any] = {"door": door, "updated_ms": now_ms}
    if occupied is not None:
        values["occupied"] = occupied
    tx.conn.execute(update(slot_t).where(slot_t.c.hall_id == h.id, slot_t.c.device == device, slot_t.c.slot == slot)
                    .values(**values))
    s = tx.conn.execute(select(slot_t).where(slot_t.c.hall_id == h.id, slot_t.c.device == device,
                                             slot_t.c.slot == slot)).first()
    tx.emit(h.id, "locker.door", now, {"device": device, "slot": slot, "door": door, "occupied": occupied})
    if s is None or s.deposit_id is None:
        return None
    d = tx.conn.execute(select(deposit_t).where(deposit_t.c.id == s.deposit_id)).first()
    if d is None:
        return None
    if type_ == "door_opened" and d.state == "picking":
        tx.conn.execute(update(deposit_t).where(deposit_t.c.id == d.id).values(state="picked_up", picked_ms=now_ms))
        tx.emit(h.id, "locker.picked_up", now, {"device": device, "slot": slot, "deposit": d.id})
        return {"deposit": d.id, "state": "picked_up"}
    if type_ == "door_closed" and d.state == "opening":
        if occupied is False:
            deposit_failed(tx, h, now, d.id, "empty")
            return {"deposit": d.id, "state": "failed"}
        tx.conn.execute(update(deposit_t).where(deposit_t.c.id == d.id).values(state="stored", stored_ms=now_ms))
        tx.emit(h.id, "locker.deposited", now, {"device": device, "slot": slot, "deposit": d.id})
        return {"deposit": d.id, "state": "stored"}
    if type_ == "door_closed" and d.state == "picked_up" and not occupied:
        _free(tx, h, device, slot, now_ms)
    return None


def reconcile(tx: Tx, h: HallRuntime, now: datetime, device: str, reported: dict[int, bool]) -> list[dict[str, Any]]:
    """Bring the server's beliefs in line with a locker's report (after a restart)."""
    tx.lock_hall(h.id)
    now_ms = ms(now)
    beliefs = {}
    for r in tx.conn.execute(select(deposit_t).where(deposit_t.c.hall_id == h.id, deposit_t.c.device == device,
                                                     deposit_t.c.state.in_(ACTIVE))):
        beliefs[r.slot] = (r.id, r.state)
    out = []
    for f in reconcile_slots(reported, beliefs):
        state = {"stored": "stored", "failed": "failed", "picked_up": "picked_up", "back_to_stored": "stored",
                 "missing": "missing"}.get(f.action)
        if f.deposit_id and state:
            extra = {"stored_ms": now_ms} if state == "stored" else {"picked_ms": now_ms} if state == "picked_up" else {}
            tx.conn.execute(update(deposit_t).where(deposit_t.c.id == f.deposit_id).values(state=state, **extra))
            if state in ("failed", "missing", "picked_up"):
                _free(tx, h, device, f.slot, now_ms)
        if f.action in ("missing", "unexpected_item"):
            alarms.raise_alarm(tx, h, now, "device", device, "slot_mismatch", "major",
                               {"slot": f.slot, "text": f"{device} {f.text}"})
        data = {"device": device, "slot": f.slot, "deposit": f.deposit_id, "action": f.action, "text": f.text}
        tx.emit(h.id, "locker.reconciled", now, data)
        out.append(data)
    for slot, occupied in reported.items():
        tx.conn.execute(update(slot_t).where(slot_t.c.hall_id == h.id, slot_t.c.device == device,
                                             slot_t.c.slot == slot).values(occupied=occupied, updated_ms=now_ms))
    return out


def raise_jam(tx: Tx, h: HallRuntime, now: datetime, device: str, slot: int) -> None:
    alarms.raise_alarm(tx, h, now, "device", device, "door_jam", rules.severity("door_jam", h.cfg.iot),
                       {"slot": slot, "text": f"{device} {slot}号格口柜门未能打开"})


def clear_jam(tx: Tx, h: HallRuntime, now: datetime, device: str) -> None:
    alarms.clear_alarm(tx, h, now, "device", device, "door_jam")


def locker_view(conn: Connection, h: HallRuntime, device: str) -> dict[str, Any]:
    slots = _slots(conn, h.id, device)
    if not slots:
        raise NotFound(f"没有智能柜「{device}」", f"unknown locker {device!r}", code="unknown_locker")
    deps = {r.id: r for r in conn.execute(select(deposit_t).where(
        deposit_t.c.hall_id == h.id, deposit_t.c.device == device, deposit_t.c.state.in_(ACTIVE + ("picked_up",))))}
    out = []
    for s in slots:
        d = deps.get(s.deposit_id) if s.deposit_id else None
        out.append({"slot": s.slot, "door": s.door, "occupied": s.occupied,
                    "deposit": deposit_view(h, d) if d is not None else None})
    return {"device": device, "slots": out, "free": sum(1 for s in slots if s.deposit_id is None and not s.occupied)}
