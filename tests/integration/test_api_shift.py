"""The shift routes (#6) over the real app: handover notes, the shift summary, the handover PDF, staff."""

from __future__ import annotations

import io
import secrets
from datetime import timedelta
from functools import partial
from typing import Any

import pypdf
from sqlalchemy import insert

from hall import alarms, shift
from hall.auth import add_user
from hall.bootstrap import Hall
from hall.db.database import Tx
from hall.db.models import deposit_t, staff_t
from hall.iot import commands
from hall.runtime import Actor, ms
from tests.conftest import MONDAY_0930, _password_hash, login, signed_in
from tests.helpers import API, act, anonymous, assert_error, call_next, stored_events, take

HALL_NAME = "天长市政务服务中心"


def note(client, headers, text: str, status: int = 201) -> Any:
    r = client.post(f"{API}/shift/notes", json={"text": text}, headers=headers)
    assert r.status_code == status, r.text
    return r


def notes(client, headers, **params: Any) -> list[dict[str, Any]]:
    r = client.get(f"{API}/shift/notes", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def summary(client, headers, **params: Any) -> dict[str, Any]:
    r = client.get(f"{API}/shift/summary", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def raise_(hall: Hall, device: str, type_: str, severity: str) -> str:
    h = hall.server.hall("hn-tja")
    return hall.server.db.write_sync(alarms.raise_alarm, h, h.now(), "device", device, type_, severity,
                                     {"text": f"{device} {type_}"})


def in_tx(hall: Hall, fn: Any) -> Any:
    """Run ``fn(tx, h, now)`` as one write."""
    h = hall.server.hall("hn-tja")
    return hall.server.db.write_sync(lambda tx: fn(tx, h, h.now()))


def add_staff(hall: Hall, username: str, role: str, hall_id: str | None, display: str = "") -> None:
    hall.server.db.write_sync(partial(add_user, password_hash=_password_hash()), username, role, "", hall_id,
                              display)


# --------------------------------------------------------------------------- notes

def test_notes_round_trip_newest_first_with_an_event(client, hall, clock):
    duty = login(client, "duty01")
    first = note(client, duty, "  3号取号机缺纸，已通知设施人员  ").json()
    assert first == {"id": first["id"], "at": "2026-11-23T09:30:00+08:00", "author": "duty01",
                     "author_name": "duty01", "text": "3号取号机缺纸，已通知设施人员"}
    clock.advance(minutes=5)
    second = note(client, login(client, "manager01"), "明早8点前检查智能柜2号\n（柜门偏紧）").json()
    assert second["text"] == "明早8点前检查智能柜2号\n（柜门偏紧）"
    assert [n["id"] for n in notes(client, duty)] == [second["id"], first["id"]]
    assert notes(client, duty, since="2026-11-23T09:35:00") == [second]  # no offset: hall local time
    assert notes(client, duty, since="2026-11-23T01:30:00Z") == [second, first]
    assert notes(client, duty, limit=1) == [second]
    events = stored_events(client, "shift.note")
    assert [e["data"] for e in events] == [first, second]
    assert events[0]["data"].keys() >= {"id", "author", "text", "at"}
    with client.websocket_connect("/ws/halls/hn-tja?since=0&topics=shift") as ws:
        assert ws.receive_json()["type"] == "shift.note"


def test_notes_checks_and_roles(client):
    duty = login(client, "duty01")
    for text in ("", "   ", "字" * 2001):
        assert_error(note(client, duty, text, status=400), 400, "bad_note")
    assert note(client, duty, "字" * 2000).json()["text"] == "字" * 2000
    assert_error(client.get(f"{API}/shift/notes", params={"since": "yesterday"}, headers=duty), 400, "bad_time")
    for user in ("clerk01", "fac01"):
        headers = login(client, user)
        assert_error(note(client, headers, "x", status=403), 403, "role")
        assert_error(client.get(f"{API}/shift/notes", headers=headers), 403, "role")
    assert_error(client.get("/api/v1/halls/nowhere/shift/notes", headers=duty), 404, "unknown_hall")
    assert_error(note(anonymous(client), {}, "x", status=401), 401, "login_required")


# --------------------------------------------------------------------------- summary

def _command(state: str, device: str = "kiosk-01", name: str = "reboot") -> Any:
    def run(tx: Tx, h: Any, now: Any) -> str:
        c = commands.create(tx, h, now, device, name, {}, "duty01", 60)
        if state != "pending":
            commands.mark_sent(tx, h, now, c["id"])
        if state not in ("pending", "sent"):
            commands.on_ack(tx, h, now, device, c["id"], state, {"reason": "test"})
        return c["id"]
    return run


def _deposit(state: str, *, stored: bool, picked: bool) -> Any:
    def run(tx: Tx, h: Any, now: Any) -> None:
        t = ms(now)
        tx.conn.execute(insert(deposit_t).values(
            id=secrets.token_hex(8), hall_id=h.id, device="locker-01", slot=1, item="营业执照", state=state,
            code_hash=secrets.token_hex(16), created_ms=t, stored_ms=t if stored else None,
            expires_ms=t + 86_400_000, picked_ms=t if picked else None, actor="clerk01"))
    return run


def test_summary_counts_what_happened_in_the_shift(client, hall, clock):
    duty = login(client, "duty01")
    # Before the shift (09:30): an alarm that stays open, a note.
    old = raise_(hall, "screen-01", "screen_dark", "major")
    note(client, duty, "上一班的记录")
    clock.advance(hours=1)  # the shift: from 10:00

    paper = raise_(hall, "kiosk-01", "paper_out", "major")
    jam = raise_(hall, "locker-01", "door_jam", "critical")
    raise_(hall, "kiosk-02", "paper_low", "minor")
    raise_(hall, "kiosk-02", "paper_low", "minor")  # counted again, not a new alarm
    clock.advance(minutes=2)
    h = hall.server.hall("hn-tja")
    officer = Actor("duty01", "duty_officer", "hn-tja")
    hall.server.db.write_sync(alarms.ack, h, h.now(), officer, paper)
    hall.server.db.write_sync(alarms.clear_alarm, h, h.now(), "device", "kiosk-01", "paper_out")  # acked: closes
    hall.server.db.write_sync(alarms.clear_alarm, h, h.now(), "device", "kiosk-02", "paper_low")  # cleared, open
    assert act_alarm(client, duty, jam, "resolve", {"note": "已手动开门"})["state"] == "closed"

    for state in ("done", "failed", "rejected", "sent"):
        in_tx(hall, _command(state))
    in_tx(hall, _deposit("stored", stored=True, picked=False))
    in_tx(hall, _deposit("picked_up", stored=True, picked=True))
    in_tx(hall, _deposit("failed", stored=False, picked=False))
    in_tx(hall, lambda tx, h, now: tx.emit(h.id, "locker.deposit_failed", now, {"device": "locker-01", "slot": 3,
                                                                               "deposit": "d1", "reason": "empty"}))
    in_tx(hall, lambda tx, h, now: tx.emit(h.id, "locker.locked_out", now, {"source": "device",
                                                                           "device": "locker-01", "failures": 10,
                                                                           "minutes": 15}))
    in_tx(hall, lambda tx, h, now: tx.emit(h.id, "locker.reconciled", now, {
        "device": "locker-02", "slot": 2, "deposit": "d2", "action": "missing", "text": "2号格口物品缺失"}))

    clerk = signed_in(client, "1", "clerk01")
    for _ in range(3):
        take(client, "SB")
    call_next(client, "1", clerk)
    act(client, "1", "start", clerk)
    act(client, "1", "finish", clerk)
    n = note(client, duty, "kiosk-02 纸张将尽，已恢复未确认").json()

    s = summary(client, duty, since="2026-11-23T10:00:00")  # until: now
    assert (s["since"], s["until"]) == ("2026-11-23T10:00:00+08:00", "2026-11-23T10:32:00+08:00")
    a = s["alarms"]
    assert {k: a[k] for k in ("raised", "acknowledged", "cleared", "resolved", "escalated", "still_open")} == {
        "raised": 3, "acknowledged": 1, "cleared": 2, "resolved": 1, "escalated": 0, "still_open": 2}
    assert a["by_severity"] == {"critical": 1, "major": 1, "minor": 1, "warning": 0}
    assert a["by_type"] == {"door_jam": 1, "paper_low": 1, "paper_out": 1}
    # Open at the end of the shift: the earlier shift's alarm too; both major... minor, oldest first.
    assert [(x["id"], x["type"], x["state"], x["count"]) for x in a["open"]] == [
        (old, "screen_dark", "active", 1), (a["open"][1]["id"], "paper_low", "cleared", 2)]
    c = s["commands"]
    assert c["total"] == 4
    assert {k: v for k, v in c["by_state"].items() if v} == {"done": 1, "failed": 1, "rejected": 1, "sent": 1}
    assert set(c["by_state"]) == set(commands.IN_FLIGHT + commands.FINAL)
    assert sorted(x["state"] for x in c["failed"]) == ["failed", "rejected"]
    assert c["failed"][0].keys() >= {"id", "device", "name", "state", "created_at", "detail", "by"}
    assert s["lockers"] == {"deposits": 2, "picked_up": 1, "failed": 1, "missing": 1, "locked_out": 1,
                            "pending_pickup": 1}
    assert s["tickets"] == {"issued": 3, "finished": 1, "no_show": 0, "waiting_now": 2}
    assert s["notes"] == [n]  # the earlier shift's note is outside

    # The earlier shift only (hall local time, no offset): its alarm was open at its end.
    before = summary(client, duty, since="2026-11-23T09:00:00", until="2026-11-23T10:00:00")
    assert (before["alarms"]["raised"], before["alarms"]["still_open"]) == (1, 1)
    assert [x["text"] for x in before["notes"]] == ["上一班的记录"]
    assert before["tickets"]["issued"] == 0 and before["commands"]["total"] == 0
    # Default: the last 12 hours up to now, everything above.
    default = summary(client, duty)
    assert (default["since"], default["until"]) == ("2026-11-22T22:32:00+08:00", "2026-11-23T10:32:00+08:00")
    assert (default["alarms"]["raised"], len(default["notes"])) == (4, 2)


def act_alarm(client, headers, alarm_id: str, action: str, body: Any = None) -> dict[str, Any]:
    r = client.post(f"{API}/alarms/{alarm_id}/{action}", headers=headers, json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_summary_period_and_roles(client):
    duty = login(client, "duty01")
    for params in ({"since": "2026-11-23T10:00:00", "until": "2026-11-23T09:00:00"},
                   {"since": "2026-09-01T00:00:00", "until": "2026-11-23T09:00:00"}):
        assert_error(client.get(f"{API}/shift/summary", params=params, headers=duty), 400, "bad_period")
    assert_error(client.get(f"{API}/shift/summary", params={"until": "soon"}, headers=duty), 400, "bad_time")
    for user in ("clerk01", "fac01"):
        assert_error(client.get(f"{API}/shift/summary", headers=login(client, user)), 403, "role")
    for user in ("manager01", "admin01"):
        assert summary(client, login(client, user))["alarms"]["raised"] == 0
    assert_error(anonymous(client).get(f"{API}/shift/summary"), 401)


def test_open_alarms_are_the_most_severe_then_the_oldest_and_at_most_20():
    def view(i: int, severity: str) -> dict[str, Any]:
        at = (MONDAY_0930 + timedelta(minutes=i)).isoformat(timespec="seconds")
        return {"id": f"a{i:02d}", "severity": severity, "raised_at": at}

    views = [view(i, ("warning", "major", "critical", "minor")[i % 4]) for i in range(30)]
    facts = shift.ShiftFacts(since="s", until="u", open_alarms=views)
    out = shift.summarize(facts)["alarms"]
    assert out["still_open"] == 30
    assert [(x["severity"], x["id"]) for x in out["open"][:3]] == [("critical", "a02"), ("critical", "a06"),
                                                                  ("critical", "a10")]
    assert len(out["open"]) == 20
    assert [x["severity"] for x in out["open"]][-1] == "minor"


# --------------------------------------------------------------------------- the handover PDF

def test_handover_pdf_in_chinese_with_an_embedded_font(client, hall):
    add_staff(hall, "duty02", "duty_officer", "hn-tja", "夜班值班员李四")
    duty = login(client, "duty02")
    raise_(hall, "locker-01", "door_jam", "critical")
    note(client, duty, "智能柜1号柜门卡住，已报修")
    r = client.get(f"{API}/shift/handover.pdf", headers=duty)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == 'inline; filename="handover-hn-tja-20261123-0930.pdf"'
    body = r.content
    assert body.startswith(b"%PDF") and b"/FontFile2" in body
    reader = pypdf.PdfReader(io.BytesIO(body))
    page = reader.pages[0]
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (595, 842)  # A4
    text = "".join(p.extract_text() for p in reader.pages).replace(" ", "")
    for expected in (HALL_NAME, "交接班", "夜班值班员李四", "智能柜1号柜门卡住，已报修", "2026-11-2221:30至2026-11-2309:30",
                     "柜门未能打开", "交班人", "接班人"):
        assert expected in text, expected


def test_handover_pdf_period_and_roles(client):
    duty = login(client, "duty01")
    r = client.get(f"{API}/shift/handover.pdf", params={"since": "2026-11-23T08:00:00", "until": "2026-11-23T09:00"},
                   headers=duty)
    assert r.status_code == 200
    text = pypdf.PdfReader(io.BytesIO(r.content)).pages[0].extract_text().replace(" ", "")
    assert "2026-11-2308:00至2026-11-2309:00" in text
    assert_error(client.get(f"{API}/shift/handover.pdf", params={"since": "2026-11-24T00:00"}, headers=duty),
                 400, "bad_period")
    assert_error(client.get(f"{API}/shift/handover.pdf", headers=login(client, "fac01")), 403, "role")


# --------------------------------------------------------------------------- staff

def test_staff_to_assign_alarms_to(client, hall):
    add_staff(hall, "fac02", "facility", None, "设施维护王五")  # every hall
    add_staff(hall, "fac03", "facility", "hn-other")  # another hall
    add_staff(hall, "fac04", "facility", "hn-tja")
    hall.server.db.write_sync(lambda tx: tx.conn.execute(
        staff_t.update().where(staff_t.c.username == "fac04").values(active=False)))
    duty = login(client, "duty01")
    r = client.get(f"{API}/staff", params={"role": "facility"}, headers=duty)
    assert r.status_code == 200, r.text
    assert r.json() == [{"username": "fac01", "display_name": "fac01", "role": "facility"},
                        {"username": "fac02", "display_name": "设施维护王五", "role": "facility"}]
    everyone = client.get(f"{API}/staff", headers=login(client, "manager01")).json()
    assert {s["role"] for s in everyone} == {"clerk", "duty_officer", "facility", "manager", "admin"}
    assert all(set(s) == {"username", "display_name", "role"} for s in everyone)
    assert "password" not in r.text and "argon2" not in client.get(f"{API}/staff", headers=duty).text
    assert_error(client.get(f"{API}/staff", params={"role": "boss"}, headers=duty), 400, "bad_role")
    for user in ("clerk01", "fac01"):
        assert_error(client.get(f"{API}/staff", headers=login(client, user)), 403, "role")
