"""Every staff action is in the audit log (#8, "hostile input").

The first test cannot go stale: it reads the app's own OpenAPI document, takes every operation that
changes state (POST/PUT/PATCH/DELETE), and for each one that needs a signed-in staff member does it
once with valid input (``EXAMPLES`` below, in an order that makes each step valid) and checks the one
audit row it wrote: the actor and the action, outcome ``ok``. An operation added to the app without an
entry in ``EXAMPLES`` (or in ``PUBLIC``) fails the test: add it there. It runs against a real broker
with a simulated locker, so commands and deposits are the real thing.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from hall import alarms
from hall.clock import ManualClock
from hall.db.models import audit_t
from tests.brokers import Broker
from tests.conftest import PASSWORD, login
from tests.helpers import API, anonymous, assert_error, take, window_state
from tests.iot import build_hall, devices, running, twin, wait_until

CHANGES = ("post", "put", "patch", "delete")
# State-changing operations that need no staff member: kiosks, rating pads, visitors' pickup codes,
# and the sign-in itself (audited too: test_sign_in_is_audited_success_and_failure_never_the_password).
PUBLIC = {"IssueTicket", "RateTicket", "Pickup", "Login"}


@dataclass
class Ctx:
    """What the steps share: the client, the hall, the answers so far (by operation id)."""

    client: Any
    hall: Any
    answers: dict[str, Any] = field(default_factory=dict)
    _headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def as_(self, user: str) -> dict[str, str]:
        if user not in self._headers:
            self._headers[user] = login(self.client, user)
        return self._headers[user]


Value = Any  # a value, or a function of the Ctx giving it


@dataclass
class Example:
    user: str
    action: str  # the audit action expected
    params: Value = field(default_factory=dict)  # path parameters other than {hall}
    body: Value = None  # JSON body (or bytes, sent as text/csv)
    status: int = 200
    prepare: Callable[[Ctx], None] | None = None


def _v(value: Value, ctx: Ctx) -> Any:
    return value(ctx) if callable(value) else value


def _three_tickets(ctx: Ctx) -> None:
    for _ in range(3):
        take(ctx.client, "SB")


def _serving(ctx: Ctx) -> None:
    for step in ("call-next", "start"):
        r = ctx.client.post(f"{API}/windows/1/{step}", headers=ctx.as_("clerk01"))
        assert r.status_code == 200, r.text


def _raise_alarm(ctx: Ctx) -> None:
    h = ctx.hall.server.hall("hn-tja")
    ctx.answers["alarm"] = ctx.hall.server.db.write_sync(
        alarms.raise_alarm, h, h.now(), "device", "kiosk-01", "paper_out", "major", {"text": "kiosk-01 paper_out"})


def _open_followup(ctx: Ctx) -> str:
    r = ctx.client.get(f"{API}/followups", params={"state": "pending"}, headers=ctx.as_("manager01"))
    assert r.status_code == 200 and r.json(), r.text  # the rating 1 at FinishService opened it
    return r.json()[0]["id"]


def _called(ctx: Ctx) -> str:
    return ctx.answers["CallNext"]["ticket"]["id"]


def _post_of(window: str) -> Callable[[Ctx], dict[str, Any]]:
    def body(ctx: Ctx) -> dict[str, Any]:
        post = window_state(ctx.client, window)["post"]
        return {"a": post["a"], "b": post["b"]}
    return body


CSV = b"service,slot_start,slot_end,name,id_number\nSB,2026-11-23T11:00,2026-11-23T11:30,,\n"

# operation id -> one valid request, in the order they run (each may rely on the ones before)
EXAMPLES: dict[str, Example] = {
    "SignIn": Example("clerk01", "window.sign_in", {"window": "1"}, prepare=_three_tickets),
    "PauseWindow": Example("clerk01", "window.pause", {"window": "1"}, {"reason": "整理材料"}),
    "ResumeWindow": Example("clerk01", "window.resume", {"window": "1"}),
    "CallNext": Example("clerk01", "window.call_next", {"window": "1"}),
    "Recall": Example("clerk01", "window.recall", {"window": "1"}),
    "NoShow": Example("clerk01", "window.no_show", {"window": "1"}),
    "RequeueTicket": Example("clerk01", "ticket.requeue", lambda c: {"ticket_id": _called(c)}),
    "CallTicket": Example("clerk01", "window.call", {"window": "1"}, lambda c: {"ticket_id": _called(c)}),
    "StartService": Example("clerk01", "window.start", {"window": "1"}),
    "FinishService": Example("clerk01", "window.finish", {"window": "1"}, {"rating": 1}),
    "Transfer": Example("clerk01", "window.transfer", {"window": "1"}, {"service": "YB"}, prepare=_serving),
    "StepAway": Example("clerk01", "window.step_away", {"window": "1"}, {"reason": "培训"}),
    "CoverWindow": Example("clerk12", "window.cover", {"window": "1"}),
    "SignOut": Example("clerk12", "window.sign_out", {"window": "1"}),
    "RegisterLeave": Example("manager01", "leave.register", {},
                             {"clerk": "clerk03", "start": "2026-11-24T09:00", "end": "2026-11-24T12:00"}, 201),
    "CancelLeave": Example("manager01", "leave.cancel", lambda c: {"leave_id": c.answers["RegisterLeave"]["id"]}),
    "SetPost": Example("manager01", "post.change", {"window": "2"}, _post_of("2")),
    "HoldTidal": Example("manager01", "tidal.open", {"window": "7"}, {"action": "open", "services": ["HJ"]}),
    "AckAlarm": Example("duty01", "alarm.ack", lambda c: {"alarm_id": c.answers["alarm"]}, prepare=_raise_alarm),
    "AssignAlarm": Example("duty01", "alarm.assign", lambda c: {"alarm_id": c.answers["alarm"]}, {"assignee": "fac01"}),
    "CommentAlarm": Example("fac01", "alarm.comment", lambda c: {"alarm_id": c.answers["alarm"]}, {"text": "已到场"}),
    "ShelveAlarm": Example("duty01", "alarm.shelve", lambda c: {"alarm_id": c.answers["alarm"]},
                           {"minutes": 30, "reason": "等配件"}),
    "UnshelveAlarm": Example("duty01", "alarm.unshelve", lambda c: {"alarm_id": c.answers["alarm"]}),
    "ResolveAlarm": Example("fac01", "alarm.resolve", lambda c: {"alarm_id": c.answers["alarm"]}, {"note": "已加纸"}),
    "FollowupCallback": Example("manager01", "followup.callback", lambda c: {"followup_id": _open_followup(c)},
                                {"note": "已回访"}),
    "FollowupFix": Example("manager01", "followup.fix", lambda c: {"followup_id": _open_followup(c)},
                           {"note": "已整改"}),
    "AddShiftNote": Example("duty01", "shift.note", {}, {"text": "夜班交接：一切正常"}, 201),
    "CreateAppointment": Example("clerk01", "appointment.create", {},
                                 {"service": "SB", "slot_start": "2026-11-23T10:00", "slot_end": "2026-11-23T10:30"},
                                 201),
    "ImportAppointments": Example("manager01", "appointment.import", {}, CSV),
    "RegisterDevice": Example("manager01", "device.register", {}, {"device": "kiosk-09", "kind": "kiosk"}, 201),
    "SendCommand": Example("duty01", "device.command", {"device": "printer-01"}, {"name": "reboot"}, 202),
    "Deposit": Example("clerk01", "locker.deposit", {"device": "locker-01"}, {"item": "营业执照"}, 201),
}


def operations(client: Any) -> dict[str, tuple[str, str]]:
    """Every state-changing operation of the app's OpenAPI document: id -> (method, path)."""
    r = client.get("/schema/openapi.json")
    assert r.status_code == 200, r.text
    return {op["operationId"]: (method, path) for path, item in r.json()["paths"].items()
            for method, op in item.items() if method in CHANGES}


