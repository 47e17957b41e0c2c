"""Commands to devices (#5): stored before they are published, answered, never resent; timeouts and
restarts leave visible outcomes; a locker reconciles with the server after a restart."""

from __future__ import annotations

import time

from hall.clock import ManualClock
from tests.conftest import login
from tests.helpers import assert_error
from tests.iot import API, build_hall, device_alarms, devices, running, twin, wait_until


def send(client, hd, device: str, name: str, args: dict | None = None):
    return client.post(f"{API}/devices/{device}/commands", json={"name": name, "args": args or {}}, headers=hd)


def command(client, hd, cmd_id: str) -> dict:
    r = client.get(f"{API}/commands/{cmd_id}", headers=hd)
    assert r.status_code == 200, r.text
    return r.json()


def states(client, hd, cmd_id: str) -> list[str]:
    r = client.get(f"{API}/devices/{command(client, hd, cmd_id)['device']}", headers=hd)
    return [c["state"] for c in r.json()["commands"] if c["id"] == cmd_id]


def test_commands_run_once_and_report_their_progress(tmp_path, clock: ManualClock, broker) -> None:
    h = build_hall(tmp_path, clock, broker)
    try:
        with running(h) as client, devices(broker, ("kiosk", "kiosk-01"), ("ticket_printer", "printer-01"),
                                           ("screen", "screen-01")) as devs:
            hd = login(client, "duty01")
            for d in ("kiosk-01", "printer-01", "screen-01"):
                wait_until(lambda d=d: twin(client, hd, d)["online"], what=f"{d} online")
            # display: pending → sent → accepted → done, and the screen shows it
            r = send(client, hd, "screen-01", "display", {"text": "系统维护中"})
            assert r.status_code == 202, r.text
            c = r.json()
            assert c["state"] in ("sent", "accepted", "done") and c["by"] == "duty01"
            done = wait_until(lambda: (x := command(client, hd, c["id"]))["state"] == "done" and x, what="done")
            assert done["sent_at"] and done["acked_at"] and done["done_at"]
            assert devs["screen-01"].text == "系统维护中"
            assert devs["screen-01"].stats.commands == 1
            # print a test slip on a printer out of paper: a visible failure with the device's reason
            devs["printer-01"].run_out_of_paper()
            r = send(client, hd, "printer-01", "print")
            failed = wait_until(lambda: (x := command(client, hd, r.json()["id"]))["state"] == "failed" and x,
                                what="print failed")
            assert failed["detail"]["reason"] == "paper_out"
            # reboot: done, a new boot, and no offline alarm for it
            boot = twin(client, hd, "kiosk-01")["boot"]
            r = send(client, hd, "kiosk-01", "reboot")
            wait_until(lambda: command(client, hd, r.json()["id"])["state"] == "done", what="reboot done")
            wait_until(lambda: twin(client, hd, "kiosk-01")["boot"] > boot, what="new boot")
            assert device_alarms(client, hd, "kiosk-01", "offline") == []
            # the event stream carried each step
            kinds = [e["type"] for e in _events(client) if e["type"].startswith("command.")]
            assert {"command.pending", "command.sent", "command.accepted", "command.done", "command.failed"} <= set(kinds)
    finally:
        h.close()


def test_bad_commands_are_refused(tmp_path, clock: ManualClock, broker) -> None:
    h = build_hall(tmp_path, clock, broker)
    try:
        with running(h) as client:
            hd = login(client, "duty01")
            assert_error(send(client, hd, "locker-01", "open_door", {"slot": 99}), 400, "bad_slot")
            assert_error(send(client, hd, "locker-01", "self_destruct"), 400, "unknown_command")
            assert_error(send(client, hd, "env-01", "print"), 409, "command_not_supported")
            assert_error(send(client, hd, "ghost-01", "reboot"), 404, "unknown_device")
            assert_error(send(client, login(client, "fac01"), "kiosk-01", "reboot"), 403)
            assert_error(send(client, login(client, "clerk01"), "kiosk-01", "reboot"), 403)
    finally:
        h.close()


