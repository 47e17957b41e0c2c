"""Pickup lockers (亮码取件) end to end with a simulated locker on a real broker (#5)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hall.clock import ManualClock
from tests.brokers import Broker
from tests.conftest import login
from tests.helpers import anonymous, assert_error
from tests.iot import API, build_hall, device_alarms, devices, running, twin, wait_until


@pytest.fixture
def live(tmp_path: Path, clock: ManualClock, broker: Broker):
    h = build_hall(tmp_path, clock, broker)
    try:
        with running(h) as client, devices(broker, ("locker", "locker-01"), slots=12, auto_close_s=None) as devs:
            hd = login(client, "duty01")
            wait_until(lambda: twin(client, hd, "locker-01")["online"], what="locker online")
            yield h, client, hd, devs["locker-01"]
    finally:
        h.close()


def deposit(client, locker, item: str = "营业执照") -> dict:
    clerk = login(client, "clerk01")
    r = client.post(f"{API}/lockers/locker-01/deposits", json={"item": item}, headers=clerk)
    assert r.status_code == 201, r.text
    body = r.json()
    wait_until(lambda: locker.doors[body["slot"]] == "open", what="door opened for the deposit")
    locker.close_door(body["slot"], occupied=True)  # the clerk puts the item in and shuts the door
    wait_until(lambda: slot_of(client, body["slot"])["deposit"]["state"] == "stored", what="deposit stored")
    return body


def slot_of(client, slot: int) -> dict:
    r = client.get(f"{API}/lockers/locker-01", headers=login(client, "duty01"))
    assert r.status_code == 200, r.text
    return next(s for s in r.json()["slots"] if s["slot"] == slot)


def pickup(client, code: str, device: str | None = "locker-01"):
    return anonymous(client).post(f"{API}/lockers/pickup", json={"code": code, **({"device": device} if device else {})})


def test_deposit_and_pickup_with_door_confirmation(live) -> None:
    h, client, hd, locker = live
    d = deposit(client, locker)
    assert len(d["pickup_code"]) == 8 and d["pickup_code"].isdigit()
    r = pickup(client, d["pickup_code"])
    assert r.status_code == 200, r.text
    assert r.json() == {"device": "locker-01", "slot": d["slot"], "status": "opened", "location": "7x24小时自助服务区"}
    assert locker.doors[d["slot"]] == "open"  # the answer came after the locker said so
    locker.close_door(d["slot"], occupied=False)
    wait_until(lambda: slot_of(client, d["slot"])["deposit"] is None, what="slot free again")
    # the code is spent
    assert_error(pickup(client, d["pickup_code"]), 404, "bad_code")
    # no security alarm: both openings had a command behind them
    assert device_alarms(client, login(client, "duty01"), "locker-01", "door_unexpected") == []


def test_the_code_is_stored_hashed(live) -> None:
    h, client, hd, locker = live
    d = deposit(client, locker)
    from sqlalchemy import select

    from hall.db.models import deposit_t
    rows = h.server.db.read_sync(lambda c: list(c.execute(select(deposit_t))))
    assert rows and all(d["pickup_code"] not in r.code_hash for r in rows)


def test_jammed_door_raises_its_alarm_and_the_code_stays_valid(live) -> None:
    h, client, hd, locker = live
    d = deposit(client, locker)
    locker.stuck_door(d["slot"], times=1)
    t0 = time.monotonic()
    assert_error(pickup(client, d["pickup_code"]), 503, "door_jammed")
    assert time.monotonic() - t0 < 6  # door_confirm_s is 2 s
    jam = wait_until(lambda: device_alarms(client, login(client, "duty01"), "locker-01", "door_jam"),
                     what="door_jam alarm")
    assert jam[0]["severity"] == "critical"
    # the lock works again: the same code opens the door, and the jam alarm clears
    r = pickup(client, d["pickup_code"])
    assert r.status_code == 200, r.text
    wait_until(lambda: all(a["state"] != "active" for a in device_alarms(client, login(client, "duty01"),
                                                                       "locker-01", "door_jam")),
               what="jam cleared")


def test_ten_wrong_codes_lock_the_locker_out(live) -> None:
    h, client, hd, locker = live
    d = deposit(client, locker)
    wrong = "0" * 8 if d["pickup_code"] != "0" * 8 else "1" * 8
    for i in range(9):
        body = assert_error(pickup(client, wrong), 404, "bad_code")
        assert body["tries_left"] == 10 - (i + 1)
    assert_error(pickup(client, wrong), 429, "locked_out")
    # now even the right code is refused at this locker, and the door stays shut
    body = assert_error(pickup(client, d["pickup_code"]), 429, "locked_out")
    assert body["retry_after_s"] > 0
    assert locker.doors[d["slot"]] == "closed"
    alarm = wait_until(lambda: device_alarms(client, login(client, "duty01"), "locker-01", "pickup_guessing"),
                       what="guessing alarm")
    assert alarm[0]["severity"] == "critical"
    # after the lockout the right code works
    h.server.clock.advance(16 * 60)  # type: ignore[attr-defined]
    assert pickup(client, d["pickup_code"]).status_code == 200


def test_a_door_opened_with_no_command_raises_the_security_alarm(live) -> None:
    h, client, hd, locker = live
    locker.open_door_by_hand(7)
    alarm = wait_until(lambda: device_alarms(client, hd, "locker-01", "door_unexpected"), what="security alarm")
    assert alarm[0]["severity"] == "critical" and alarm[0]["detail"]["slot"] == 7


def test_a_door_left_open_raises_an_alarm(live) -> None:
    h, client, hd, locker = live
    r = client.post(f"{API}/devices/locker-01/commands", json={"name": "open_door", "args": {"slot": 3}}, headers=hd)
    assert r.status_code == 202, r.text
    wait_until(lambda: client.get(f"{API}/commands/{r.json()['id']}", headers=hd).json()["state"] == "done",
               what="command done")
    alarm = wait_until(lambda: device_alarms(client, hd, "locker-01", "door_open_long"), timeout=30,
                       what="door open too long")  # door_open_alarm_s is 5 s
    assert 3 in alarm[0]["detail"]["slots"]
    assert device_alarms(client, hd, "locker-01", "door_unexpected") == []
    locker.close_door(3, occupied=False)
    wait_until(lambda: all(a["state"] != "active" for a in device_alarms(client, hd, "locker-01", "door_open_long")),
               what="cleared when closed")


def test_full_locker_and_unknown_locker(live) -> None:
    h, client, hd, locker = live
    clerk = login(client, "clerk01")
    assert_error(client.post(f"{API}/lockers/locker-99/deposits", json={"item": "x"}, headers=clerk), 404)
    assert_error(client.post(f"{API}/lockers/locker-01/deposits", json={"item": ""}, headers=clerk), 400, "bad_item")
    assert_error(anonymous(client).post(f"{API}/lockers/locker-01/deposits", json={"item": "x"}), 401)
    assert_error(pickup(client, "12ab"), 400, "bad_code_format")


def test_an_offline_locker_takes_no_deposit_and_opens_no_door(live) -> None:
    h, client, hd, locker = live
    clerk = login(client, "clerk01")
    assert_error(client.post(f"{API}/lockers/locker-02/deposits", json={"item": "证书"}, headers=clerk), 503,
                 "locker_offline")
    r = client.get(f"{API}/lockers/locker-02", headers=hd)
    assert r.json()["free"] == 16  # nothing reserved
    assert_error(pickup(client, "12345678", device="locker-02"), 503, "locker_offline")
