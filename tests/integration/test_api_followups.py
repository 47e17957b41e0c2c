"""差评回访 over the real app: a poor rating (at the window or on the pad) opens an item with its
deadlines in working days; the manager records the call-back and the fix; past a deadline the sweep
raises a ``followup_overdue`` alarm that the late step clears; roles; the events carry no personal data."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.conftest import TZ, login, signed_in
from tests.helpers import API, act, anonymous, assert_error, call_next, resident_id, stored_events, take

# The clock fixture is Monday 2026-11-23 09:30. The example hall opens one service on Saturdays, so
# its working days are Monday to Saturday: one working day ends Tuesday night, fifteen on 10 December.
CALLBACK_DUE = "2026-11-24T23:59:59+08:00"
FIX_DUE = "2026-12-10T23:59:59+08:00"
CALLBACK_NOTE = "已电话回访 13800138000，群众表示理解"
FIX_NOTE = "已对窗口人员进行业务培训"


def served(client, rating: int | None = None, **issue: Any) -> dict[str, Any]:
    """A ticket served at window 1 by clerk01 and finished with ``rating``; the ticket's body."""
    t = take(client, "SB", **issue)
    clerk = signed_in(client, "1", "clerk01")
    assert call_next(client, "1", clerk)["id"] == t["id"]
    act(client, "1", "start", clerk)
    act(client, "1", "finish", clerk, {"rating": rating} if rating is not None else None)
    return t


def followups(client, headers, **params: Any) -> list[dict[str, Any]]:
    r = client.get(f"{API}/followups", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def record(client, headers, followup_id: str, step: str, note: str | None = "ok") -> Any:
    return client.post(f"{API}/followups/{followup_id}/{step}", headers=headers,
                       json={} if note is None else {"note": note})


def sweep(hall) -> list[dict[str, Any]]:
    return [d for d in hall.server.alarm_sweep("hn-tja") if d["action"].startswith("followup")]


def followup_alarms(client, **params: Any) -> list[dict[str, Any]]:
    r = client.get(f"{API}/alarms", params={"source": "followup", **params}, headers=login(client, "duty01"))
    assert r.status_code == 200, r.text
    return r.json()


def test_a_poor_rating_at_finish_opens_an_item_with_its_deadlines(client):
    t = served(client, rating=2)
    served(client, rating=5)
    served(client)
    [f] = followups(client, login(client, "manager01"))
    assert (f["ticket_id"], f["ticket"], f["service"], f["window"], f["clerk"]) == (t["id"], t["number"], "SB", "1",
                                                                                   "clerk01")
    assert (f["rating"], f["level"], f["state"], f["overdue"]) == (2, "不满意", "open", False)
    assert (f["callback_due"], f["fix_due"]) == (CALLBACK_DUE, FIX_DUE)
    assert f["created_at"] == "2026-11-23T09:30:00+08:00"
    [opened] = stored_events(client, "followup.opened")
    assert opened["data"] == {"id": f["id"], "ticket": t["number"], "ticket_id": t["id"], "service": "SB",
                              "window": "1", "rating": 2, "state": "open", "callback_due": CALLBACK_DUE,
                              "fix_due": FIX_DUE}
    # the event comes in the rating's transaction, right after the ticket's
    events = stored_events(client)
    i = next(i for i, e in enumerate(events) if e["type"] == "followup.opened")
    assert events[i - 1]["type"] == "ticket.finished" and events[i - 1]["data"]["rating"] == 2


def test_the_rating_pad_opens_one_item_per_ticket(client, clock):
    t = served(client)
    clock.advance(minutes=2)
    r = client.post(f"{API}/tickets/{t['id']}/rating", json={"rating": 1})
    assert r.status_code == 200, r.text
    assert_error(client.post(f"{API}/tickets/{t['id']}/rating", json={"rating": 2}), 409, "already_rated")
    [f] = followups(client, login(client, "manager01"))
    assert (f["ticket_id"], f["rating"], f["level"], f["clerk"]) == (t["id"], 1, "非常不满意", "clerk01")
    assert f["created_at"] == "2026-11-23T09:32:00+08:00" and f["callback_due"] == CALLBACK_DUE
    assert len(stored_events(client, "followup.opened")) == 1


def test_open_for_rating_is_idempotent_per_ticket(client, hall):
    from hall import followup

    t = served(client, rating=2)
    h = hall.server.hall("hn-tja")
    again = hall.server.db.write_sync(followup.open_for_rating, h, h.now(),
                                      {"id": t["id"], "number": t["number"], "service": "SB", "window": "1"}, 1)
    [f] = followups(client, login(client, "manager01"))
    assert again["id"] == f["id"] and f["rating"] == 2


def test_call_back_then_fix_closes_the_item(client, clock):
    served(client, rating=1)
    boss = login(client, "manager01")
    [f] = followups(client, boss)
    assert_error(record(client, boss, f["id"], "fix"), 409, "followup_state")  # the call-back comes first
    assert_error(record(client, boss, f["id"], "callback", "  "), 400, "bad_note")
    assert_error(record(client, boss, f["id"], "callback", "x" * 2001), 400, "bad_note")
    assert_error(record(client, boss, "nope", "callback"), 404, "unknown_followup")
    clock.advance(hours=3)
    r = record(client, boss, f["id"], "callback", CALLBACK_NOTE)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["state"], body["called_back_by"], body["callback_note"]) == ("called_back", "manager01",
                                                                              CALLBACK_NOTE)
    assert body["called_back_at"] == "2026-11-23T12:30:00+08:00" and body["late_steps"] == []
    body = assert_error(record(client, boss, f["id"], "callback"), 409, "followup_state")
    assert body["state"] == "called_back"
    clock.advance(days=2)
    admin = login(client, "admin01")
    r = record(client, admin, f["id"], "fix", FIX_NOTE)
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["fixed_by"], r.json()["fix_note"]) == ("fixed", "admin01", FIX_NOTE)
    assert_error(record(client, admin, f["id"], "fix"), 409, "followup_state")
    boss = login(client, "manager01")  # sessions end: sign in again after the clock's jump
    assert [x["id"] for x in followups(client, boss, state="fixed")] == [f["id"]]
    assert followups(client, boss, state="pending") == followups(client, boss, state="open") == []
    assert client.get(f"{API}/followups/{f['id']}", headers=boss).json()["state"] == "fixed"
    assert_error(client.get(f"{API}/followups", params={"state": "done"}, headers=boss), 400, "bad_state")
    assert [e["data"]["by"] for e in stored_events(client) if e["type"] in ("followup.called_back",
                                                                            "followup.fixed")] == ["manager01", "admin01"]


