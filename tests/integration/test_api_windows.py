"""REST: the windows list and every window action (CONTRACT.md, "Window states and who may act")."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.conftest import login, signed_in
from tests.helpers import (
    API,
    act,
    anonymous,
    assert_error,
    call_next,
    manager,
    resident_id,
    stored_events,
    take,
    ticket,
    ticket_list,
    window_post,
    window_state,
)

ALL_SERVICES = ["SB", "YB", "GJJ", "BDC", "QY", "HJ", "SW"]


def serving(client, window: str = "1", user: str = "clerk01", service: str = "SB") -> tuple[dict, dict]:
    """One ticket called and started at the window; returns the clerk's headers and the ticket."""
    take(client, service)
    headers = signed_in(client, window, user)
    t = call_next(client, window, headers)
    act(client, window, "start", headers)
    return headers, t


def calling(client, window: str = "1", user: str = "clerk01") -> tuple[dict, dict]:
    take(client, "SB")
    headers = signed_in(client, window, user)
    return headers, call_next(client, window, headers)


# --- the windows list ------------------------------------------------------------------------------


def test_windows_list_shows_every_window_closed_at_first(client):
    r = anonymous(client).get(f"{API}/windows")
    assert r.status_code == 200
    windows = r.json()
    assert [w["window"] for w in windows] == [str(n) for n in range(1, 12)]
    assert {w["state"] for w in windows} == {"closed"}
    first = windows[0]
    assert (first["name"], first["services"], first["tidal"]) == ("1号窗口", ALL_SERVICES, False)
    post = first["post"]
    assert (post["a"], post["b"], post["on_duty"], post["covering"], post["vacant"]) == (
        "clerk01", "clerk12", None, False, False)
    assert first.get("current_ticket") is None
    assert [w["window"] for w in windows if w["tidal"]] == ["7", "8"]
    assert next(w for w in windows if w["window"] == "10")["services"] == ["HJ"]


def test_windows_list_follows_sign_in_and_calls(client):
    headers, t = calling(client, "2", "clerk02")
    w = window_state(client, "2")
    assert w["state"] == "calling"
    assert w["post"]["on_duty"] == "clerk02"
    assert w["current_ticket"]["number"] == t["number"] == "A001"
    act(client, "2", "start", headers)
    assert window_state(client, "2")["state"] == "serving"
    act(client, "2", "finish", headers)
    w = window_state(client, "2")
    assert (w["state"], w.get("current_ticket")) == ("idle", None)


# --- sign-in and sign-out -------------------------------------------------------------------------


def test_sign_in_opens_the_window(client):
    headers = login(client, "clerk01")
    body = act(client, "1", "sign-in", headers)
    assert (body["window"], body["state"]) == ("1", "idle")
    assert body["post"]["on_duty"] == "clerk01"


def test_repeated_sign_in_by_the_same_clerk_is_200(client):
    headers = signed_in(client, "1", "clerk01")
    assert act(client, "1", "sign-in", headers)["state"] == "idle"


def test_repeated_sign_in_keeps_the_current_call(client):
    headers, _ = calling(client)
    assert act(client, "1", "sign-in", headers)["state"] == "calling"


def test_sign_in_by_another_clerk_is_409(client):
    signed_in(client, "1", "clerk01")
    r = window_post(client, "1", "sign-in", login(client, "clerk12"))
    assert_error(r, 409, "window_taken")
    assert window_state(client, "1")["post"]["on_duty"] == "clerk01"


def test_a_clerk_signs_in_to_one_window_at_a_time(client):
    headers = signed_in(client, "1", "clerk01")
    assert_error(window_post(client, "2", "sign-in", headers), 409)
    assert window_state(client, "2")["state"] == "closed"


def test_sign_out_closes_the_window_for_the_next_clerk(client):
    headers = signed_in(client, "1", "clerk01")
    assert act(client, "1", "sign-out", headers)["state"] == "closed"
    assert act(client, "1", "sign-in", login(client, "clerk12"))["post"]["on_duty"] == "clerk12"