def rows_after(hall: Any, last_id: int) -> list[Any]:
    return hall.server.db.read_sync(lambda c: list(c.execute(
        select(audit_t).where(audit_t.c.id > last_id).order_by(audit_t.c.id))))


def last_audit_id(hall: Any) -> int:
    rows = hall.server.db.read_sync(lambda c: list(c.execute(select(audit_t.c.id).order_by(audit_t.c.id.desc())
                                                             .limit(1))))
    return rows[0].id if rows else 0


def send(client: Any, method: str, url: str, body: Any, headers: dict[str, str]) -> Any:
    if isinstance(body, bytes):
        return client.request(method.upper(), url, content=body, headers={**headers, "Content-Type": "text/csv"})
    return client.request(method.upper(), url, headers=headers, **({"json": body} if body is not None else {}))


@pytest.fixture
def live(tmp_path: Path, clock: ManualClock, broker: Broker):
    """The example hall on a real broker with a simulated locker (commands and deposits are real)."""
    h = build_hall(tmp_path, clock, broker)
    try:
        with running(h) as client, devices(broker, ("locker", "locker-01"), slots=12, auto_close_s=None):
            wait_until(lambda: twin(client, login(client, "duty01"), "locker-01")["online"], timeout=30,
                       what="locker online")
            yield h, client
    finally:
        h.close()


