"""REST: booking appointments (one at a time or a CSV import) and checking in at the kiosk."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.conftest import MONDAY_0930, login, signed_in
from tests.helpers import (
    API,
    anonymous,
    assert_error,
    call_next,
    issue,
    resident_id,
    stored_event_texts,
    take,
    ticket_list,
)

NAME = "欧阳小明"


def at(minutes: int) -> str:
    """An ISO time ``minutes`` after the clock fixture's start (Monday 09:30 +08:00)."""
    return (MONDAY_0930 + timedelta(minutes=minutes)).isoformat()


def book(client, start_min: int, end_min: int, service: str = "SB", **person: str) -> dict:
    """Book a slot (as a manager) relative to 09:30; returns the appointment."""
    r = client.post(f"{API}/appointments", headers=login(client, "manager01"),
                    json={"service": service, "slot_start": at(start_min), "slot_end": at(end_min), **person})
    assert r.status_code == 201, r.text
    anonymous(client)
    return r.json()


def check_in(client, appointment_id: str, service: str = "SB"):
    return issue(client, service, "appointment", appointment_id=appointment_id)


def priority_of(client, number: str) -> str:
    listed = ticket_list(client, login(client, "clerk01"))
    return next(t["priority"] for t in listed if t["number"] == number)


# --- booking -----------------------------------------------------------------------------------------


def test_booking_answers_the_appointment(client):
    appt = book(client, 30, 60)
    assert appt["service"] == "SB" and appt["status"] == "booked" and appt["id"]
    assert datetime.fromisoformat(appt["slot_start"]) == MONDAY_0930 + timedelta(minutes=30)
    assert datetime.fromisoformat(appt["slot_end"]) == MONDAY_0930 + timedelta(minutes=60)


@pytest.mark.parametrize("user", ["clerk01", "admin01"])
def test_clerks_and_admins_may_book(client, user):
    r = client.post(f"{API}/appointments", headers=login(client, user),
                    json={"service": "YB", "slot_start": at(0), "slot_end": at(30)})
    assert r.status_code == 201


def test_booking_without_login_is_401(client):
    r = anonymous(client).post(f"{API}/appointments", json={"service": "SB", "slot_start": at(0), "slot_end": at(30)})
    assert_error(r, 401)


@pytest.mark.parametrize("user", ["fac01", "duty01"])
def test_facility_and_duty_staff_may_not_book(client, user):
    r = client.post(f"{API}/appointments", headers=login(client, user),
                    json={"service": "SB", "slot_start": at(0), "slot_end": at(30)})
    assert_error(r, 403, "role")


@pytest.mark.parametrize(
    "body",
    [
        {"slot_start": at(0), "slot_end": at(30)},
        {"service": "SB", "slot_end": at(30)},
        {"service": "SB", "slot_start": "tomorrow morning", "slot_end": at(30)},
        {"service": "SB", "slot_start": at(30), "slot_end": at(0)},
        {"service": 1, "slot_start": at(0), "slot_end": at(30)},
    ],
)
def test_malformed_booking_is_400(client, body):
    assert_error(client.post(f"{API}/appointments", headers=login(client, "manager01"), json=body), 400)


def test_booking_an_unknown_service_is_404(client):
    r = client.post(f"{API}/appointments", headers=login(client, "manager01"),
                    json={"service": "XX", "slot_start": at(0), "slot_end": at(30)})
    assert_error(r, 404, "unknown_service")


def test_booking_with_an_invalid_id_number_is_refused(client):
    r = client.post(f"{API}/appointments", headers=login(client, "manager01"),
                    json={"service": "SB", "slot_start": at(0), "slot_end": at(30), "id_number": "123"})
    assert r.status_code in (400, 403), r.text
    assert_error(r, r.status_code)


# --- checking in ---------------------------------------------------------------------------------


def test_check_in_within_the_slot_gets_the_appointment_priority(client):
    appt = book(client, -10, 20)
    r = check_in(client, appt["id"])
    assert r.status_code == 201
    body = r.json()
    assert (body["number"], body["channel"], body["status"]) == ("A001", "appointment", "waiting")
    assert priority_of(client, "A001") == "appointment"


def test_checked_in_appointment_is_called_before_earlier_walk_ins(client, clock):
    take(client, "SB")
    clock.advance(minutes=5)
    take(client, "SB")
    appt = book(client, 0, 30)
    assert check_in(client, appt["id"]).json()["number"] == "A003"
    headers = signed_in(client, "1", "clerk01")
    assert call_next(client, "1", headers)["number"] == "A003"


def test_check_in_exactly_thirty_minutes_early_is_allowed(client):
    appt = book(client, 30, 60)
    assert check_in(client, appt["id"]).status_code == 201
    assert priority_of(client, "A001") == "appointment"


def test_check_in_too_early_is_409(client):
    appt = book(client, 31, 60)
    body = assert_error(check_in(client, appt["id"]), 409, "appointment_too_early")
    assert "09:31" in body["detail"]  # from when the visitor may check in (30 min before 10:01)
    assert take(client, "SB")["number"] == "A001"