def test_sign_out_while_calling_is_409(client):
    headers, _ = calling(client)
    assert_error(window_post(client, "1", "sign-out", headers), 409, "window_state")


@pytest.mark.parametrize("user", ["duty01", "fac01"])
def test_non_clerk_roles_cannot_sign_in(client, user):
    assert_error(window_post(client, "1", "sign-in", login(client, user)), 403)
    assert window_state(client, "1")["state"] == "closed"


# --- who may act ----------------------------------------------------------------------------------


def test_clerk_cannot_act_on_a_window_they_are_not_signed_in_to(client):
    take(client, "SB")
    signed_in(client, "1", "clerk01")
    other = signed_in(client, "2", "clerk02")
    assert_error(window_post(client, "1", "call-next", other), 403, "not_your_window")
    assert window_state(client, "1")["state"] == "idle"


def test_clerk_signed_in_nowhere_cannot_act(client):
    signed_in(client, "1", "clerk01")
    assert_error(window_post(client, "1", "pause", login(client, "clerk05"), {"reason": "x"}), 403)


def test_manager_may_act_on_any_window(client):
    take(client, "SB")
    clerk = signed_in(client, "1", "clerk01")
    boss = manager(client)
    assert call_next(client, "1", boss)["number"] == "A001"
    act(client, "1", "start", boss)
    act(client, "1", "finish", clerk)
    assert window_state(client, "1")["state"] == "idle"


def test_admin_may_act_on_any_window(client):
    take(client, "SB")
    signed_in(client, "1", "clerk01")
    assert call_next(client, "1", login(client, "admin01"))["number"] == "A001"


@pytest.mark.parametrize("user", ["fac01", "duty01"])
def test_facility_and_duty_staff_may_not_call(client, user):
    take(client, "SB")
    signed_in(client, "1", "clerk01")
    assert_error(window_post(client, "1", "call-next", login(client, user)), 403, "role")
    assert ticket_list(client, login(client, "clerk01"))[0]["status"] == "waiting"


def test_window_action_without_login_is_401(client):
    signed_in(client, "1", "clerk01")
    assert_error(anonymous(client).post(f"{API}/windows/1/call-next"), 401)


def test_window_action_with_a_bad_token_is_401(client):
    signed_in(client, "1", "clerk01")
    anonymous(client)
    assert_error(window_post(client, "1", "call-next", {"Authorization": "Bearer forged"}), 401)


def test_unknown_window_is_404(client):
    assert_error(window_post(client, "99", "call-next", manager(client)), 404, "unknown_window")
    assert_error(window_post(client, "99", "sign-in", login(client, "clerk01")), 404, "unknown_window")


def test_unknown_hall_is_404_for_a_window_action(client):
    r = client.post("/api/v1/halls/nope/windows/1/call-next", headers=manager(client))
    assert_error(r, 404, "unknown_hall")


# --- call-next and call -----------------------------------------------------------------------------


def test_call_next_answers_the_called_ticket(client, clock):
    tid = take(client, "SB")["id"]
    headers = signed_in(client, "1", "clerk01")
    clock.advance(minutes=3)
    r = window_post(client, "1", "call-next", headers)
    assert r.status_code == 200
    t = r.json()["ticket"]
    assert (t["id"], t["number"], t["service"], t["status"], t["window"]) == (tid, "A001", "SB", "called", "1")
    assert datetime.fromisoformat(t["called_at"]) == clock.now()


def test_call_next_calls_in_order_of_arrival(client, clock):
    for _ in range(3):
        take(client, "SB")
        clock.advance(seconds=30)
    a = signed_in(client, "1", "clerk01")
    b = signed_in(client, "2", "clerk02")
    assert call_next(client, "1", a)["number"] == "A001"
    assert call_next(client, "2", b)["number"] == "A002"
    act(client, "1", "start", a)
    assert call_next(client, "1", a)["number"] == "A003"


def test_call_next_with_nobody_waiting_is_204(client):
    headers = signed_in(client, "1", "clerk01")
    r = window_post(client, "1", "call-next", headers)
    assert r.status_code == 204
    assert r.content == b""
    assert window_state(client, "1")["state"] == "idle"