def test_every_state_changing_staff_operation_writes_its_audit_row(live) -> None:
    hall, client = live
    ops = operations(client)
    missing = sorted(set(ops) - set(EXAMPLES) - PUBLIC)
    assert not missing, (f"state-changing operations without an example in tests/integration/test_audit.py "
                         f"EXAMPLES (add one, with the audit action the route declares): {missing}")
    stale = sorted((set(EXAMPLES) | PUBLIC) - set(ops))
    assert not stale, f"EXAMPLES/PUBLIC name operations the app does not have: {stale}"
    handlers = {r.operation_id: r for route in hall.app.routes for r in getattr(route, "route_handlers", [])}

    ctx = Ctx(client, hall)
    for op_id, ex in EXAMPLES.items():
        method, template = ops[op_id]
        if ex.prepare is not None:
            ex.prepare(ctx)
        url = template.format(hall="hn-tja", **_v(ex.params, ctx))
        body = _v(ex.body, ctx)
        headers = ctx.as_(ex.user)
        before = last_audit_id(hall)

        nobody = send(anonymous(client), method, url, body, {})
        assert_error(nobody, 401, "login_required")  # it does need a signed-in staff member
        r = send(client, method, url, body, headers)
        assert r.status_code == ex.status, f"{op_id}: {r.status_code} {r.text}"
        ctx.answers[op_id] = r.json() if r.content else None

        mine = [x for x in rows_after(hall, before) if x.actor == ex.user and x.outcome == "ok"]
        assert [(x.actor, x.action, x.hall_id) for x in mine] == [(ex.user, ex.action, "hn-tja")], \
            f"{op_id} should write one audit row ({ex.user}, {ex.action}); it wrote {mine}"
        declared = handlers[op_id].opt.get("audit")
        assert declared and ex.action.split(".")[0] == declared.split(".")[0], \
            f"{op_id}: the route declares opt={{'audit': {declared!r}}}"

    # ids and numbers, never what a person typed: the pause/step-away reasons, the note, the
    # comment's text stays in the alarm's own trail only
    text = " ".join(f"{r.subject} {r.detail}" for r in rows_after(hall, 0) if r.action not in ("alarm.comment",))
    for typed in ("整理材料", "培训", "夜班交接", "营业执照", "已回访", "已整改"):
        assert typed not in text


def test_refusals_are_audited_with_their_code_and_kept_out_of_the_alarm_trail(client, hall) -> None:
    clerk = login(client, "clerk02")
    assert_error(client.put(f"{API}/posts/2", json={"a": "clerk02"}, headers=clerk), 403, "role")
    assert_error(client.post(f"{API}/windows/3/call-next", headers=clerk), 403, "not_your_window")
    h = hall.server.hall("hn-tja")
    alarm_id = hall.server.db.write_sync(alarms.raise_alarm, h, h.now(), "device", "kiosk-01", "paper_out", "major",
                                         {"text": "x"})
    assert_error(client.post(f"{API}/alarms/{alarm_id}/ack", headers=login(client, "fac01")), 403, "not_assigned")

    boss = login(client, "manager01")
    refused = client.get(f"{API}/audit", params={"outcome": "refused"}, headers=boss).json()
    assert [(x["actor"], x["action"], x["subject"], x["detail"]["status"]) for x in refused] == [
        ("fac01", "alarm.ack", alarm_id, 403), ("clerk02", "window.call_next", "3", 403),
        ("clerk02", "post.change", "2", 403)]
    assert refused[0]["detail"]["error"] == "not_assigned" and refused[2]["detail"]["error"] == "role"
    trail = client.get(f"{API}/alarms/{alarm_id}", headers=boss).json()["history"]
    assert [x["action"] for x in trail] == ["alarm.raise"]  # the refused ack is not in the alarm's history