def test_past_the_deadline_the_sweep_raises_the_alarm_and_the_step_clears_it(client, hall, clock):
    served(client, rating=2)
    boss = login(client, "manager01")
    [f] = followups(client, boss)
    clock.set(datetime(2026, 11, 24, 23, 59, 59, tzinfo=TZ))
    assert sweep(hall) == []  # due by the end of Tuesday: not late yet
    clock.set(datetime(2026, 11, 25, 0, 0, 1, tzinfo=TZ))
    [d] = sweep(hall)
    assert (d["action"], d["followup"], d["steps"]) == ("followup_overdue", f["id"], ["callback"])
    assert sweep(hall) == []  # raised once
    boss = login(client, "manager01")  # sessions end: sign in again after the clock's jumps
    [a] = followup_alarms(client, state="open")
    assert (a["subject"], a["type"], a["severity"], a["state"]) == (f["id"], "followup_overdue", "minor", "active")
    assert a["detail"]["steps"] == ["callback"] and "回访超期" in a["detail"]["text"]
    [late] = followups(client, boss, overdue="true")
    assert (late["id"], late["overdue"], late["overdue_steps"]) == (f["id"], True, ["callback"])
    assert followups(client, boss, overdue="false") == []
    [ev] = stored_events(client, "followup.overdue")
    assert (ev["data"]["steps"], ev["data"]["alarm"]) == (["callback"], a["id"])

    body = record(client, boss, f["id"], "callback", CALLBACK_NOTE).json()
    assert (body["overdue"], body["late_steps"]) == (False, ["callback"])
    [a] = followup_alarms(client)
    assert a["state"] == "cleared"  # nobody acknowledged it: it waits as cleared
    assert followups(client, boss, overdue="true") == [] and sweep(hall) == []

    clock.set(datetime(2026, 12, 11, 8, 0, tzinfo=TZ))  # the fix is late now
    [d] = sweep(hall)
    assert d["steps"] == ["fix"]
    [a] = followup_alarms(client, state="open")
    assert a["state"] == "active" and a["detail"]["steps"] == ["fix"] and "整改超期" in a["detail"]["text"]
    boss = login(client, "manager01")
    record(client, boss, f["id"], "fix", FIX_NOTE)
    assert followup_alarms(client, state="active") == []
    assert followups(client, boss)[0]["late_steps"] == ["callback", "fix"]