def test_too_early_appointment_checks_in_later(client, clock):
    appt = book(client, 60, 90)
    assert check_in(client, appt["id"]).status_code == 409
    clock.advance(minutes=30)
    assert check_in(client, appt["id"]).status_code == 201


def test_late_within_the_late_minutes_gets_a_normal_ticket(client):
    appt = book(client, -40, -10)  # ended ten minutes ago; late_min is 15
    assert check_in(client, appt["id"]).status_code == 201
    assert priority_of(client, "A001") == "normal"


def test_late_after_the_late_minutes_is_409(client):
    appt = book(client, -40, -16)
    assert_error(check_in(client, appt["id"]), 409, "appointment_expired")
    assert take(client, "SB")["number"] == "A001"


def test_an_appointment_checks_in_once(client):
    appt = book(client, 0, 30)
    assert check_in(client, appt["id"]).status_code == 201
    assert_error(check_in(client, appt["id"]), 409)
    assert take(client, "SB")["number"] == "A002"


def test_check_in_of_an_unknown_appointment_is_404(client):
    assert_error(check_in(client, "NOPE1234"), 404)


def test_check_in_for_another_service_is_409(client):
    appt = book(client, 0, 30, service="GJJ")
    assert_error(check_in(client, appt["id"], "SB"), 409)
    assert check_in(client, appt["id"], "GJJ").status_code == 201


def test_check_in_without_an_appointment_id_is_400(client):
    assert_error(issue(client, "SB", "appointment"), 400)


def test_check_in_outside_opening_hours_is_503(client, clock):
    appt = book(client, 0, 30)
    clock.set(MONDAY_0930.replace(hour=12, minute=10))
    assert_error(check_in(client, appt["id"]), 503, "service_closed")


def test_booked_person_cannot_also_wait_with_an_id_card(client):
    idn = resident_id(40)
    appt = book(client, 0, 30, id_number=idn, name=NAME)
    assert check_in(client, appt["id"]).status_code == 201
    assert_error(issue(client, "SB", "id_card", credential=idn), 409, "already_waiting")


# --- CSV import ------------------------------------------------------------------------------------


def csv_of(*rows: str) -> bytes:
    return ("service,slot_start,slot_end,name,id_number\n" + "".join(r + "\n" for r in rows)).encode()


def import_csv(client, content: bytes, user: str = "manager01"):
    return client.post(f"{API}/appointments/import", content=content,
                       headers={**login(client, user), "Content-Type": "text/csv"})


def test_csv_import_books_every_row(client):
    r = import_csv(client, csv_of(f"SB,{at(0)},{at(30)},{NAME},{resident_id(40)}", f"YB,{at(60)},{at(90)},,"))
    assert r.status_code == 200
    body = r.json()
    assert body["imported"] == 2
    assert [a["service"] for a in body["appointments"]] == ["SB", "YB"]
    first = body["appointments"][0]["id"]
    anonymous(client)
    assert check_in(client, first).status_code == 201
    assert priority_of(client, "A001") == "appointment"


def test_csv_with_a_byte_order_mark_and_local_times_imports(client):
    content = "\ufeff".encode() + csv_of("HJ,2026-11-23T09:00,2026-11-23T10:00,,")
    r = import_csv(client, content)
    assert r.status_code == 200
    (appt,) = r.json()["appointments"]
    assert appt["slot_start"] == "2026-11-23T09:00:00+08:00"


def test_csv_with_a_bad_row_is_400_naming_the_line(client):
    good = f"SB,{at(0)},{at(30)},,"
    body = assert_error(import_csv(client, csv_of(good, "SB,yesterday,today,,")), 400, "bad_csv")
    assert "第3行" in body["detail"] and "line 3" in body["detail"]


def test_csv_with_an_unknown_service_is_400(client):
    assert_error(import_csv(client, csv_of(f"XX,{at(0)},{at(30)},,")), 400, "bad_csv")


def test_csv_that_is_not_utf8_is_400(client):
    assert_error(import_csv(client, "service\n社保".encode("gbk")), 400)


@pytest.mark.parametrize("user", ["clerk01", "fac01"])
def test_csv_import_is_for_managers(client, user):
    assert_error(import_csv(client, csv_of(f"SB,{at(0)},{at(30)},,"), user), 403)


def test_csv_import_without_login_is_401(client):
    r = anonymous(client).post(f"{API}/appointments/import", content=csv_of(f"SB,{at(0)},{at(30)},,"))
    assert_error(r, 401)


# --- personal data -------------------------------------------------------------------------------


def test_appointment_answers_and_events_show_no_name_or_id_number(client):
    idn = resident_id(40)
    appt = client.post(f"{API}/appointments", headers=login(client, "manager01"),
                       json={"service": "SB", "slot_start": at(0), "slot_end": at(30), "name": NAME,
                             "id_number": idn})
    imported = import_csv(client, csv_of(f"YB,{at(0)},{at(30)},{NAME},{idn}"))
    anonymous(client)
    answers = [appt.text, imported.text, check_in(client, appt.json()["id"]).text]
    answers.append(client.get(f"{API}/tickets", headers=login(client, "clerk01")).text)
    answers += stored_event_texts(client)
    for text in answers:
        assert NAME not in text and idn not in text
