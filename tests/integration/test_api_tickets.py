"""REST: services, issuing tickets (every channel), a ticket by id, the staff ticket list, re-queue."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from hall.queue.idcard import make_resident_id
from tests.conftest import MONDAY_0930, TZ, login, signed_in
from tests.helpers import (
    API,
    act,
    anonymous,
    assert_error,
    bad_checksum,
    call_next,
    issue,
    resident_id,
    stored_event_texts,
    take,
    ticket,
    ticket_list,
)

SERVICES = ["SB", "YB", "GJJ", "BDC", "QY", "HJ", "SW"]
NAME = "张小三"


def numbers(tickets: list[dict]) -> list[str]:
    return [t["number"] for t in tickets]


# --- services ------------------------------------------------------------------------------------


def test_services_list_every_service_open_on_a_weekday_morning(client):
    r = client.get(f"{API}/services")
    assert r.status_code == 200
    services = r.json()
    assert [s["code"] for s in services] == SERVICES
    sb = services[0]
    assert (sb["name"], sb["prefix"], sb["waiting"], sb["open"]) == ("社保", "A", 0, True)
    assert all(s["open"] for s in services)


def test_services_count_the_waiting_and_estimate_a_wait(client):
    take(client, "SB")
    take(client, "SB")
    take(client, "YB")
    by_code = {s["code"]: s for s in client.get(f"{API}/services").json()}
    assert (by_code["SB"]["waiting"], by_code["YB"]["waiting"], by_code["GJJ"]["waiting"]) == (2, 1, 0)
    assert by_code["SB"]["est_wait_s"] > 0
    assert by_code["GJJ"]["est_wait_s"] == 0


def test_on_saturday_only_household_registration_is_open(client, clock):
    clock.set(datetime(2026, 11, 28, 10, 0, tzinfo=TZ))
    open_now = [s["code"] for s in client.get(f"{API}/services").json() if s["open"]]
    assert open_now == ["HJ"]


# --- issuing ---------------------------------------------------------------------------------------


def test_walk_in_ticket_answers_the_contract_fields(client):
    r = issue(client, "SB")
    assert r.status_code == 201
    body = r.json()
    assert body["number"] == "A001"
    assert (body["service"], body["channel"], body["status"], body["ahead"]) == ("SB", "walk_in", "waiting", 0)
    assert datetime.fromisoformat(body["issued_at"]) == MONDAY_0930
    assert body["issued_at"].endswith("+08:00")
    assert body["track_url"].endswith(body["id"])
    assert isinstance(body["est_wait_s"], int)


def test_numbers_count_up_per_service(client):
    issued = [take(client, s)["number"] for s in ("SB", "SB", "YB", "SB", "HJ")]
    assert issued == ["A001", "A002", "B001", "A003", "F001"]


def test_people_ahead_count_up(client):
    assert [take(client, "GJJ")["ahead"] for _ in range(3)] == [0, 1, 2]


def test_numbers_start_again_the_next_day(client, clock):
    assert take(client, "SB")["number"] == "A001"
    assert take(client, "SB")["number"] == "A002"
    clock.advance(days=1)
    assert take(client, "SB")["number"] == "A001"


def test_every_channel_without_credential_is_accepted(client):
    for channel in ("walk_in", "mobile"):
        assert take(client, "YB", channel)["channel"] == channel


@pytest.mark.parametrize(
    "when",
    [
        datetime(2026, 11, 23, 3, 0, tzinfo=TZ),  # Monday night
        datetime(2026, 11, 23, 12, 30, tzinfo=TZ),  # lunch break
        datetime(2026, 11, 29, 10, 0, tzinfo=TZ),  # Sunday
    ],
)
def test_closed_service_is_503_with_opening_hours(client, clock, when):
    clock.set(when)
    body = assert_error(issue(client, "SB"), 503, "service_closed")
    assert "08:30-12:00" in body["detail"] and "13:30-17:30" in body["detail"]


def test_closed_service_issues_nothing(client, clock):
    clock.set(datetime(2026, 11, 23, 3, 0, tzinfo=TZ))
    assert issue(client, "SB").status_code == 503
    clock.set(MONDAY_0930)
    assert take(client, "SB")["number"] == "A001"


def test_household_registration_is_open_on_saturday(client, clock):
    clock.set(datetime(2026, 11, 28, 10, 0, tzinfo=TZ))
    assert take(client, "HJ")["number"] == "F001"
    assert_error(issue(client, "SB"), 503, "service_closed")


def test_opening_hours_boundaries(client, clock):
    clock.set(datetime(2026, 11, 23, 8, 29, tzinfo=TZ))
    assert issue(client, "SB").status_code == 503
    clock.set(datetime(2026, 11, 23, 8, 30, tzinfo=TZ))
    assert issue(client, "SB").status_code == 201
    clock.set(datetime(2026, 11, 23, 12, 0, tzinfo=TZ))
    assert issue(client, "SB").status_code == 503


# --- errors of issuing ---------------------------------------------------------------------------


def test_unknown_service_is_404(client):
    assert_error(issue(client, "XX"), 404, "unknown_service")


@pytest.mark.parametrize(
    "path",
    ["/api/v1/halls/nope/services", "/api/v1/halls/nope/tickets/abc", "/api/v1/halls/nope/windows"],
)
def test_unknown_hall_is_404_for_public_reads(client, path):
    assert_error(client.get(path), 404, "unknown_hall")


def test_unknown_hall_is_404_when_issuing(client):
    r = client.post("/api/v1/halls/nope/tickets", json={"service": "SB", "channel": "walk_in"})
    assert_error(r, 404, "unknown_hall")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/tickets"), ("POST", "/tickets/abc/requeue"), ("POST", "/appointments"),
     ("POST", "/appointments/import")],
)
def test_unknown_hall_is_404_for_staff_endpoints(client, method, path):
    headers = login(client, "manager01")
    body = {"service": "SB", "slot_start": "2026-11-23T10:00:00+08:00", "slot_end": "2026-11-23T10:30:00+08:00"}
    r = client.request(method, f"/api/v1/halls/nope{path}", headers=headers, json=body if method == "POST" else None)
    assert_error(r, 404, "unknown_hall")


def test_unknown_ticket_is_404(client):
    assert_error(client.get(f"{API}/tickets/no-such-ticket"), 404, "unknown_ticket")


@pytest.mark.parametrize(
    "body",
    [
        {"channel": "walk_in"},  # no service
        {"service": "SB"},  # no channel
        {"service": 12, "channel": "walk_in"},
        {"service": "SB", "channel": ["walk_in"]},
        {"service": "SB", "channel": "walk_in", "credential": 340102},
        ["SB", "walk_in"],
        "SB",
    ],
)
def test_malformed_ticket_body_is_400(client, body):
    assert_error(client.post(f"{API}/tickets", json=body), 400)


@pytest.mark.parametrize("content", [b"{service: SB}", b"", b"\xff\xfe"])
def test_non_json_ticket_body_is_400(client, content):
    r = client.post(f"{API}/tickets", content=content, headers={"Content-Type": "application/json"})
    assert_error(r, 400)


def test_unknown_channel_is_400(client):
    assert_error(issue(client, "SB", "carrier_pigeon"), 400, "bad_channel")


@pytest.mark.parametrize("channel", ["id_card", "ankang"])
def test_channel_needing_a_credential_without_one_is_400(client, channel):
    assert_error(issue(client, "SB", channel), 400)
    assert_error(issue(client, "SB", channel, credential="  "), 400)


def test_malformed_request_issues_nothing(client):
    client.post(f"{API}/tickets", json={"service": 12, "channel": "walk_in"})
    issue(client, "SB", "carrier_pigeon")
    assert take(client, "SB")["number"] == "A001"


def test_the_openapi_document_shows_the_error_body_the_api_really_sends(client):
    """Found by schemathesis: the document showed Litestar's default ``{status_code, detail, extra}`` for a
    400, while every error is ``{error, detail}``; the other error statuses were not documented at all."""
    doc = client.get("/schema/openapi.json").json()
    responses = doc["paths"]["/api/v1/halls/{hall}/tickets"]["post"]["responses"]
    for status in ("400", "401", "403", "404", "409", "429", "503"):
        schema = responses[status]["content"]["application/json"]["schema"]
        if "$ref" in schema:
            schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        assert sorted(schema["required"]) == ["detail", "error"], status
    r = issue(client, "NOPE")
    assert r.status_code == 404 and set(r.json()) == {"error", "detail"}


# --- idempotency -----------------------------------------------------------------------------------


def test_retry_with_the_same_idempotency_key_returns_the_first_answer(client):
    key = {"Idempotency-Key": "kiosk-01-000042"}
    first = issue(client, "SB", headers=key)
    again = issue(client, "SB", headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert take(client, "SB")["number"] == "A002"
    assert sorted(numbers(ticket_list(client, login(client, "clerk01")))) == ["A001", "A002"]


def test_retry_after_closing_time_still_returns_the_first_answer(client, clock):
    key = {"Idempotency-Key": "kiosk-01-000043"}
    clock.set(MONDAY_0930.replace(hour=11, minute=59, second=59))
    first = issue(client, "SB", headers=key)
    clock.advance(seconds=2)  # the kiosk's retry arrives after 12:00
    again = issue(client, "SB", headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()


def test_retry_while_the_ankang_verifier_is_down_returns_the_first_answer(client, hall):
    key = {"Idempotency-Key": "kiosk-01-000044"}
    code = hall.standin.issue(NAME, resident_id(40))
    first = issue(client, "SB", "ankang", credential=code, headers=key)
    hall.standin.stop()
    again = issue(client, "SB", "ankang", credential=code, headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()


def test_overlong_idempotency_key_is_400(client):
    assert_error(issue(client, "SB", headers={"Idempotency-Key": "k" * 129}), 400)
    assert take(client, "SB")["number"] == "A001"


def test_different_idempotency_keys_issue_different_tickets(client):
    a = issue(client, "SB", headers={"Idempotency-Key": "k-1"}).json()
    b = issue(client, "SB", headers={"Idempotency-Key": "k-2"}).json()
    assert (a["number"], b["number"]) == ("A001", "A002")


def test_retried_id_card_ticket_is_not_a_second_ticket_for_the_person(client):
    key = {"Idempotency-Key": "kiosk-02-7"}
    idn = resident_id(40)
    first = issue(client, "SB", "id_card", credential=idn, headers=key)
    again = issue(client, "SB", "id_card", credential=idn, headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]


# --- ID card channel ----------------------------------------------------------------------------


def test_id_card_of_an_adult_gets_a_normal_ticket(client):
    body = take(client, "SB", "id_card", credential=resident_id(40))
    assert (body["number"], body["channel"]) == ("A001", "id_card")
    assert ticket_list(client, login(client, "clerk01"))[0]["priority"] == "normal"


def test_id_card_of_a_person_aged_70_gets_the_green_channel(client):
    take(client, "SB", "id_card", credential=resident_id(70))
    assert ticket_list(client, login(client, "clerk01"))[0]["priority"] == "green"


def test_green_channel_starts_on_the_70th_birthday(client):
    today = MONDAY_0930.date()
    turns_70_today = make_resident_id("340102", date(today.year - 70, today.month, today.day), 11)
    turns_70_tomorrow = make_resident_id("340102", date(today.year - 70, today.month, today.day) + timedelta(days=1),
                                         13)
    take(client, "SB", "id_card", credential=turns_70_today)
    take(client, "SB", "id_card", credential=turns_70_tomorrow)
    listed = {t["number"]: t["priority"] for t in ticket_list(client, login(client, "clerk01"))}
    assert listed == {"A001": "green", "A002": "normal"}


def test_green_ticket_is_called_before_earlier_normal_tickets(client, clock):
    take(client, "SB")
    clock.advance(minutes=2)
    take(client, "SB")
    clock.advance(minutes=2)
    take(client, "SB", "id_card", credential=resident_id(75))
    headers = signed_in(client, "1", "clerk01")
    assert call_next(client, "1", headers)["number"] == "A003"


def test_green_ticket_shows_nobody_ahead(client):
    take(client, "SB")
    take(client, "SB")
    assert take(client, "SB", "id_card", credential=resident_id(80))["ahead"] == 0


def test_id_card_with_a_wrong_check_character_is_403_and_issues_nothing(client):
    assert_error(issue(client, "SB", "id_card", credential=bad_checksum(resident_id(40))), 403)
    assert take(client, "SB")["number"] == "A001"


@pytest.mark.parametrize("credential", ["12345", "34010219901301123X", "ABCDEFGHIJKLMNOPQR"])
def test_id_card_that_cannot_be_a_resident_id_is_403(client, credential):
    assert_error(issue(client, "SB", "id_card", credential=credential), 403)


def test_id_card_born_in_the_future_is_403(client):
    unborn = make_resident_id("340102", MONDAY_0930.date() + timedelta(days=400), 21)
    assert_error(issue(client, "SB", "id_card", credential=unborn), 403)


def test_the_same_person_cannot_wait_twice_for_one_service(client):
    idn = resident_id(40)
    take(client, "SB", "id_card", credential=idn)
    assert_error(issue(client, "SB", "id_card", credential=idn), 409, "already_waiting")
    assert take(client, "SB")["number"] == "A002"  # the refused request used no number


def test_the_same_person_may_wait_for_two_services(client):
    idn = resident_id(40)
    take(client, "SB", "id_card", credential=idn)
    assert take(client, "YB", "id_card", credential=idn)["number"] == "B001"


def test_id_card_written_with_spaces_or_lower_case_x_is_the_same_person(client):
    idn = next(make_resident_id("340102", date(1990, 1, 1), s) for s in range(1000)
               if make_resident_id("340102", date(1990, 1, 1), s).endswith("X"))
    take(client, "SB", "id_card", credential=idn)
    spaced = f"{idn[:6]} {idn[6:14]} {idn[14:].lower()}"
    assert_error(issue(client, "SB", "id_card", credential=spaced), 409, "already_waiting")


def test_the_person_may_take_a_new_ticket_once_served(client):
    idn = resident_id(40)
    take(client, "SB", "id_card", credential=idn)
    headers = signed_in(client, "1", "clerk01")
    call_next(client, "1", headers)
    act(client, "1", "start", headers)
    act(client, "1", "finish", headers)
    assert take(client, "SB", "id_card", credential=idn)["number"] == "A002"


# --- 安康码 channel ------------------------------------------------------------------------------


def test_valid_ankang_code_issues_a_ticket(client, hall):
    code = hall.standin.issue(NAME, resident_id(40))
    body = take(client, "SB", "ankang", credential=code)
    assert (body["number"], body["channel"], body["status"]) == ("A001", "ankang", "waiting")


def test_ankang_code_of_an_elderly_person_gets_the_green_channel(client, hall):
    take(client, "SB", "ankang", credential=hall.standin.issue(NAME, resident_id(72)))
    assert ticket_list(client, login(client, "clerk01"))[0]["priority"] == "green"


@pytest.mark.parametrize("kind", [{"ttl_s": 0}, {"status": "revoked"}])
def test_expired_or_revoked_ankang_code_is_403(client, hall, kind):
    code = hall.standin.issue(NAME, resident_id(40), **kind)
    assert_error(issue(client, "SB", "ankang", credential=code), 403, "credential_refused")
    assert take(client, "SB")["number"] == "A001"


def test_unknown_ankang_code_is_403(client):
    assert_error(issue(client, "SB", "ankang", credential="AHAKMAAAAAAAAAAAAAAAAAAAA"), 403, "credential_refused")


def test_ankang_verifier_down_is_503_with_the_id_card_fallback(client, hall):
    code = hall.standin.issue(NAME, resident_id(40))
    hall.standin.stop()
    body = assert_error(issue(client, "SB", "ankang", credential=code), 503, "verifier_unavailable")
    assert body["fallback"] == "id_card"
    assert take(client, "SB", "id_card", credential=resident_id(40))["number"] == "A001"


def test_ankang_and_id_card_of_one_person_are_one_person(client, hall):
    idn = resident_id(40)
    take(client, "SB", "ankang", credential=hall.standin.issue(NAME, idn))
    assert_error(issue(client, "SB", "id_card", credential=idn), 409, "already_waiting")
    assert_error(issue(client, "SB", "ankang", credential=hall.standin.issue(NAME, idn)), 409, "already_waiting")


# --- a ticket by id ------------------------------------------------------------------------------


def test_ticket_by_id_shows_people_ahead(client):
    ids = [take(client, "SB")["id"] for _ in range(3)]
    t = ticket(client, ids[2])
    assert (t["id"], t["number"], t["status"], t["ahead"]) == (ids[2], "A003", "waiting", 2)
    assert t["est_wait_s"] > 0
    assert t.get("window") is None


def test_ticket_by_id_follows_the_call(client):
    first, second = take(client, "SB")["id"], take(client, "SB")["id"]
    headers = signed_in(client, "3", "clerk03")
    call_next(client, "3", headers)
    called = ticket(client, first)
    assert (called["status"], called["window"]) == ("called", "3")
    assert ticket(client, second)["ahead"] == 0


def test_ticket_by_id_needs_no_login(client):
    tid = take(client, "SB")["id"]
    login(client, "clerk01")
    assert anonymous(client).get(f"{API}/tickets/{tid}").status_code == 200


# --- the staff ticket list ------------------------------------------------------------------------


def three_tickets(client, clock) -> list[dict]:
    """A001 (09:30), B001 (09:31), A002 (09:32)."""
    out = []
    for service in ("SB", "YB", "SB"):
        out.append(take(client, service))
        clock.advance(minutes=1)
    return out


def test_ticket_list_without_login_is_401(client):
    take(client, "SB")
    assert_error(anonymous(client).get(f"{API}/tickets"), 401)


def test_ticket_list_with_a_bad_token_is_401(client):
    r = anonymous(client).get(f"{API}/tickets", headers={"Authorization": "Bearer not-a-token"})
    assert_error(r, 401)


@pytest.mark.parametrize("user", ["clerk01", "duty01", "fac01", "manager01", "admin01"])
def test_every_staff_role_may_list_tickets(client, user):
    take(client, "SB")
    assert numbers(ticket_list(client, login(client, user))) == ["A001"]


def test_ticket_list_is_newest_first_with_the_contract_fields(client, clock):
    three_tickets(client, clock)
    listed = ticket_list(client, login(client, "clerk01"))
    assert numbers(listed) == ["A002", "B001", "A001"]
    first = listed[0]
    assert (first["service"], first["channel"], first["status"], first["priority"]) == ("SB", "walk_in", "waiting",
                                                                                         "normal")
    assert datetime.fromisoformat(first["issued_at"]) == MONDAY_0930 + timedelta(minutes=2)


def test_ticket_list_filters_by_service_and_status(client, clock):
    three_tickets(client, clock)
    headers = signed_in(client, "1", "clerk01")
    call_next(client, "1", headers)  # A001
    assert numbers(ticket_list(client, headers, service="SB")) == ["A002", "A001"]
    called = ticket_list(client, headers, status="called")
    assert numbers(called) == ["A001"]
    assert called[0]["window"] == "1" and called[0]["called_at"]
    assert numbers(ticket_list(client, headers, status="waiting", service="SB")) == ["A002"]


def test_ticket_list_filters_by_date(client, clock):
    take(client, "SB")
    clock.advance(days=1)
    take(client, "SB")
    clock.advance(minutes=1)
    take(client, "YB")
    headers = login(client, "clerk01")
    assert numbers(ticket_list(client, headers, date="2026-11-23")) == ["A001"]
    assert numbers(ticket_list(client, headers, date="2026-11-24")) == ["B001", "A001"]
    assert ticket_list(client, headers, date="2026-11-22") == []


def test_ticket_list_pages_with_limit_and_before(client, clock):
    for _ in range(5):
        take(client, "SB")
        clock.advance(seconds=10)
    headers = login(client, "clerk01")
    page1 = ticket_list(client, headers, limit=2)
    assert numbers(page1) == ["A005", "A004"]
    page2 = ticket_list(client, headers, limit=2, before=page1[-1]["id"])
    assert numbers(page2) == ["A003", "A002"]
    page3 = ticket_list(client, headers, limit=2, before=page2[-1]["id"])
    assert numbers(page3) == ["A001"]


def test_ticket_list_pages_tickets_issued_in_the_same_instant(client):
    for _ in range(4):
        take(client, "SB")  # the clock stands still: all four in one millisecond
    headers = login(client, "clerk01")
    page1 = ticket_list(client, headers, limit=2)
    page2 = ticket_list(client, headers, limit=2, before=page1[-1]["id"])
    assert numbers(page1) + numbers(page2) == ["A004", "A003", "A002", "A001"]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": "many"}, {"limit": 100000}])
def test_ticket_list_with_a_bad_limit_is_400(client, params):
    headers = login(client, "clerk01")
    assert_error(client.get(f"{API}/tickets", params=params, headers=headers), 400)


def test_ticket_list_before_an_unknown_ticket_is_404(client):
    headers = login(client, "clerk01")
    assert_error(client.get(f"{API}/tickets", params={"before": "nope"}, headers=headers), 404, "unknown_ticket")


# --- re-queue after a no-show ----------------------------------------------------------------------


def missed_ticket(client) -> tuple[str, dict[str, str]]:
    """A001 called at window 1 and marked no-show; returns its id and the clerk's headers."""
    tid = take(client, "SB")["id"]
    headers = signed_in(client, "1", "clerk01")
    call_next(client, "1", headers)
    act(client, "1", "no-show", headers)
    return tid, headers