def test_an_item_late_for_both_steps_and_an_alarm_resolved_by_hand(client, hall, clock):
    served(client, rating=1)
    boss = login(client, "manager01")
    [f] = followups(client, boss)
    clock.set(datetime(2026, 11, 25, 9, 0, tzinfo=TZ))
    assert [d["steps"] for d in sweep(hall)] == [["callback"]]
    clock.set(datetime(2026, 12, 11, 9, 0, tzinfo=TZ))
    assert [d["steps"] for d in sweep(hall)] == [["fix"]]  # the same alarm, raised again with the new step
    [a] = followup_alarms(client, state="open")
    assert a["detail"]["steps"] == ["callback", "fix"] and a["count"] == 2
    boss = login(client, "manager01")  # sessions end: sign in again after the clock's jumps
    r = client.post(f"{API}/alarms/{a['id']}/resolve", json={"note": "已知"}, headers=login(client, "duty01"))
    assert r.status_code == 200, r.text
    [d] = sweep(hall)  # still overdue: as for every alarm, the condition raises a new one
    [b] = followup_alarms(client, state="open")
    assert b["id"] != a["id"] and d["alarm"] == b["id"]
    record(client, boss, f["id"], "callback")  # the fix is still late: the alarm stays
    assert followup_alarms(client, state="active")[0]["id"] == b["id"]
    record(client, boss, f["id"], "fix")
    assert followup_alarms(client, state="active") == []


def test_roles(client):
    served(client, rating=2)
    [f] = followups(client, login(client, "duty01"))
    duty = login(client, "duty01")
    assert_error(record(client, duty, f["id"], "callback"), 403, "role")
    for who in ("clerk01", "fac01"):
        assert_error(client.get(f"{API}/followups", headers=login(client, who)), 403, "role")
    assert_error(record(client, login(client, "clerk01"), f["id"], "fix"), 403, "role")
    anonymous(client)
    assert_error(client.get(f"{API}/followups"), 401)
    assert_error(record(client, {}, f["id"], "callback"), 401)


def test_the_events_carry_no_personal_data(client, hall, clock):
    idn = resident_id(40)
    t = served(client, rating=1, channel="id_card", credential=idn)
    boss = login(client, "manager01")
    [f] = followups(client, boss)
    record(client, boss, f["id"], "callback", CALLBACK_NOTE)
    clock.advance(days=30)
    sweep(hall)
    record(client, login(client, "manager01"), f["id"], "fix", FIX_NOTE)
    events = [e for e in stored_events(client) if e["type"].startswith("followup.")]
    assert [e["type"] for e in events] == ["followup.opened", "followup.called_back", "followup.overdue",
                                           "followup.fixed"]
    allowed = {"id", "ticket", "ticket_id", "service", "window", "rating", "state", "callback_due", "fix_due",
               "by", "late", "steps", "new", "alarm"}
    for e in events:
        assert set(e["data"]) <= allowed, e
        text = str(e["data"])
        for secret in (idn, "13800138000", CALLBACK_NOTE, FIX_NOTE, "clerk01"):
            assert secret not in text
        assert e["data"]["ticket"] == t["number"]
    # the topic filter knows follow-ups
    with client.websocket_connect("/ws/halls/hn-tja?since=0&topics=followup") as ws:
        assert ws.receive_json()["type"] == "followup.opened"
    assert (clock.now() - timedelta(days=30)).date().isoformat() == "2026-11-23"