def test_call_next_is_204_when_nobody_waits_for_that_windows_services(client):
    take(client, "SB")
    headers = signed_in(client, "10", "clerk10")  # household registration only
    assert window_post(client, "10", "call-next", headers).status_code == 204
    assert ticket_list(client, headers)[0]["status"] == "waiting"


def test_domain_window_calls_only_its_services(client, clock):
    take(client, "SB")
    clock.advance(minutes=1)
    take(client, "SW")
    headers = signed_in(client, "5", "clerk05")  # BDC and SW
    assert call_next(client, "5", headers)["number"] == "G001"


def test_long_waiting_normal_ticket_goes_before_a_new_green_one(client, clock):
    take(client, "SB")  # A001
    clock.advance(minutes=25)  # longer than the green channel's 20-minute head start
    take(client, "SB", "id_card", credential=resident_id(80))  # A002, green
    headers = signed_in(client, "1", "clerk01")
    assert call_next(client, "1", headers)["number"] == "A001"


def test_priority_window_calls_green_tickets_first(client, clock):
    take(client, "SB")
    clock.advance(minutes=25)
    take(client, "SB", "id_card", credential=resident_id(80))
    headers = signed_in(client, "9", "clerk09")
    assert call_next(client, "9", headers)["number"] == "A002"


def test_call_next_while_calling_is_409(client):
    take(client, "SB")
    headers, _ = calling(client)
    assert_error(window_post(client, "1", "call-next", headers), 409, "window_state")
    assert {t["number"]: t["status"] for t in ticket_list(client, headers)} == {"A001": "called", "A002": "waiting"}


def test_call_next_from_serving_finishes_the_current_ticket(client):
    take(client, "SB")
    headers, first = serving(client)
    assert call_next(client, "1", headers)["number"] == "A002"
    assert ticket(client, first["id"])["status"] == "finished"
    finished = stored_events(client, "ticket.finished")
    assert [(e["data"]["ticket"], e["data"]["rating"]) for e in finished] == [("A001", None)]


def test_call_out_of_order(client, clock):
    ids = []
    for _ in range(3):
        ids.append(take(client, "SB")["id"])
        clock.advance(seconds=30)
    headers = signed_in(client, "1", "clerk01")
    r = window_post(client, "1", "call", headers, {"ticket_id": ids[2]})
    assert r.status_code == 200
    t = r.json()["ticket"]
    assert (t["number"], t["status"], t["window"]) == ("A003", "called", "1")
    act(client, "1", "start", headers)
    assert call_next(client, "1", headers)["number"] == "A001"


def test_call_an_unknown_ticket_is_404(client):
    headers = signed_in(client, "1", "clerk01")
    assert_error(window_post(client, "1", "call", headers, {"ticket_id": "nope"}), 404, "unknown_ticket")
    assert window_state(client, "1")["state"] == "idle"


def test_call_a_ticket_the_window_does_not_serve_is_409(client):
    tid = take(client, "SB")["id"]
    headers = signed_in(client, "10", "clerk10")
    assert_error(window_post(client, "10", "call", headers, {"ticket_id": tid}), 409)
    assert ticket(client, tid)["status"] == "waiting"


def test_call_a_ticket_already_called_is_409(client):
    headers, t = calling(client)
    other = signed_in(client, "2", "clerk02")
    assert_error(window_post(client, "2", "call", other, {"ticket_id": t["id"]}), 409)
    assert ticket(client, t["id"])["window"] == "1"


@pytest.mark.parametrize("body", [{}, {"ticket_id": 5}, {"ticket": "x"}])
def test_call_with_a_malformed_body_is_400(client, body):
    headers = signed_in(client, "1", "clerk01")
    assert_error(window_post(client, "1", "call", headers, body), 400)


# --- recall, no-show, start, finish -----------------------------------------------------------------