def test_no_show_is_requeued_within_the_grace_period(client, clock):
    tid, headers = missed_ticket(client)
    clock.advance(minutes=29)
    r = client.post(f"{API}/tickets/{tid}/requeue", headers=headers)
    assert r.status_code == 200
    assert r.json()["status"] == "waiting"
    assert ticket(client, tid)["status"] == "waiting"
    assert call_next(client, "1", headers)["number"] == "A001"


def test_requeued_ticket_goes_to_the_end_of_the_queue(client, clock):
    tid, headers = missed_ticket(client)
    clock.advance(minutes=5)
    take(client, "SB")  # A002, after the no-show
    assert client.post(f"{API}/tickets/{tid}/requeue", headers=headers).status_code == 200
    assert call_next(client, "1", headers)["number"] == "A002"
    act(client, "1", "start", headers)
    assert call_next(client, "1", headers)["number"] == "A001"


def test_requeue_after_the_grace_period_is_409(client, clock):
    tid, headers = missed_ticket(client)
    clock.advance(minutes=31)
    assert_error(client.post(f"{API}/tickets/{tid}/requeue", headers=headers), 409, "grace_expired")
    assert ticket(client, tid)["status"] == "no_show"


def test_requeue_of_a_waiting_ticket_is_409(client):
    tid = take(client, "SB")["id"]
    headers = login(client, "clerk01")
    assert_error(client.post(f"{API}/tickets/{tid}/requeue", headers=headers), 409)


