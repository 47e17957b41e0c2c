"""REST and the controller pass for issue #4: 离岗 and 接岗 (AB posts), leave, post changes, 空岗,
tidal windows, the manager's override, wait alerts, and what the snapshot carries of them.

The controller runs through ``HallServer.staffing_tick()``, the very pass the server's housekeeping
loop makes every ``tidal.check_every_s`` seconds, at the hall clock the test sets: no sleeping.
The example hall opens at 08:30 and the clock starts at 09:30 with nobody signed in, so every pass
also finds the regular windows 空岗; the tests look at the windows they are about.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import login, signed_in
from tests.helpers import (
    API,
    act,
    anonymous,
    assert_error,
    call_next,
    manager,
    stored_events,
    take,
    ticket,
    window_post,
    window_state,
)


def tick(hall) -> list[dict[str, Any]]:
    return hall.server.staffing_tick("hn-tja")


def of_kind(decisions: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in decisions if d["kind"] == kind]


def about(client, type_: str, **match: Any) -> list[dict[str, Any]]:
    """The data of stored events of one type whose fields match."""
    return [e["data"] for e in stored_events(client, type_) if all(e["data"].get(k) == v for k, v in match.items())]


def snapshot(client) -> dict[str, Any]:
    with client.websocket_connect("/ws/halls/hn-tja") as ws:
        return ws.receive_json()["data"]


def leave(client, headers, clerk: str, start: str, end: str, **extra: Any):
    return client.post(f"{API}/leaves", json={"clerk": clerk, "start": start, "end": end, **extra}, headers=headers)


def alarms(client, state: str | None = None) -> list[dict[str, Any]]:
    r = client.get(f"{API}/alarms", params={"state": state} if state else {}, headers=login(client, "duty01"))
    assert r.status_code == 200, r.text
    return r.json()


# --- 离岗 and 接岗 -----------------------------------------------------------------------------------


def test_step_away_mid_service_then_b_covers_and_finishes_the_same_ticket(client):
    take(client, "SB")
    a = signed_in(client, "1", "clerk01")
    t = call_next(client, "1", a)
    act(client, "1", "start", a)

    view = act(client, "1", "step-away", a, {"reason": "接听电话"})
    assert (view["state"], view["current_ticket"]["id"]) == ("serving", t["id"])  # the visitor stays
    assert (view["post"]["on_duty"], view["post"]["away_reason"], view["clerk"]) == (None, "接听电话", None)
    assert_error(window_post(client, "1", "finish", a), 403, "not_your_window")  # A has left the window

    b = login(client, "clerk12")
    view = act(client, "1", "cover", b)
    assert (view["state"], view["post"]["on_duty"], view["post"]["covering"]) == ("serving", "clerk12", True)
    assert (view["current_ticket"]["id"], view["post"]["away_reason"]) == (t["id"], None)
    assert act(client, "1", "finish", b, {"rating": 5})["state"] == "idle"
    assert ticket(client, t["id"])["status"] == "finished"
    assert about(client, "ticket.finished", ticket_id=t["id"])[0] | {"service_s": 0} == {
        "ticket": t["number"], "ticket_id": t["id"], "service": "SB", "window": "1", "rating": 5, "service_s": 0}
    assert about(client, "post.covered") == [
        {"window": "1", "window_name": "1号窗口", "by": "clerk12", "role": "b", "relieved": None}]
    state = about(client, "window.state", window="1", covering=True)
    assert [(e["state"], e["clerk"]) for e in state] == [("serving", "工作人员12")]


def test_b_is_told_at_once_when_a_steps_away_or_signs_out(client):
    a = signed_in(client, "2", "clerk02")
    act(client, "2", "step-away", a, {"reason": "去洗手间"})
    assert about(client, "post.away") == [
        {"window": "2", "window_name": "2号窗口", "clerk": "clerk02", "reason": "去洗手间", "state": "idle"}]
    assert about(client, "post.cover_needed") == [
        {"window": "2", "window_name": "2号窗口", "a": "clerk02", "b": "clerk13", "asked": "clerk13",
         "reason": "clerk02离岗"}]
    post = window_state(client, "2")["post"]
    assert (post["cover_asked"], post["unattended_since"]) == ("clerk13", "2026-11-23T09:30:00+08:00")

    c = signed_in(client, "3", "clerk03")   # signing out in opening hours asks B as well
    act(client, "3", "sign-out", c)
    assert [(d["window"], d["b"]) for d in about(client, "post.cover_needed")] == [("2", "clerk13"), ("3", "clerk14")]


def test_step_away_needs_a_reason_and_a_clerk_at_the_window(client):
    a = signed_in(client, "1", "clerk01")
    assert_error(window_post(client, "1", "step-away", a, {"reason": "  "}), 400, "reason_required")
    assert_error(window_post(client, "1", "step-away", login(client, "clerk02"), {"reason": "x"}), 403,
                 "not_your_window")
    assert_error(window_post(client, "2", "step-away", manager(client), {"reason": "x"}), 409, "window_state")
    assert window_state(client, "1")["post"]["on_duty"] == "clerk01"


def test_only_a_and_b_of_the_post_may_cover_and_a_takes_the_window_back(client):
    a = signed_in(client, "1", "clerk01")
    act(client, "1", "step-away", a, {"reason": "取材料"})
    assert_error(window_post(client, "1", "cover", login(client, "clerk05")), 403, "not_your_post")
    assert_error(window_post(client, "1", "cover", login(client, "duty01")), 403, "role")
    assert window_state(client, "1")["post"]["on_duty"] is None

    b = login(client, "clerk12")
    act(client, "1", "cover", b)
    view = act(client, "1", "cover", a)     # A is back: takes the window from B
    assert (view["post"]["on_duty"], view["post"]["covering"]) == ("clerk01", False)
    assert about(client, "post.covered", role="a") == [
        {"window": "1", "window_name": "1号窗口", "by": "clerk01", "role": "a", "relieved": "clerk12"}]
    assert_error(window_post(client, "1", "call-next", b), 403, "not_your_window")
    assert_error(window_post(client, "1", "cover", b), 409, "window_taken")  # B cannot push A out


def test_b_signed_in_at_another_window_must_sign_out_first(client):
    a = signed_in(client, "3", "clerk03")
    b = signed_in(client, "10", "clerk14")  # clerk14 backs windows 3 and 10
    act(client, "3", "step-away", a, {"reason": "会议"})
    body = assert_error(window_post(client, "3", "cover", b), 409, "signed_in_elsewhere")
    assert body["window"] == "10"
    act(client, "10", "sign-out", b)
    assert act(client, "3", "cover", b)["post"]["on_duty"] == "clerk14"


# --- leave ---------------------------------------------------------------------------------------


def test_leave_conflict_409_and_the_non_conflicting_leave_201(client):
    a, b = login(client, "clerk01"), login(client, "clerk12")
    r = leave(client, a, "clerk01", "2026-11-24T09:00", "2026-11-24T12:00", reason="体检")
    assert r.status_code == 201, r.text
    first = r.json()
    assert (first["clerk"], first["start"], first["end"], first["windows"]) == (
        "clerk01", "2026-11-24T09:00:00+08:00", "2026-11-24T12:00:00+08:00", ["1"])

    body = assert_error(leave(client, b, "clerk12", "2026-11-24T11:00", "2026-11-24T14:00"), 409, "leave_conflict")
    assert (body["window"], body["partner"]) == ("1", "clerk01")
    r = leave(client, b, "clerk12", "2026-11-24T13:30+08:00", "2026-11-24T17:30+08:00")
    assert r.status_code == 201, r.text

    listed = client.get(f"{API}/leaves", headers=login(client, "duty01")).json()
    assert [(x["clerk"], x["start"], x["reason"]) for x in listed] == [
        ("clerk01", "2026-11-24T09:00:00+08:00", "体检"), ("clerk12", "2026-11-24T13:30:00+08:00", "")]
    assert [e["clerk"] for e in about(client, "post.leave")] == ["clerk01", "clerk12"]

    # a clerk registers and cancels only their own leave; a manager anyone's
    assert_error(leave(client, b, "clerk05", "2026-11-25T09:00", "2026-11-25T10:00"), 403, "not_your_leave")
    assert_error(client.delete(f"{API}/leaves/{first['id']}", headers=b), 403, "not_your_leave")
    assert leave(client, manager(client), "clerk05", "2026-11-25T09:00", "2026-11-25T10:00").status_code == 201
    r = client.delete(f"{API}/leaves/{first['id']}", headers=a)
    assert (r.status_code, r.json()) == (200, {"id": first["id"], "cancelled": True})
    assert_error(client.delete(f"{API}/leaves/{first['id']}", headers=a), 404, "unknown_leave")
    assert leave(client, b, "clerk12", "2026-11-24T11:00", "2026-11-24T12:00").status_code == 201  # no clash now

    assert_error(leave(client, a, "clerk01", "2026-11-24T12:00", "2026-11-24T09:00"), 400, "bad_time")
    assert_error(leave(client, a, "clerk01", "tomorrow", "2026-11-24T09:00"), 400, "bad_time")
    assert_error(client.get(f"{API}/leaves", headers=login(client, "fac01")), 403, "role")


# --- posts and the audit -------------------------------------------------------------------------


def test_manager_changes_a_post_audited_and_a_clerk_cannot(client):
    boss = manager(client)
    r = client.put(f"{API}/posts/1", json={"a": "clerk01", "b": "clerk20"}, headers=boss)
    assert (r.status_code, r.json()) == (200, {"window": "1", "a": "clerk01", "b": "clerk20"})
    assert (window_state(client, "1")["post"]["a"], window_state(client, "1")["post"]["b"]) == ("clerk01", "clerk20")
    assert about(client, "post.changed") == [{"window": "1", "a": "clerk01", "b": "clerk20", "by": "manager01"}]
    audit = client.get(f"{API}/audit", headers=boss).json()
    assert (audit[0]["actor"], audit[0]["action"], audit[0]["subject"]) == ("manager01", "post.change", "1")
    assert audit[0]["detail"] == {"a": "clerk01", "b": "clerk20", "before": {"a": "clerk01", "b": "clerk12"}}

    a = signed_in(client, "1", "clerk01")   # the new B covers, the old one may not
    act(client, "1", "step-away", a, {"reason": "培训"})
    assert about(client, "post.cover_needed")[-1]["b"] == "clerk20"
    assert_error(window_post(client, "1", "cover", login(client, "clerk12")), 403, "not_your_post")
    assert act(client, "1", "cover", login(client, "clerk20"))["post"]["covering"] is True

    clerk = login(client, "clerk02")
    assert_error(client.put(f"{API}/posts/2", json={"a": "clerk02", "b": "clerk05"}, headers=clerk), 403, "role")
    assert_error(client.get(f"{API}/audit", headers=clerk), 403, "role")
    assert_error(client.put(f"{API}/posts/2", json={"a": "clerk05", "b": "clerk05"}, headers=boss), 400,
                 "post_same_clerk")
    assert_error(client.put(f"{API}/posts/2", json={"a": "clerk01", "b": "clerk13"}, headers=boss), 409, "post_taken")
    assert_error(client.put(f"{API}/posts/99", json={"a": "clerk05"}, headers=boss), 404, "unknown_window")
    changes = client.get(f"{API}/audit", params={"action": "post.change"}, headers=boss).json()
    assert [(x["actor"], x["outcome"], x["detail"].get("error")) for x in changes] == [
        ("manager01", "refused", "post_taken"), ("clerk02", "refused", "role"), ("manager01", "ok", None)]


# --- 空岗 ----------------------------------------------------------------------------------------


def test_post_vacant_after_the_limit_raises_an_alarm_that_clears_when_b_covers(client, hall, clock):
    a = signed_in(client, "1", "clerk01")
    act(client, "1", "sign-out", a)          # 09:30, in opening hours
    clock.advance(29 * 60)
    assert not [d for d in tick(hall) if d.get("window") == "1" and d["action"] == "vacant"]
    clock.advance(2 * 60)
    assert {"hall": "hn-tja", "kind": "post", "action": "vacant", "window": "1", "minutes": 31} in tick(hall)
    assert about(client, "post.vacant", window="1") == [{
        "window": "1", "window_name": "1号窗口", "minutes": 31, "a": "clerk01", "b": "clerk12",
        "text": "1号窗口空岗超过30分钟"}]
    raised = about(client, "alarm.raised", subject="1", type="post_vacant")
    assert [(x["severity"], x["state"], x["source"]) for x in raised] == [("major", "active", "post")]
    alarm = next(x for x in alarms(client, "active") if x["type"] == "post_vacant" and x["subject"] == "1")
    assert alarm["id"] == raised[0]["id"] and alarm["detail"]["minutes"] == 31
    assert {"window": "1", "a": "clerk01", "b": "clerk12"}.items() <= next(
        p for p in snapshot(client)["vacant_posts"] if p["window"] == "1").items()
    decision = next(d for d in client.get(f"{API}/decisions", params={"kind": "post"}, headers=manager(client)).json()
                    if d["subject"] == "1" and d["action"] == "vacant")
    assert (decision["code"], decision["reason"]) == ("vacancy", "1号窗口空岗超过30分钟")

    tick(hall)                              # once per vacancy, not on every pass
    assert len(about(client, "post.vacant", window="1")) == 1

    act(client, "1", "cover", login(client, "clerk12"))
    assert [x["id"] for x in about(client, "alarm.cleared", subject="1")] == [alarm["id"]]
    assert about(client, "post.vacancy_cleared", window="1") == [{"window": "1"}]
    assert not [x for x in alarms(client, "active") if x["subject"] == "1"]
    assert next(x for x in alarms(client, "cleared") if x["id"] == alarm["id"])["cleared_at"]
    assert window_state(client, "1")["post"]["vacant"] is False
    assert "1" not in [p["window"] for p in snapshot(client)["vacant_posts"]]


def test_alarms_and_decisions_are_for_staff_roles(client):
    clerk = login(client, "clerk01")
    assert_error(client.get(f"{API}/alarms", headers=clerk), 403, "role")
    assert_error(client.get(f"{API}/decisions", headers=clerk), 403, "role")
    assert client.get(f"{API}/alarms", headers=login(client, "fac01")).status_code == 200
    assert client.get(f"{API}/decisions", headers=login(client, "duty01")).json() == []
    assert_error(client.get(f"{API}/alarms", params={"state": "loud"}, headers=manager(client)), 400, "bad_state")
    assert_error(client.get(f"{API}/decisions", params={"kind": "mood"}, headers=manager(client)), 400, "bad_kind")
    assert_error(anonymous(client).get(f"{API}/alarms"), 401)


# --- tidal windows -------------------------------------------------------------------------------


def test_tidal_window_opens_for_a_long_queue_serves_only_what_it_took_and_closes_when_calm(client, hall, clock):
    sb = take(client, "SB")                  # older than every BDC ticket, and not for the tidal window
    bdc = [take(client, "BDC") for _ in range(11)]
    announcement = "7号窗口临时开放：不动产登记"
    assert of_kind(tick(hall), "tidal") == [{
        "hall": "hn-tja", "kind": "tidal", "action": "open", "window": "7", "clerk": "clerk07",
        "services": ["BDC"], "reason": "不动产登记等候 11 人", "announcement": announcement}]
    assert about(client, "tidal.opened") == [{
        "window": "7", "window_name": "7号窗口", "services": ["BDC"], "clerk": "clerk07",
        "reason": "不动产登记等候 11 人", "code": "queue", "announcement": announcement, "by": None}]
    decision = client.get(f"{API}/decisions", params={"kind": "tidal"}, headers=manager(client)).json()
    assert [(d["subject"], d["action"], d["code"], d["reason"], d["actor"]) for d in decision] == [
        ("7", "open", "queue", "不动产登记等候 11 人", None)]
    assert decision[0]["data"] == {"services": ["BDC"], "clerk": "clerk07"}
    w7 = window_state(client, "7")
    assert (w7["state"], w7["tidal_state"]["open"], w7["tidal_state"]["clerk"], w7["serving"]) == (
        "closed", True, "clerk07", ["BDC"])
    [open_now] = snapshot(client)["tidal"]
    assert open_now | {"since": None} == {
        "window": "7", "window_name": "7号窗口", "services": ["BDC"], "service_names": ["不动产登记"],
        "since": None, "closing": False, "staffed": False, "announcement": announcement}

    clerk = signed_in(client, "7", "clerk07")       # the standby clerk named by the controller
    served = []
    for _ in bdc:
        served.append(call_next(client, "7", clerk)["number"])
        act(client, "7", "start", clerk)
    act(client, "7", "finish", clerk)
    assert served == [t["number"] for t in bdc]       # BDC only, although A001 waits longer
    assert window_post(client, "7", "call-next", clerk).status_code == 204
    assert ticket(client, sb["id"])["status"] == "waiting"
    call_next(client, "1", signed_in(client, "1", "clerk01"))   # SB is served where it belongs

    clock.advance(10 * 60)                   # calm, but open for less than min_open_min (30)
    assert of_kind(tick(hall), "tidal") == []
    clock.advance(21 * 60)
    assert of_kind(tick(hall), "tidal") == [{
        "hall": "hn-tja", "kind": "tidal", "action": "close", "window": "7", "clerk": "clerk07",
        "reason": "排队人数已回落"}]
    closed = about(client, "tidal.closed")
    assert [(e["window"], e["code"], e["clerk"]) for e in closed] == [("7", "calm", "clerk07")]
    w7 = window_state(client, "7")       # the clerk was idle: back to standby at once
    assert (w7["state"], w7["post"]["on_duty"], w7["tidal_state"]["open"]) == ("closed", None, False)
    assert about(client, "window.state", window="7")[-1]["state"] == "closed"
    assert snapshot(client)["tidal"] == []


def test_an_open_tidal_window_takes_another_hot_service(client, hall, clock):
    for _ in range(11):
        take(client, "BDC")
    tick(hall)
    for _ in range(11):
        take(client, "QY")
    take_ = [d for d in of_kind(tick(hall), "tidal") if d["window"] == "7"]
    assert take_ == [{"hall": "hn-tja", "kind": "tidal", "action": "take", "window": "7",
                      "services": ["BDC", "QY"], "reason": "企业开办等候 11 人"}]
    changed = about(client, "tidal.changed")
    assert [(e["window"], e["services"], e["announcement"]) for e in changed] == [
        ("7", ["BDC", "QY"], "7号窗口临时开放：不动产登记、企业开办")]
    assert window_state(client, "7")["serving"] == ["BDC", "QY"]


def test_manager_override_holds_a_tidal_window_open_until_released(client, hall, clock):
    boss = manager(client)
    r = client.post(f"{API}/tidal/7", json={"action": "open", "services": ["HJ"], "minutes": 120}, headers=boss)
    assert r.status_code == 200, r.text
    ts = r.json()["tidal_state"]
    assert (ts["open"], ts["held"], ts["services"]) == (True, "open", ["HJ"])
    opened = about(client, "tidal.opened")[-1]
    assert (opened["by"], opened["code"], opened["announcement"]) == ("manager01", "override", "7号窗口临时开放：户籍")

    clock.advance(40 * 60)                   # nobody waits for 户籍: the policy would close it, but it is held
    assert of_kind(tick(hall), "tidal") == []
    assert window_state(client, "7")["tidal_state"]["open"] is True

    assert client.post(f"{API}/tidal/7", json={"action": "release"}, headers=boss).status_code == 200
    assert [(d["window"], d["action"]) for d in of_kind(tick(hall), "tidal")] == [("7", "close")]
    decisions = client.get(f"{API}/decisions", params={"kind": "tidal"}, headers=login(client, "duty01")).json()
    assert [(d["action"], d["code"], d["actor"]) for d in decisions] == [
        ("close", "calm", None), ("release", "override", "manager01"), ("open", "override", "manager01")]
    audit = client.get(f"{API}/audit", params={"action": "tidal"}, headers=boss).json()
    assert [x["action"] for x in audit] == ["tidal.release", "tidal.open"]


def test_manager_holds_a_tidal_window_closed_and_the_override_is_checked(client, hall):
    boss = manager(client)
    assert client.post(f"{API}/tidal/7", json={"action": "close", "minutes": 30}, headers=boss).status_code == 200
    for _ in range(11):
        take(client, "BDC")                  # only window 7 could take 不动产登记
    assert of_kind(tick(hall), "tidal") == []
    assert window_state(client, "7")["tidal_state"]["held"] == "closed"

    assert_error(client.post(f"{API}/tidal/7", json={"action": "open"}, headers=login(client, "clerk07")), 403, "role")
    assert_error(client.post(f"{API}/tidal/7", json={"action": "open"}, headers=login(client, "duty01")), 403, "role")
    assert_error(client.post(f"{API}/tidal/1", json={"action": "open"}, headers=boss), 409, "not_tidal")
    assert_error(client.post(f"{API}/tidal/7", json={"action": "maybe"}, headers=boss), 400, "bad_action")
    assert_error(client.post(f"{API}/tidal/8", json={"action": "open", "services": ["BDC"]}, headers=boss), 400,
                 "wrong_service")
    assert_error(client.post(f"{API}/tidal/99", json={"action": "open"}, headers=boss), 404, "unknown_window")


# --- wait alerts ---------------------------------------------------------------------------------


def test_wait_alert_raised_past_the_target_and_cleared_with_hysteresis(client, hall, clock):
    take(client, "SB")                       # 09:30
    clock.advance(4 * 60)
    take(client, "SB")                       # 09:34
    clock.advance(6 * 60)
    take(client, "SB")                       # 09:40
    clock.advance(10 * 60)                   # 09:50: the oldest has waited 20 minutes, the target
    assert of_kind(tick(hall), "wait") == []
    clock.advance(60)
    [raised] = of_kind(tick(hall), "wait")
    assert (raised["action"], raised["service"]) == ("raise", "SB") and raised["wait_s"] >= 1260
    [alert] = about(client, "wait.alert")
    assert alert | {"wait_s": 0} == {
        "service": "SB", "service_name": "社保", "wait_s": 0, "target_s": 1200, "waiting": 3,
        "text": "社保等候约21分钟，超过目标20分钟"}
    [alarm] = [x for x in alarms(client, "active") if x["type"] == "wait_alert"]
    assert (alarm["source"], alarm["subject"], alarm["severity"]) == ("service", "SB", "minor")
    [shown] = snapshot(client)["wait_alerts"]
    assert (shown["service"], shown["service_name"], shown["text"]) == ("SB", "社保", "社保等候约21分钟，超过目标20分钟")

    # Four windows for 社保 open, so the wait predicted for a newcomer is nil: the oldest wait decides.
    clerks = {w: signed_in(client, w, f"clerk0{w}") for w in ("1", "2", "3", "4")}
    call_next(client, "1", clerks["1"])      # the oldest now waited 17 minutes: below 20, not below 16
    assert of_kind(tick(hall), "wait") == []
    call_next(client, "2", clerks["2"])      # 11 minutes now: below target × clear_ratio (0.8)
    assert of_kind(tick(hall), "wait") == [
        {"hall": "hn-tja", "kind": "wait", "action": "clear", "service": "SB", "wait_s": 660}]
    assert [e["service"] for e in about(client, "wait.cleared")] == ["SB"]
    assert [x["id"] for x in about(client, "alarm.cleared", type="wait_alert")] == [alarm["id"]]
    assert snapshot(client)["wait_alerts"] == []
    kinds = client.get(f"{API}/decisions", params={"kind": "wait"}, headers=manager(client)).json()
    assert [(d["action"], d["code"]) for d in kinds] == [("clear", "below_target"), ("alert", "over_target")]


# --- the housekeeping loop -----------------------------------------------------------------------


def test_housekeeping_runs_the_controller_and_survives_a_failing_pass(hall, monkeypatch):
    calls: list[str | None] = []

    def flaky(hall_id: str | None = None) -> list[dict[str, Any]]:
        calls.append(hall_id)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return []

    monkeypatch.setattr(hall.server, "staffing_tick", flaky)
    monkeypatch.setattr(hall.server, "close_past_days", lambda: 0)

    async def run() -> None:
        task = asyncio.create_task(hall.server.housekeeping(every_s=0.05, staffing_every_s=0.01))
        for _ in range(300):
            await asyncio.sleep(0.01)
            if len(calls) >= 3:
                break
        task.cancel()

    asyncio.run(run())
    assert calls[:3] == ["hn-tja"] * 3


def test_a_standby_clerk_covers_when_b_cannot_and_somebody_else_is_asked_when_nobody_comes(client, hall, clock):
    """备勤顶岗: B is on leave, so the first standby clerk is asked; when they do not come within
    five minutes the next one is; either may take the window, and A takes it back."""
    for w, c in [("1", "clerk01"), ("3", "clerk03"), ("4", "clerk04"), ("5", "clerk05"), ("6", "clerk06"),
                 ("9", "clerk09"), ("10", "clerk10"), ("11", "clerk11")]:
        signed_in(client, w, c)
    a = signed_in(client, "2", "clerk02")
    assert leave(client, manager(client), "clerk13", "2026-11-23T09:00", "2026-11-23T12:00").status_code == 201
    act(client, "2", "step-away", a, {"reason": "取材料"})
    assert [(e["b"], e["asked"]) for e in about(client, "post.cover_needed", window="2")] == [("clerk13", "clerk07")]
    assert window_state(client, "2")["post"]["cover_asked"] == "clerk07"

    clock.advance(4 * 60)
    assert [d for d in tick(hall) if d.get("window") == "2"] == []
    clock.advance(60)
    [again] = [d for d in tick(hall) if d.get("window") == "2"]
    assert (again["action"], again["clerk"], again["reason"]) == ("cover_needed", "clerk18", "clerk07未到岗，改请clerk18")
    assert_error(window_post(client, "2", "cover", login(client, "clerk05")), 403, "not_your_post")

    view = act(client, "2", "cover", login(client, "clerk07"))   # the first one came after all
    assert (view["post"]["on_duty"], view["post"]["covering"], view["post"]["cover_asked"]) == ("clerk07", True, None)
    assert about(client, "post.covered", window="2")[-1]["role"] == "relief"
    assert act(client, "2", "cover", a)["post"]["on_duty"] == "clerk02"
