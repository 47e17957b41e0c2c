"""The alarm routes over the real app: lifecycle, roles, errors, duplicates, flood, escalation, shelving."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from hall import alarms
from hall.bootstrap import Hall
from tests.conftest import login
from tests.helpers import API, anonymous, assert_error, stored_events


def raise_(hall: Hall, device: str = "kiosk-01", type_: str = "paper_out", severity: str = "major",
           source: str = "device", **detail: Any) -> str:
    h = hall.server.hall("hn-tja")
    return hall.server.db.write_sync(alarms.raise_alarm, h, h.now(), source, device, type_, severity,
                                     {"text": f"{device} {type_}", **detail})


def clear(hall: Hall, device: str = "kiosk-01", type_: str = "paper_out", source: str = "device") -> str | None:
    h = hall.server.hall("hn-tja")
    return hall.server.db.write_sync(alarms.clear_alarm, h, h.now(), source, device, type_)


def listed(client, headers, **params: Any) -> list[dict[str, Any]]:
    r = client.get(f"{API}/alarms", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def one(client, headers, alarm_id: str) -> dict[str, Any]:
    r = client.get(f"{API}/alarms/{alarm_id}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def act(client, headers, alarm_id: str, action: str, body: Any = None, status: int = 200) -> Any:
    r = client.post(f"{API}/alarms/{alarm_id}/{action}", headers=headers,
                    **({"json": body} if body is not None else {}))
    assert r.status_code == status, r.text
    return r


def of(events: list[dict[str, Any]], alarm_id: str) -> list[str]:
    return [e["type"] for e in events if e["type"].startswith("alarm.") and e["data"]["id"] == alarm_id]


# --------------------------------------------------------------------------- duplicates and the lifecycle

def test_100_duplicate_fault_events_raise_one_alarm_and_one_message(client, hall):
    ids = {raise_(hall, seq=i) for i in range(100)}
    assert len(ids) == 1
    [alarm_id] = ids
    duty = login(client, "duty01")
    [a] = listed(client, duty, state="open")
    assert (a["id"], a["count"], a["state"], a["device"], a["detail"]["seq"]) == (alarm_id, 100, "active", "kiosk-01", 99)
    assert of(stored_events(client), alarm_id) == ["alarm.raised"]
    assert [x["action"] for x in one(client, duty, alarm_id)["history"]] == ["alarm.raise"]


def test_ack_clear_and_the_next_raise_is_a_new_alarm(client, hall, clock):
    first = raise_(hall)
    duty = login(client, "duty01")
    clock.advance(minutes=1)
    a = act(client, duty, first, "ack").json()
    assert (a["state"], a["acked_by"], a["acked_at"]) == ("acked", "duty01", "2026-11-23T09:31:00+08:00")
    body = assert_error(act(client, duty, first, "ack", status=409), 409, "alarm_state")
    assert body["state"] == "acked"
    assert raise_(hall) == first  # still there: counted
    assert clear(hall) == first
    a = one(client, duty, first)
    assert (a["state"], a["closed_at"], a["closed_by"], a["count"]) == ("closed", a["cleared_at"], None, 2)
    second = raise_(hall)
    assert second != first
    assert [x["id"] for x in listed(client, duty, state="open")] == [second]
    types = of(stored_events(client), first)
    assert types == ["alarm.raised", "alarm.acked", "alarm.cleared"]


def test_a_cleared_alarm_waits_for_its_ack_and_comes_back_if_raised(client, hall):
    alarm_id = raise_(hall)
    clear(hall)
    duty = login(client, "duty01")
    assert listed(client, duty, state="cleared")[0]["id"] == alarm_id
    assert raise_(hall) == alarm_id
    assert one(client, duty, alarm_id)["state"] == "active"
    clear(hall)
    a = act(client, duty, alarm_id, "ack").json()
    assert (a["state"], a["acked_by"]) == ("closed", "duty01")
    assert of(stored_events(client), alarm_id) == ["alarm.raised", "alarm.cleared", "alarm.raised", "alarm.cleared",
                                                    "alarm.acked"]


def test_assign_comment_shelve_unshelve_resolve_with_history_and_events(client, hall):
    alarm_id = raise_(hall, "locker-01", "door_open", "critical")
    duty = login(client, "duty01")
    a = act(client, duty, alarm_id, "assign", {"assignee": "fac01"}).json()
    assert a["assignee"] == "fac01" and a["state"] == "active"
    assert [x["id"] for x in listed(client, duty, assignee="fac01")] == [alarm_id]
    assert listed(client, duty, assignee="fac02") == []
    assert [x["id"] for x in listed(client, duty, severity="critical", source="device")] == [alarm_id]
    assert listed(client, duty, severity="minor") == []
    act(client, duty, alarm_id, "comment", {"text": "已通知物业"})
    a = act(client, duty, alarm_id, "shelve", {"minutes": 30, "reason": "锁具维修中"}).json()
    assert a["shelved_until"] == "2026-11-23T10:00:00+08:00"
    a = act(client, duty, alarm_id, "unshelve").json()
    assert a["shelved_until"] is None
    assert_error(act(client, duty, alarm_id, "unshelve", status=409), 409, "alarm_state")
    a = act(client, duty, alarm_id, "resolve", {"note": "门已关好"}).json()
    assert (a["state"], a["closed_by"]) == ("closed", "duty01")
    got = one(client, duty, alarm_id)
    assert [x["action"] for x in got["history"]] == [
        "alarm.raise", "alarm.assign", "alarm.comment", "alarm.shelve", "alarm.unshelve", "alarm.resolve"]
    assert got["history"][-1]["detail"] == {"note": "门已关好", "was": "active"}
    assert got["comments"] == [{"at": "2026-11-23T09:30:00+08:00", "by": "duty01", "text": "已通知物业"}]
    events = [e for e in stored_events(client) if e["type"].startswith("alarm.")]
    assert [e["type"] for e in events] == ["alarm.raised", "alarm.assigned", "alarm.commented", "alarm.shelved",
                                           "alarm.unshelved", "alarm.resolved"]
    assert all(e["data"]["by"] == ("system" if e["type"] == "alarm.raised" else "duty01") for e in events)
    assert events[2]["data"]["text"] == "已通知物业" and events[3]["data"]["reason"] == "锁具维修中"
    # resolving while the condition is still there: the next raise is a new alarm
    assert raise_(hall, "locker-01", "door_open", "critical") != alarm_id
    # a closed alarm takes comments, nothing else
    act(client, duty, alarm_id, "comment", {"text": "复盘：门锁老化"})
    for action, body in (("ack", None), ("assign", {"assignee": "duty01"}), ("shelve", {"minutes": 5, "reason": "x"}),
                         ("resolve", None)):
        assert assert_error(act(client, duty, alarm_id, action, body, status=409), 409, "alarm_state")["state"] == "closed"


# --------------------------------------------------------------------------- roles and errors

def test_roles_and_the_facility_user_handles_only_what_is_assigned_to_them(client, hall):
    alarm_id = raise_(hall)
    assert_error(anonymous(client).get(f"{API}/alarms/{alarm_id}"), 401)
    assert_error(anonymous(client).post(f"{API}/alarms/{alarm_id}/ack"), 401)
    clerk = login(client, "clerk01")
    assert_error(client.get(f"{API}/alarms/{alarm_id}", headers=clerk), 403, "role")
    assert_error(act(client, clerk, alarm_id, "ack", status=403), 403, "role")
    fac = login(client, "fac01")
    assert one(client, fac, alarm_id)["id"] == alarm_id
    assert_error(act(client, fac, alarm_id, "ack", status=403), 403, "not_assigned")
    assert_error(act(client, fac, alarm_id, "comment", {"text": "看看"}, status=403), 403, "not_assigned")
    assert_error(act(client, fac, alarm_id, "resolve", status=403), 403, "not_assigned")
    assert_error(act(client, fac, alarm_id, "assign", {"assignee": "duty01"}, status=403), 403, "not_assigned")
    assert_error(act(client, fac, alarm_id, "shelve", {"minutes": 5, "reason": "x"}, status=403), 403, "role")
    assert act(client, fac, alarm_id, "assign", {"assignee": "fac01"}).json()["assignee"] == "fac01"  # accepted
    act(client, fac, alarm_id, "ack")
    act(client, fac, alarm_id, "comment", {"text": "已换纸"})
    assert act(client, fac, alarm_id, "resolve").json()["closed_by"] == "fac01"
    # taken over by someone else: no longer theirs
    other = raise_(hall, "kiosk-02")
    act(client, login(client, "manager01"), other, "assign", {"assignee": "duty01"})
    assert_error(act(client, login(client, "fac01"), other, "ack", status=403), 403, "not_assigned")
    assert act(client, login(client, "admin01"), other, "ack").json()["state"] == "acked"


def test_errors_are_json_in_chinese_and_english(client, hall):
    alarm_id = raise_(hall)
    duty = login(client, "duty01")
    assert_error(client.get(f"{API}/alarms/nope", headers=duty), 404, "unknown_alarm")
    assert_error(act(client, duty, "nope", "ack", status=404), 404, "unknown_alarm")
    assert_error(client.get("/api/v1/halls/nowhere/alarms/x", headers=duty), 404, "unknown_hall")
    assert_error(act(client, duty, alarm_id, "assign", {}, status=400), 400, "validation")
    assert_error(act(client, duty, alarm_id, "assign", {"assignee": "clerk01"}, status=400), 400, "unknown_assignee")
    assert_error(act(client, duty, alarm_id, "assign", {"assignee": "ghost"}, status=400), 400, "unknown_assignee")
    assert_error(act(client, duty, alarm_id, "comment", {"text": "  "}, status=400), 400, "comment_required")
    assert_error(act(client, duty, alarm_id, "shelve", {"minutes": 0, "reason": "x"}, status=400), 400, "bad_minutes")
    assert_error(act(client, duty, alarm_id, "shelve", {"minutes": 5, "reason": ""}, status=400), 400,
                 "reason_required")
    assert_error(act(client, duty, alarm_id, "shelve", {"minutes": "soon", "reason": "x"}, status=400), 400,
                 "validation")
    r = client.post(f"{API}/alarms/{alarm_id}/comment", headers={**duty, "content-type": "application/json"},
                    content=b"{not json")
    assert_error(r, 400)
    for param, value in (("state", "loud"), ("severity", "huge"), ("source", "moon")):
        assert_error(client.get(f"{API}/alarms", params={param: value}, headers=duty), 400, f"bad_{param}")
    # nothing changed by the refused requests
    a = one(client, duty, alarm_id)
    assert (a["state"], a["assignee"], a["shelved_until"], a["comments"]) == ("active", None, None, [])


# --------------------------------------------------------------------------- flood

def test_eleven_alarms_in_ten_minutes_are_grouped_under_a_flood_alarm(client, hall, clock):
    ids = []
    for i in range(11):
        clock.advance(seconds=30 if i else 0)
        ids.append(raise_(hall, f"kiosk-{i:02d}", "jam" if i % 2 else "paper_out"))
    duty = login(client, "duty01")
    [flood] = listed(client, duty, source="hall")
    assert (flood["type"], flood["subject"], flood["count"], flood["state"]) == ("alarm_flood", "hn-tja", 1, "active")
    assert flood["detail"]["counts"] == {"paper_out": 1}
    rows = {a["id"]: a for a in listed(client, duty, source="device")}
    assert len(rows) == 11 and [rows[i]["flood_id"] for i in ids] == [None] * 10 + [flood["id"]]
    # three more at once: stored and counted, announced together later
    more = [raise_(hall, f"printer-{i}", "jam") for i in range(3)]
    events = stored_events(client)
    raised = [e["data"]["id"] for e in events if e["type"] == "alarm.raised"]
    assert raised == [*ids[:10], flood["id"]]  # the grouped ones have no alarm.raised of their own
    [first] = [e for e in events if e["type"] == "alarm.flood"]
    assert first["data"]["flooding"] is True and [x["id"] for x in first["data"]["new"]] == [ids[10]]
    assert hall.server.alarm_sweep("hn-tja") == []  # held back: the last alarm.flood is too recent
    clock.advance(seconds=5)
    assert hall.server.alarm_sweep("hn-tja") == [{"hall": "hn-tja", "action": "flood", "alarm": flood["id"]}]
    second = stored_events(client, "alarm.flood")[-1]["data"]
    assert {x["id"] for x in second["new"]} == set(more) and second["grouped"] == 4 and second["more"] == 0
    assert second["counts"] == {"paper_out": 1, "jam": 3} and second["count"] == 4
    assert {a["id"] for a in listed(client, duty, flood_id=flood["id"])} == {ids[10], *more}
    # grouped alarms do not escalate one by one; the flood alarm does
    clock.advance(minutes=16)
    done = hall.server.alarm_sweep("hn-tja")
    assert {d["alarm"] for d in done if d["action"] == "escalated"} == set(ids[:10]) | {flood["id"]}
    # quiet for ten minutes: the flood is over, the flood alarm waits for its ack as cleared
    assert {"hall": "hn-tja", "action": "flood_ended", "alarm": flood["id"]} in done
    f = one(client, duty, flood["id"])
    assert f["state"] == "cleared"
    assert stored_events(client, "alarm.flood")[-1]["data"]["flooding"] is False
    # the next alarm is announced on its own again
    late = raise_(hall, "kiosk-99")
    assert stored_events(client, "alarm.raised")[-1]["data"]["id"] == late


# --------------------------------------------------------------------------- escalation and shelving

def test_escalation_when_nobody_acknowledges_in_the_configured_time(client, hall, clock):
    major = raise_(hall, "kiosk-01", "paper_out", "major")
    minor = raise_(hall, "kiosk-02", "paper_low", "minor")
    clock.advance(minutes=14, seconds=59)
    assert hall.server.alarm_sweep("hn-tja") == []
    clock.advance(seconds=1)
    assert hall.server.alarm_sweep() == [{"hall": "hn-tja", "action": "escalated", "alarm": major, "escalation": 1}]
    assert hall.server.alarm_sweep() == []
    clock.advance(minutes=15)
    assert [d["escalation"] for d in hall.server.alarm_sweep()] == [2]
    duty = login(client, "duty01")
    a = one(client, duty, major)
    assert (a["escalation"], a["escalated_at"]) == (2, "2026-11-23T10:00:00+08:00")
    assert [x["detail"] for x in a["history"] if x["action"] == "alarm.escalate"] == [
        {"escalation": 1, "after_min": 15}, {"escalation": 2, "after_min": 15}]
    act(client, duty, major, "ack")
    clock.advance(minutes=30)
    assert [d["alarm"] for d in hall.server.alarm_sweep()] == [minor]  # 60 minutes for a minor one
    esc = stored_events(client, "alarm.escalated")
    assert [(e["data"]["id"], e["data"]["escalation"], e["data"]["by"]) for e in esc] == [
        (major, 1, "system"), (major, 2, "system"), (minor, 1, "system")]


def test_a_shelved_alarm_neither_escalates_nor_announces_until_the_shelf_runs_out(client, hall, clock):
    alarm_id = raise_(hall)
    duty = login(client, "duty01")
    act(client, duty, alarm_id, "shelve", {"minutes": 30, "reason": "厂家维修"})
    clear(hall)
    clock.advance(minutes=20)
    assert raise_(hall) == alarm_id  # back, but shelved: not announced
    assert hall.server.alarm_sweep() == []  # overdue, but shelved: no escalation
    assert of(stored_events(client), alarm_id) == ["alarm.raised", "alarm.shelved", "alarm.cleared"]
    clock.advance(minutes=10)
    assert hall.server.alarm_sweep() == [
        {"hall": "hn-tja", "action": "unshelved", "alarm": alarm_id},
        {"hall": "hn-tja", "action": "escalated", "alarm": alarm_id, "escalation": 1}]
    [e] = stored_events(client, "alarm.unshelved")
    assert (e["data"]["expired"], e["data"]["by"], e["data"]["shelved_until"]) == (True, "system", None)
    a = one(client, duty, alarm_id)
    assert [x["action"] for x in a["history"]][-3:] == ["alarm.raise", "alarm.unshelve", "alarm.escalate"]
    assert a["history"][-2]["actor"] == "system"


def iot_config(monkeypatch, hall: Hall, **changes: Any) -> None:
    h = hall.server.hall("hn-tja")
    monkeypatch.setattr(h, "cfg", h.cfg.model_copy(update={"iot": h.cfg.iot.model_copy(update=changes)}))


def test_severity_overrides_from_the_hall_config(client, hall, monkeypatch):
    iot_config(monkeypatch, hall, severity={"paper_out": "critical"})
    alarm_id = raise_(hall, severity="major")
    assert one(client, login(client, "duty01"), alarm_id)["severity"] == "critical"


# --------------------------------------------------------------------------- races

def test_racing_raises_keep_one_open_alarm(hall):
    """Many threads raise the same alarm at once (on PostgreSQL several writers really run at once;
    the loser's insert fails in its savepoint and counts the winner's alarm)."""
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def worker() -> None:
        try:
            start.wait()
            for _ in range(10):
                raise_(hall, "kiosk-07", "fault")
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    h = hall.server.hall("hn-tja")
    rows = hall.server.db.read_sync(alarms.list_alarms, h)
    assert [(a["subject"], a["count"], a["state"]) for a in rows] == [("kiosk-07", 80, "active")]


@pytest.mark.parametrize("n", [1, 3])
def test_the_flood_alarm_counts_the_alarms_grouped_under_it(client, hall, n, monkeypatch):
    iot_config(monkeypatch, hall, flood_count=n)
    ids = [raise_(hall, f"kiosk-{i}") for i in range(n + 2)]
    duty = login(client, "duty01")
    [flood] = listed(client, duty, source="hall")
    assert flood["count"] == 2 and {a["id"] for a in listed(client, duty, flood_id=flood["id"])} == set(ids[n:])
    assert of(stored_events(client), flood["id"]) == ["alarm.raised", "alarm.flood"]