def test_requeue_needs_staff(client):
    tid, _ = missed_ticket(client)
    assert_error(anonymous(client).post(f"{API}/tickets/{tid}/requeue"), 401)


def test_requeue_of_an_unknown_ticket_is_404(client):
    headers = login(client, "clerk01")
    assert_error(client.post(f"{API}/tickets/nope/requeue", headers=headers), 404, "unknown_ticket")


# --- personal data -------------------------------------------------------------------------------


def test_no_answer_or_event_shows_the_id_number_or_the_name(client, hall):
    idn_card, idn_ankang = resident_id(40, 11), resident_id(75, 13)
    answers = [
        issue(client, "SB", "id_card", credential=idn_card).text,
        issue(client, "SB", "ankang", credential=hall.standin.issue(NAME, idn_ankang)).text,
        issue(client, "SB", "id_card", credential=idn_card).text,  # the 409 answer too
    ]
    headers = signed_in(client, "1", "clerk01")
    for _ in range(2):
        answers.append(client.post(f"{API}/windows/1/call-next", headers=headers).text)
        answers.append(client.post(f"{API}/windows/1/recall", headers=headers).text)
        answers.append(client.get(f"{API}/windows").text)
        answers.append(client.post(f"{API}/windows/1/start", headers=headers).text)
    answers.append(client.get(f"{API}/tickets", headers=headers).text)
    answers += [client.get(f"{API}/tickets/{t['id']}").text for t in ticket_list(client, headers)]
    answers += stored_event_texts(client)
    with client.websocket_connect("/ws/halls/hn-tja") as ws:
        answers.append(ws.receive_text())
    for text in answers:
        for secret in (idn_card, idn_ankang, NAME, idn_card[6:14], idn_ankang[6:14]):
            assert secret not in text