def test_an_unanswered_command_times_out_and_is_never_resent(tmp_path, clock: ManualClock, broker) -> None:
    h = build_hall(tmp_path, clock, broker)
    try:
        with running(h) as client, devices(broker, ("locker", "locker-01"), slots=12, auto_close_s=None) as devs:
            hd = login(client, "duty01")
            wait_until(lambda: twin(client, hd, "locker-01")["online"], what="online")
            devs["locker-01"].stuck_door(5, times=None)
            r = send(client, hd, "locker-01", "open_door", {"slot": 5})
            cmd_id = r.json()["id"]
            wait_until(lambda: command(client, hd, cmd_id)["state"] == "accepted", what="accepted")
            clock.advance(6)  # command_timeout_s is 5
            timed_out = wait_until(lambda: (x := command(client, hd, cmd_id))["state"] == "timeout" and x,
                                   what="timeout")
            assert timed_out["detail"]["after_s"] == 5
            wait_until(lambda: device_alarms(client, hd, "locker-01", "door_jam"), what="jam alarm")
            assert devs["locker-01"].stats.commands == 1  # sent once, never again
            assert devs["locker-01"].doors[5] == "closed"
    finally:
        h.close()


def test_after_a_restart_commands_in_flight_are_unknown_and_lockers_reconciled(tmp_path, clock: ManualClock,
                                                                              broker) -> None:
    h = build_hall(tmp_path, clock, broker)
    with devices(broker, ("locker", "locker-01"), slots=12, auto_close_s=None) as devs:
        locker = devs["locker-01"]
        try:
            with running(h) as client:
                hd = login(client, "duty01")
                wait_until(lambda: twin(client, hd, "locker-01")["online"], what="online")
                r = client.post(f"{API}/lockers/locker-01/deposits", json={"item": "不动产权证书"},
                                headers=login(client, "clerk01"))
                dep = r.json()
                wait_until(lambda: locker.doors[dep["slot"]] == "open", what="door open")
                locker.close_door(dep["slot"], occupied=True)
                wait_until(lambda: _slot(client, hd, dep["slot"])["deposit"]["state"] == "stored", what="stored")
                locker.stuck_door(9, times=None)
                stuck = send(client, hd, "locker-01", "open_door", {"slot": 9}).json()
                wait_until(lambda: command(client, hd, stuck["id"])["state"] == "accepted", what="accepted")
        finally:
            h.close()
        # While the server is down the locker reports (a broker that queues QoS 0 for the server's
        # session keeps this report for it), then the item disappears (a sensor that disagrees, or a
        # forced door): the server must reconcile with the locker as it is, not with the kept report.
        assert locker.send_telemetry()
        time.sleep(0.2)
        with locker._lock:
            locker.occupied[dep["slot"]] = False
        h2 = build_hall(tmp_path, clock, broker, fresh=False)
        try:
            with running(h2) as client:
                hd = login(client, "duty01")
                assert command(client, hd, stuck["id"])["state"] == "unknown"
                assert locker.stats.commands == 2  # the deposit's and the stuck one: nothing resent
                wait_until(lambda: _slot(client, hd, dep["slot"])["deposit"] is None, what="reconciled")
                alarm = wait_until(lambda: device_alarms(client, hd, "locker-01", "slot_mismatch"), what="alarm")
                assert alarm[0]["detail"]["slot"] == dep["slot"]
                assert_error(client.post(f"{API}/lockers/pickup", json={"code": dep["pickup_code"]}), 404, "bad_code")
        finally:
            h2.close()


def _slot(client, hd, slot: int) -> dict:
    r = client.get(f"{API}/lockers/locker-01", headers=hd)
    return next(s for s in r.json()["slots"] if s["slot"] == slot)


def _events(client) -> list[dict]:
    from tests.helpers import stored_events

    return stored_events(client)
