"""A hypothesis state machine over the real alarm use cases on a real SQLite database.

Device signals (raise and clear for a few device keys), operators' actions (ack, assign, comment,
shelve, unshelve, resolve, as a duty officer, a facility user or a manager), the clock and the
sweep, in any order. Beside the database runs a small model written from DESIGN.md's words, not
from ``hall.alarm_lifecycle``: each alarm's state, count, assignee, shelf, escalations and flood
group, and the flood alarm's episode. After every step the database must agree with the model,
hold at most one open alarm per (source, subject, type), and have written exactly the audit rows
and events the model expects for that step (one audit row per action; one event per change; no
event for a mere count; grouped alarms announced through ``alarm.flood`` only).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import delete, func, select

from hall import alarms
from hall.bootstrap import Hall, build
from hall.clock import ManualClock
from hall.db.models import alarm_t, audit_t, event_t
from hall.errors import HallError
from hall.hallconfig import default_config_path, load_hall_config
from hall.runtime import Actor, ms
from hall.settings import get_settings
from tests.conftest import MONDAY_0930, add_staff

_BASE = load_hall_config(default_config_path())
FLOOD_COUNT, FLOOD_WINDOW_MIN = 3, 10
ESCALATE = {"critical": 1, "major": 5, "minor": 15}  # short, so escalations meet shelves and floods
CFG = _BASE.model_copy(update={
    "iot": _BASE.iot.model_copy(update={"flood_count": FLOOD_COUNT, "flood_window_min": FLOOD_WINDOW_MIN,
                                        "escalate_after_min": ESCALATE, "severity": {}}),
    "ankang": _BASE.ankang.model_copy(update={"mode": "off"}),
})
HALL = CFG.id
MIN = 60_000
FLOOD_KEY = ("hall", HALL, "alarm_flood")
KEYS = (("device", "kiosk-01", "paper_out", "major"), ("device", "kiosk-01", "jam", "critical"),
        ("device", "locker-01", "door_open", "critical"), ("device", "screen-01", "dark", "minor"),
        ("post", "3", "post_vacant", "major"))
SEVERITY = {k[:3]: k[3] for k in KEYS} | {FLOOD_KEY: "major"}
ACTORS = {"duty01": Actor("duty01", "duty_officer", HALL), "fac01": Actor("fac01", "facility", HALL),
          "manager01": Actor("manager01", "manager", HALL)}
HANDLERS = {"duty01", "fac01", "manager01", "admin01"}  # staff who may be assigned an alarm
OPEN = ("active", "acked", "cleared")
WHO = st.sampled_from(["duty01", "duty01", "manager01", "fac01"])


@dataclass
class MAlarm:
    id: str
    key: tuple[str, str, str]
    raised_ms: int
    state: str = "active"
    count: int = 1
    acked_by: str | None = None
    assignee: str | None = None
    shelved_until_ms: int | None = None
    escalation: int = 0
    escalated_ms: int | None = None
    flood_id: str | None = None
    closed_by: str | None = None
    comments: int = 0

    def shelved(self, now: int) -> bool:
        return self.shelved_until_ms is not None and self.shelved_until_ms > now


@dataclass
class Flood:
    announced: int = 0  # the flood alarm's count at its last alarm.flood
    announced_ms: int = 0


@dataclass
class Shared:
    hall: Hall | None = None
    clock: ManualClock | None = None
    stats: Counter = field(default_factory=Counter)


SHARED = Shared()
Err = tuple[int, str] | None


class AlarmMachine(RuleBasedStateMachine):
    """Each example starts on emptied alarm and audit tables of one shared hall (the clock only
    moves forward, so time never repeats between examples)."""

    @initialize()
    def start(self) -> None:
        assert SHARED.hall is not None and SHARED.clock is not None
        self.hall, self.clock = SHARED.hall, SHARED.clock
        self.db, self.h = self.hall.server.db, self.hall.server.halls[HALL]
        self.clock.advance(minutes=24 * 60)

        def wipe(tx: Any) -> None:
            tx.conn.execute(delete(alarm_t))
            tx.conn.execute(delete(audit_t))

        self.db.write_sync(wipe)
        self.alarms: dict[str, MAlarm] = {}
        self.raises: list[int] = []  # when new alarms (not the flood alarm) were raised
        self.flood = Flood()
        self.last_audit = 0
        self.last_seq = self.db.read_sync(lambda c: c.execute(
            select(func.coalesce(func.max(event_t.c.seq), 0)).where(event_t.c.hall_id == HALL)).scalar_one())
        self.expect_audit: list[tuple[str, str]] = []
        self.expect_events: list[tuple[str, str]] = []

    # -- helpers ------------------------------------------------------------------------------

    def now(self) -> int:
        return ms(self.clock.now())

    def open_by_key(self, key: tuple[str, str, str]) -> MAlarm | None:
        return next((a for a in self.alarms.values() if a.key == key and a.state in OPEN), None)

    def audit(self, action: str, a: MAlarm) -> None:
        self.expect_audit.append((action, a.id))

    def event(self, type_: str, a: MAlarm) -> None:
        self.expect_events.append((type_, a.id))

    def run(self, fn: Any, *args: Any) -> tuple[Any, HallError | None]:
        try:
            return self.db.write_sync(fn, self.h, self.h.now(), *args), None
        except HallError as e:
            return None, e

    def expect(self, err: HallError | None, want: Err, what: str) -> None:
        got = None if err is None else (err.status, err.code)
        assert got == want, f"{what}: expected {want}, got {got} ({err})"
        SHARED.stats["refused" if want else "done"] += 1
        if want:
            SHARED.stats[want[1]] += 1

    def pick(self, data: st.DataObject) -> str:
        # In creation order, so the same draws pick the same alarm on a replay; open alarms more often.
        ids = list(self.alarms)
        live = [i for i in ids if self.alarms[i].state in OPEN]
        return data.draw(st.sampled_from([*live, *live, *live, *ids]))

    def recent(self) -> int:
        now = self.now()
        return sum(1 for t in self.raises if now - FLOOD_WINDOW_MIN * MIN < t <= now)

    def flood_alarm(self) -> MAlarm | None:
        return self.open_by_key(FLOOD_KEY)

    def clear_model(self, a: MAlarm) -> None:
        if a.state == "active":
            a.state = "cleared"
        elif a.state == "acked":
            a.state, a.shelved_until_ms = "closed", None
        else:
            return
        self.audit("alarm.clear", a)
        self.event("alarm.cleared", a)

    def flood_announce(self, f: MAlarm, *, force: bool) -> bool:
        if not force and (f.count <= self.flood.announced or self.now() - self.flood.announced_ms < 5000):
            return False
        self.flood = Flood(f.count, self.now())
        self.event("alarm.flood", f)
        return True

    def flood_end(self, f: MAlarm) -> None:
        self.flood_announce(f, force=True)
        self.clear_model(f)
        SHARED.stats["flood_ended"] += 1

    # -- device signals -----------------------------------------------------------------------

    @rule(k=st.sampled_from(KEYS), n=st.integers(1, 3))
    def raise_alarm(self, k: tuple[str, str, str, str], n: int) -> None:
        key, severity = k[:3], k[3]
        for _ in range(n):
            alarm_id, err = self.run(alarms.raise_alarm, *key, severity, {"n": n})
            assert err is None
            prev = self.open_by_key(key)
            if prev is not None:
                assert alarm_id == prev.id
                prev.count += 1
                if prev.state == "cleared":
                    prev.state = "active"
                    self.audit("alarm.raise", prev)
                    if not prev.shelved(self.now()):
                        self.event("alarm.raised", prev)
                continue
            assert alarm_id not in self.alarms
            a = self.alarms[alarm_id] = MAlarm(alarm_id, key, self.now())
            self.raises.append(self.now())
            self.audit("alarm.raise", a)
            f = self.flood_alarm()
            flooding = f is not None and f.state in ("active", "acked")
            limit = FLOOD_COUNT // 2 if flooding else FLOOD_COUNT
            if self.recent() > limit:
                if f is None:
                    f = MAlarm("?", FLOOD_KEY, self.now(), count=0)
                    self.expect_audit.append(("alarm.raise", "?flood"))
                    self.flood = Flood()
                    SHARED.stats["floods"] += 1
                elif f.state == "cleared":
                    f.state = "active"
                    self.audit("alarm.raise", f)
                    if not f.shelved(self.now()):
                        self.event("alarm.raised", f)
                a.flood_id = f.id
                f.count += 1
                if f.id == "?":
                    self.expect_events.append(("alarm.raised", "?flood"))
                    self.pending_flood = f
                self.flood_announce(f, force=False)
                SHARED.stats["grouped"] += 1
            else:
                if flooding:
                    assert f is not None
                    self.flood_end(f)
                self.event("alarm.raised", a)
            self.adopt_new_flood()

    def adopt_new_flood(self) -> None:
        """A new flood alarm's id is known only once the database has it."""
        f = getattr(self, "pending_flood", None)
        if f is None:
            return
        del self.pending_flood
        real = self.db.read_sync(lambda c: c.execute(select(alarm_t.c.id).where(
            alarm_t.c.source == "hall", alarm_t.c.type == "alarm_flood", alarm_t.c.state != "closed")).scalar_one())
        f.id = real
        self.alarms[real] = f
        for a in self.alarms.values():
            if a.flood_id == "?":
                a.flood_id = real
        self.expect_audit = [(x, real if s == "?flood" else s) for x, s in self.expect_audit]
        self.expect_events = [(x, real if s in ("?", "?flood") else s) for x, s in self.expect_events]

    @rule(k=st.sampled_from(KEYS))
    def clear_alarm(self, k: tuple[str, str, str, str]) -> None:
        got, err = self.run(alarms.clear_alarm, *k[:3])
        assert err is None
        a = self.open_by_key(k[:3])
        if a is None or a.state == "cleared":
            assert got is None
            return
        assert got == a.id
        self.clear_model(a)

    # -- operators ----------------------------------------------------------------------------

    def handled(self, a: MAlarm | None, who: str) -> Err:
        if a is None:
            return (404, "unknown_alarm")
        if ACTORS[who].role == "facility" and a.assignee != who:
            return (403, "not_assigned")
        return None

    @precondition(lambda self: bool(self.alarms))
    @rule(data=st.data(), who=WHO)
    def ack(self, data: st.DataObject, who: str) -> None:
        alarm_id = self.pick(data)
        a = self.alarms.get(alarm_id)
        want = self.handled(a, who) or (None if a and a.state in ("active", "cleared") else (409, "alarm_state"))
        _, err = self.run(alarms.ack, ACTORS[who], alarm_id)
        self.expect(err, want, f"ack {a}")
        if want is None and a is not None:
            a.state, a.acked_by = ("acked" if a.state == "active" else "closed"), who
            if a.state == "closed":
                a.shelved_until_ms = None
            self.audit("alarm.ack", a)
            self.event("alarm.acked", a)

    @precondition(lambda self: bool(self.alarms))
    @rule(data=st.data(), who=WHO,
          to=st.sampled_from(["duty01", "fac01", "fac01", "manager01", "clerk01", "ghost"]))
    def assign(self, data: st.DataObject, who: str, to: str) -> None:
        alarm_id = self.pick(data)
        a = self.alarms.get(alarm_id)
        want: Err
        if a is None:
            want = (404, "unknown_alarm")
        elif a.state not in OPEN:
            want = (409, "alarm_state")
        elif ACTORS[who].role == "facility" and to != who:
            want = (403, "not_assigned")
        elif to not in HANDLERS:
            want = (400, "unknown_assignee")
        else:
            want = None
        _, err = self.run(alarms.assign, ACTORS[who], alarm_id, to)
        self.expect(err, want, f"assign {a} to {to} by {who}")
        if want is None and a is not None:
            a.assignee = to
            self.audit("alarm.assign", a)
            self.event("alarm.assigned", a)

    @precondition(lambda self: bool(self.alarms))
    @rule(data=st.data(), who=WHO, text=st.sampled_from(["已派人处理", "已派人处理", "  "]))
    def comment(self, data: st.DataObject, who: str, text: str) -> None:
        alarm_id = self.pick(data)
        a = self.alarms.get(alarm_id)
        want = self.handled(a, who) or (None if text.strip() else (400, "comment_required"))
        _, err = self.run(alarms.comment, ACTORS[who], alarm_id, text)
        self.expect(err, want, f"comment {a}")
        if want is None and a is not None:
            a.comments += 1
            self.audit("alarm.comment", a)
            self.event("alarm.commented", a)

    @precondition(lambda self: bool(self.alarms))
    @rule(data=st.data(), minutes=st.sampled_from([0, 1, 5, 30, 30]),
          reason=st.sampled_from(["厂家维修", "厂家维修", ""]))
    def shelve(self, data: st.DataObject, minutes: int, reason: str) -> None:
        alarm_id = self.pick(data)
        a = self.alarms.get(alarm_id)
        want: Err
        if a is None:
            want = (404, "unknown_alarm")
        elif a.state not in OPEN:
            want = (409, "alarm_state")
        elif minutes < 1:
            want = (400, "bad_minutes")
        elif not reason:
            want = (400, "reason_required")
        else:
            want = None
        _, err = self.run(alarms.shelve, ACTORS["duty01"], alarm_id, minutes, reason)
        self.expect(err, want, f"shelve {a}")
        if want is None and a is not None:
            a.shelved_until_ms = self.now() + minutes * MIN
            self.audit("alarm.shelve", a)
            self.event("alarm.shelved", a)

    @precondition(lambda self: bool(self.alarms))
    @rule(data=st.data())
    def unshelve(self, data: st.DataObject) -> None:
        alarm_id = self.pick(data)
        a = self.alarms.get(alarm_id)
        want: Err = ((404, "unknown_alarm") if a is None else
                     None if a.state in OPEN and a.shelved_until_ms is not None else (409, "alarm_state"))
        _, err = self.run(alarms.unshelve, ACTORS["manager01"], alarm_id)
        self.expect(err, want, f"unshelve {a}")
        if want is None and a is not None:
            a.shelved_until_ms = None
            self.audit("alarm.unshelve", a)
            self.event("alarm.unshelved", a)

    @precondition(lambda self: bool(self.alarms))
    @rule(data=st.data(), who=WHO)
    def resolve(self, data: st.DataObject, who: str) -> None:
        alarm_id = self.pick(data)
        a = self.alarms.get(alarm_id)
        want = self.handled(a, who) or (None if a and a.state in OPEN else (409, "alarm_state"))
        _, err = self.run(alarms.resolve, ACTORS[who], alarm_id, "处理完毕")
        self.expect(err, want, f"resolve {a}")
        if want is None and a is not None:
            a.state, a.closed_by, a.shelved_until_ms = "closed", who, None
            self.audit("alarm.resolve", a)
            self.event("alarm.resolved", a)
            SHARED.stats["resolved"] += 1

    @precondition(lambda self: bool(self.alarms))
    @rule(action=st.sampled_from(["ack", "assign", "comment", "shelve", "unshelve", "resolve"]))
    def unknown_alarm(self, action: str) -> None:
        args = {"assign": ("fac01",), "comment": ("看看",), "shelve": (5, "原因"), "resolve": (None,)}.get(action, ())
        _, err = self.run(getattr(alarms, action), ACTORS["duty01"], "no-such-alarm", *args)
        self.expect(err, (404, "unknown_alarm"), action)

    # -- time ---------------------------------------------------------------------------------

    @rule(seconds=st.sampled_from([1, 3, 6, 60, 4 * 60, 5 * 60, 11 * 60, 16 * 60]), then_sweep=st.booleans())
    def advance(self, seconds: int, then_sweep: bool) -> None:
        self.clock.advance(seconds)
        if then_sweep:  # as the server's housekeeping does every few seconds
            self.sweep()

    @rule()
    def sweep(self) -> None:
        done = self.hall.server.alarm_sweep(HALL)
        now = self.now()
        floods_open = {a.id for a in self.alarms.values() if a.key == FLOOD_KEY and a.state in OPEN}
        expected: list[tuple[str, str]] = []
        for a in sorted((a for a in self.alarms.values() if a.state in OPEN), key=lambda a: (a.raised_ms, a.id)):
            if a.shelved_until_ms is not None and a.shelved_until_ms <= now:
                a.shelved_until_ms = None
                self.audit("alarm.unshelve", a)
                self.event("alarm.unshelved", a)
                expected.append(("unshelved", a.id))
            limit = ESCALATE.get(SEVERITY[a.key])
            if a.state == "active" and a.shelved(now):
                SHARED.stats["swept_shelved_active"] += 1
            if (a.state == "active" and limit and not a.shelved(now) and a.flood_id not in floods_open
                    and now - max(a.raised_ms, a.escalated_ms or 0) >= limit * MIN):
                a.escalation += 1
                a.escalated_ms = now
                self.audit("alarm.escalate", a)
                self.event("alarm.escalated", a)
                expected.append(("escalated", a.id))
                SHARED.stats["escalated"] += 1
        f = self.flood_alarm()
        if f is not None and f.state in ("active", "acked"):
            if self.recent() <= FLOOD_COUNT // 2:
                self.flood_end(f)
                expected.append(("flood_ended", f.id))
            elif self.flood_announce(f, force=False):
                expected.append(("flood", f.id))
        assert sorted((d["action"], d["alarm"]) for d in done) == sorted(expected)

    # -- checks -------------------------------------------------------------------------------

    @invariant()
    def database_agrees_with_the_model(self) -> None:
        if not hasattr(self, "alarms"):
            return
        rows, audit, events = self.db.read_sync(self.read)
        keys = Counter((r.source, r.subject, r.type) for r in rows if r.state != "closed")
        assert all(n == 1 for n in keys.values()), f"more than one open alarm: {keys}"
        assert {r.id for r in rows} == set(self.alarms)
        for r in rows:
            m = self.alarms[r.id]
            assert r.state in ("active", "acked", "cleared", "closed")
            got = (r.state, r.count, r.acked_by, r.assignee, r.shelved_until_ms, r.escalation, r.escalated_ms,
                   r.flood_id, r.closed_by)
            want = (m.state, m.count, m.acked_by, m.assignee, m.shelved_until_ms, m.escalation, m.escalated_ms,
                    m.flood_id, m.closed_by)
            assert got == want, f"{r.source}/{r.subject}/{r.type}: database {got}, model {want}"
            assert (r.closed_ms is not None) == (r.state == "closed")
            if r.source == "hall":
                detail = msgspec.json.decode(r.detail)
                assert sum(detail["counts"].values()) == r.count
                assert r.count == sum(1 for a in self.alarms.values() if a.flood_id == r.id)
        assert Counter((a.action, a.subject) for a in audit) == Counter(self.expect_audit), (
            f"audit: {[(a.action, a.subject) for a in audit]} != {self.expect_audit}")
        got_events = [(e["type"], e["data"]["id"]) for e in events]
        assert Counter(got_events) == Counter(self.expect_events), f"events: {got_events} != {self.expect_events}"
        for e in events:  # every event carries the alarm as it is now, and who did it
            assert e["data"]["by"] in ("system", *ACTORS), e
        if audit:
            self.last_audit = audit[-1].id
        if events:
            self.last_seq = events[-1]["seq"]
        SHARED.stats["audit"] += len(audit)
        SHARED.stats["events"] += len(events)
        self.expect_audit, self.expect_events = [], []

    def read(self, conn: Any) -> tuple[list[Any], list[Any], list[dict[str, Any]]]:
        rows = conn.execute(select(alarm_t).where(alarm_t.c.hall_id == HALL)).all()
        audit = conn.execute(select(audit_t).where(audit_t.c.hall_id == HALL, audit_t.c.id > self.last_audit)
                             .order_by(audit_t.c.id)).all()
        events = [msgspec.json.decode(e) for (e,) in conn.execute(
            select(event_t.c.envelope).where(event_t.c.hall_id == HALL, event_t.c.seq > self.last_seq)
            .order_by(event_t.c.seq))]
        assert all(e["type"].startswith("alarm.") for e in events)
        return rows, audit, events


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Shared:
    clock = ManualClock(MONDAY_0930)
    hall = build(halls=[CFG], settings=get_settings({"HALL_DATA_DIR": str(tmp_path_factory.mktemp("alarm-m")),
                                                     "HALL_SECRET": "test-secret"}), clock=clock)
    hall.server.auto_staffing = False
    add_staff(hall)
    SHARED.hall, SHARED.clock = hall, clock
    SHARED.stats.clear()
    yield SHARED
    hall.close()


def test_alarm_state_machine(shared: Shared) -> None:
    run_state_machine_as_test(AlarmMachine, settings=settings(
        max_examples=int(os.environ.get("ALARM_MACHINE_EXAMPLES", 100)), stateful_step_count=50, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    ))
    print(dict(sorted(shared.stats.items())))
    # the run reached the interesting parts of the lifecycle
    for what in ("floods", "grouped", "escalated", "resolved", "refused"):
        assert shared.stats[what] > 0, f"never {what}: {dict(shared.stats)}"