def test_sign_in_is_audited_success_and_failure_never_the_password(client) -> None:
    login(client, "clerk05")
    wrong = "Tr0ub4dor&3-wrong"
    for username in ("clerk05", "nobody-here"):
        r = client.post("/api/v1/auth/login", json={"username": username, "password": wrong})
        assert_error(r, 401)
    admin = login(client, "admin01")
    rows = client.get(f"{API}/audit", params={"action": "auth"}, headers=admin).json()
    got = [(x["actor"], x["hall"], x["outcome"]) for x in rows if x["actor"] in ("clerk05", "nobody-here")]
    assert got == [("nobody-here", "*", "refused"), ("clerk05", "hn-tja", "refused"), ("clerk05", "hn-tja", "ok")]
    assert all(x["action"] == "auth.login" for x in rows)
    # a manager of the hall sees the failures against its accounts, not the unknown usernames
    seen = client.get(f"{API}/audit", params={"action": "auth.login", "outcome": "refused"},
                      headers=login(client, "manager01")).json()
    assert [x["actor"] for x in seen] == ["clerk05"]
    everything = client.get(f"{API}/audit", params={"limit": 1000}, headers=admin).text
    assert wrong not in everything and PASSWORD not in everything


def test_the_audit_log_filters_and_who_may_read_it(client, clock: ManualClock) -> None:
    clerk = login(client, "clerk01")
    client.post(f"{API}/windows/1/sign-in", headers=clerk)
    t0 = clock.now()
    clock.advance(600)
    number = take(client, "SB")["number"]
    client.post(f"{API}/windows/1/call-next", headers=clerk)
    clock.advance(600)
    t1 = clock.now()
    client.post(f"{API}/windows/1/pause", json={"reason": "午休"}, headers=clerk)
    duty = login(client, "duty01")

    def audit(**params: Any) -> list[tuple[str, str]]:
        r = client.get(f"{API}/audit", params=params, headers=duty)
        assert r.status_code == 200, r.text
        return [(x["actor"], x["action"]) for x in r.json()]

    assert audit(actor="clerk01", action="window") == [
        ("clerk01", "window.pause"), ("clerk01", "window.call_next"), ("clerk01", "window.sign_in")]
    assert audit(actor="clerk01", action="window.call_next") == [("clerk01", "window.call_next")]
    assert audit(actor="clerk01", since=(t0 + timedelta(seconds=1)).isoformat(), until=t1.isoformat()) == [
        ("clerk01", "window.call_next")]
    assert audit(actor="clerk01", since=t1.replace(tzinfo=None).isoformat(timespec="seconds")) == [
        ("clerk01", "window.pause")]  # the hall's local time
    assert audit(actor="clerk01", limit=1) == [("clerk01", "window.pause")]
    assert audit(actor="nobody") == []
    row = client.get(f"{API}/audit", params={"action": "window.call_next"}, headers=duty).json()[0]
    assert set(row) == {"id", "at", "hall", "actor", "action", "subject", "outcome", "detail"}
    assert (row["subject"], row["detail"]["number"], row["detail"]["status"]) == ("1", number, "called")

    assert_error(client.get(f"{API}/audit", params={"since": "yesterday"}, headers=duty), 400, "bad_time")
    assert_error(client.get(f"{API}/audit", params={"outcome": "maybe"}, headers=duty), 400, "bad_outcome")
    for user in ("clerk02", "fac01"):
        assert_error(client.get(f"{API}/audit", headers=login(client, user)), 403, "role")
    for user in ("manager01", "admin01"):
        assert client.get(f"{API}/audit", headers=login(client, user)).status_code == 200
    assert_error(anonymous(client).get(f"{API}/audit"), 401, "login_required")


def test_accounts_and_devices_added_on_the_command_line_are_audited(tmp_path: Path) -> None:
    def hall_cmd(*args: str) -> subprocess.CompletedProcess:
        env = {"HALL_DATA_DIR": str(tmp_path), "HALL_SECRET": "s", "PATH": "/usr/bin:/bin"}
        return subprocess.run([sys.executable, "-m", "hall.cli", *args], capture_output=True, text=True, env=env,
                              timeout=120, stdin=subprocess.DEVNULL)

    r = hall_cmd("user", "add", "li", "--role", "clerk", "--password", "day-shift-42", "--hall", "hn-tja")
    assert r.returncode == 0, r.stderr
    r = hall_cmd("device", "add", "kiosk-77", "--hall", "hn-tja", "--kind", "kiosk")
    assert r.returncode == 0, r.stderr
    eng = create_engine(f"sqlite:///{tmp_path / 'hall.db'}")
    with eng.connect() as c:
        rows = list(c.execute(select(audit_t).order_by(audit_t.c.id)))
    eng.dispose()
    assert [(x.hall_id, x.action, x.subject, x.outcome) for x in rows] == [
        ("hn-tja", "user.add", "li", "ok"), ("hn-tja", "device.register", "kiosk-77", "ok")]
    assert all(x.actor.startswith("cli") for x in rows)
    assert "day-shift-42" not in " ".join(x.detail for x in rows)