def test_recall_keeps_calling_and_counts_up(client):
    headers, t = calling(client)
    for _ in range(2):
        assert act(client, "1", "recall", headers)["state"] == "calling"
    called = [e["data"] for e in stored_events(client, "ticket.called")]
    assert [(c["ticket"], c["recall"]) for c in called] == [("A001", 0), ("A001", 1), ("A001", 2)]
    assert called[-1]["announcement"] == "请A001号到1号窗口办理"


def test_recall_counts_per_ticket(client):
    take(client, "SB")
    headers, _ = calling(client)
    act(client, "1", "recall", headers)
    act(client, "1", "start", headers)
    call_next(client, "1", headers)
    act(client, "1", "recall", headers)
    called = [e["data"] for e in stored_events(client, "ticket.called")]
    assert [(c["ticket"], c["recall"]) for c in called] == [("A001", 0), ("A001", 1), ("A002", 0), ("A002", 1)]


def test_no_show_frees_the_window_for_the_next_ticket(client):
    take(client, "SB")
    headers, t = calling(client)
    assert act(client, "1", "no-show", headers)["state"] == "idle"
    assert ticket(client, t["id"])["status"] == "no_show"
    assert call_next(client, "1", headers)["number"] == "A002"


def test_start_and_finish(client):
    headers, t = calling(client)
    assert act(client, "1", "start", headers)["state"] == "serving"
    assert ticket(client, t["id"])["status"] == "serving"
    assert act(client, "1", "finish", headers)["state"] == "idle"
    assert ticket(client, t["id"])["status"] == "finished"


@pytest.mark.parametrize("rating", [1, 2, 3, 4, 5])
def test_finish_with_a_rating(client, rating):
    headers, _ = serving(client)
    assert window_post(client, "1", "finish", headers, {"rating": rating}).status_code == 200
    finished = stored_events(client, "ticket.finished")
    assert [e["data"]["rating"] for e in finished] == [rating]


@pytest.mark.parametrize("rating", [0, 6, -1, "good", 2.5])
def test_finish_with_a_rating_out_of_range_is_400(client, rating):
    headers, _ = serving(client)
    assert_error(window_post(client, "1", "finish", headers, {"rating": rating}), 400)
    assert window_state(client, "1")["state"] == "serving"
    assert window_post(client, "1", "finish", headers, {"rating": 5}).status_code == 200


def test_finish_without_a_rating(client):
    headers, _ = serving(client)
    assert act(client, "1", "finish", headers, {})["state"] == "idle"


def test_rating_never_blocks_the_next_call(client):
    take(client, "SB")
    headers, _ = serving(client)
    act(client, "1", "finish", headers)
    assert call_next(client, "1", headers)["number"] == "A002"


@pytest.mark.parametrize(
    ("setup", "action"),
    [
        ("idle", "start"),
        ("idle", "finish"),
        ("idle", "recall"),
        ("idle", "no-show"),
        ("idle", "transfer"),
        ("idle", "resume"),
        ("calling", "finish"),
        ("calling", "pause"),
        ("calling", "transfer"),
        ("serving", "start"),
        ("serving", "recall"),
        ("serving", "no-show"),
        ("serving", "pause"),
    ],
)
def test_action_in_the_wrong_window_state_is_409(client, setup, action):
    if setup == "idle":
        headers = signed_in(client, "1", "clerk01")
    elif setup == "calling":
        headers, _ = calling(client)
    else:
        headers, _ = serving(client)
    body = {"transfer": {"service": "YB"}, "pause": {"reason": "午休"}}.get(action)
    assert_error(window_post(client, "1", action, headers, body), 409, "window_state")
    assert window_state(client, "1")["state"] == setup


def test_action_on_a_closed_window_is_409(client):
    take(client, "SB")
    assert_error(window_post(client, "1", "call-next", manager(client)), 409, "window_state")
    assert ticket_list(client, manager(client))[0]["status"] == "waiting"


# --- transfer --------------------------------------------------------------------------------------


def test_transfer_keeps_the_number_and_the_issue_time(client):
    headers, t = serving(client)
    issued_at = ticket_list(client, headers)[0]["issued_at"]
    r = window_post(client, "1", "transfer", headers, {"service": "YB"})
    assert r.status_code == 200
    assert r.json()["state"] == "idle"
    moved = ticket_list(client, headers)[0]
    assert (moved["number"], moved["service"], moved["status"]) == ("A001", "YB", "waiting")
    assert (moved["priority"], moved["issued_at"]) == ("transferred", issued_at)


def test_transferred_ticket_keeps_its_place_by_original_issue_time(client, clock):
    take(client, "YB")  # B001 at 09:30
    clock.advance(minutes=1)
    take(client, "SB")  # A001 at 09:31
    headers = signed_in(client, "6", "clerk06")
    t = act(client, "6", "call", headers, {"ticket_id": ticket_list(client, headers, service="SB")[0]["id"]})
    act(client, "6", "start", headers)
    clock.advance(minutes=20)
    act(client, "6", "transfer", headers, {"service": "YB"})
    assert call_next(client, "6", headers)["number"] == t["ticket"]["number"] == "A001"


def test_transfer_to_the_same_service_is_409(client):
    headers, _ = serving(client)
    assert_error(window_post(client, "1", "transfer", headers, {"service": "SB"}), 409)
    assert window_state(client, "1")["state"] == "serving"


def test_transfer_to_an_unknown_service_is_404(client):
    headers, _ = serving(client)
    assert_error(window_post(client, "1", "transfer", headers, {"service": "XX"}), 404, "unknown_service")
    assert window_state(client, "1")["state"] == "serving"


@pytest.mark.parametrize("body", [{}, {"service": 7}, {"service": ["YB"]}])
def test_transfer_with_a_malformed_body_is_400(client, body):
    headers, _ = serving(client)
    assert_error(window_post(client, "1", "transfer", headers, body), 400)


# --- pause and resume ------------------------------------------------------------------------------


def test_pause_with_a_reason_and_resume(client):
    take(client, "SB")
    headers = signed_in(client, "1", "clerk01")
    body = act(client, "1", "pause", headers, {"reason": "临时离岗"})
    assert body["state"] == "paused"
    assert window_state(client, "1")["pause_reason"] == "临时离岗"
    assert_error(window_post(client, "1", "call-next", headers), 409, "window_state")
    assert act(client, "1", "resume", headers)["state"] == "idle"
    assert call_next(client, "1", headers)["number"] == "A001"


def test_paused_window_may_sign_out(client):
    headers = signed_in(client, "1", "clerk01")
    act(client, "1", "pause", headers, {"reason": "交接班"})
    assert act(client, "1", "sign-out", headers)["state"] == "closed"


@pytest.mark.parametrize("body", [{}, {"reason": 3}, {"reason": None}])
def test_pause_with_a_malformed_body_is_400(client, body):
    headers = signed_in(client, "1", "clerk01")
    assert_error(window_post(client, "1", "pause", headers, body), 400)
    assert window_state(client, "1")["state"] == "idle"


def test_pause_with_a_blank_reason_is_400(client):
    headers = signed_in(client, "1", "clerk01")
    assert_error(window_post(client, "1", "pause", headers, {"reason": "   "}), 400)
    assert window_state(client, "1")["state"] == "idle"


def test_pause_with_a_non_json_body_is_400(client):
    headers = signed_in(client, "1", "clerk01")
    r = client.post(f"{API}/windows/1/pause", content=b"reason=lunch",
                    headers={**headers, "Content-Type": "application/json"})
    assert_error(r, 400)


# --- the screens see it ---------------------------------------------------------------------------


def test_call_out_event_names_the_window(client, clock):
    take(client, "GJJ")
    headers = signed_in(client, "6", "clerk06")
    clock.advance(minutes=1)
    call_next(client, "6", headers)
    (called,) = stored_events(client, "ticket.called")
    data = called["data"]
    assert (data["ticket"], data["service"], data["window"], data["window_name"]) == ("C001", "GJJ", "6", "6号窗口")
    assert data["announcement"] == "请C001号到6号窗口办理"
    assert called["hall"] == "hn-tja" and called["at"].endswith("+08:00")

