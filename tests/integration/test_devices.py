"""Devices over MQTT against a real broker: connectivity, reboots, duplicates, bad input (#5)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import select

from hall.clock import ManualClock
from hall.db.models import event_t
from tests.brokers import Broker
from tests.conftest import login
from tests.helpers import anonymous, assert_error
from tests.iot import API, build_hall, device_alarms, devices, running, twin, wait_until


@pytest.fixture
def live(tmp_path: Path, clock: ManualClock, broker: Broker):
    h = build_hall(tmp_path, clock, broker)
    try:
        with running(h) as client:
            yield h, client, login(client, "duty01")
    finally:
        h.close()


def events(h, type_: str) -> list[dict]:
    """The stored events of a type, as the stream sends them."""

    def read(conn):
        rows = conn.execute(select(event_t.c.envelope).where(event_t.c.hall_id == "hn-tja", event_t.c.type == type_)
                            .order_by(event_t.c.seq))
        return [json.loads(r.envelope) for r in rows]

    return h.server.db.read_sync(read)


def test_device_online_with_metrics_and_firmware(live, broker) -> None:
    h, client, hd = live
    with devices(broker, ("kiosk", "kiosk-01")):
        t = wait_until(lambda: (x := twin(client, hd, "kiosk-01"))["online"] and x["metrics"] and x, what="online")
        assert t["kind"] == "kiosk" and t["fw"] and t["boot"]
        assert {"paper_pct", "disk_pct"} <= set(t["metrics"])
        wait_until(lambda: any(e["data"]["device"] == "kiosk-01" for e in events(h, "device.online")),
                   what="device.online stored")


def test_cut_network_goes_offline_within_bound_and_raises_alarm(live, broker) -> None:
    """Heartbeats (1 s, 2 missed) say so after 2 s of silence; the broker's last will (keepalive 2 s:
    3 s, in Mosquitto's whole-second checks up to ~6 s) then waits out the reboot grace (1.5 s)."""
    h, client, hd = live
    with devices(broker, ("ticket_printer", "printer-01")) as devs:
        wait_until(lambda: twin(client, hd, "printer-01")["online"], what="online")
        t0 = time.monotonic()
        devs["printer-01"].cut_network("silent")
        wait_until(lambda: not twin(client, hd, "printer-01")["online"], timeout=30, what="offline")
        assert time.monotonic() - t0 <= 10.0  # the bound, with room for a loaded machine
        alarm = wait_until(lambda: device_alarms(client, hd, "printer-01", "offline"), what="offline alarm")
        assert alarm[0]["state"] == "active"
        # back: online only after good messages, and the alarm clears
        devs["printer-01"].restore_network()
        wait_until(lambda: twin(client, hd, "printer-01")["online"], what="online again")
        wait_until(lambda: all(a["state"] != "active" for a in device_alarms(client, hd, "printer-01", "offline")),
                   what="offline alarm cleared")


def test_missed_heartbeats_take_a_silent_device_offline(live, broker) -> None:
    """Connected but silent (no telemetry): offline after heartbeat × missed (2 s), no will needed."""
    h, client, hd = live
    with devices(broker, ("env_sensor", "env-01"), heartbeat_s=0.5, keepalive=60) as devs:
        wait_until(lambda: twin(client, hd, "env-01")["online"], what="online")
        devs["env-01"].heartbeat_s = 3600  # keeps its connection, stops reporting
        t0 = time.monotonic()
        wait_until(lambda: not twin(client, hd, "env-01")["online"], timeout=30, what="offline by heartbeat")
        assert time.monotonic() - t0 <= 8.0  # 2 s of silence plus the once-a-second check, and room for load
        assert twin(client, hd, "env-01")["offline_reason"] == "heartbeat"


@pytest.mark.parametrize("clean", [True, False], ids=["clean-reboot", "power-cut-reboot"])
def test_reboot_with_new_boot_raises_no_offline_alarm(live, broker, clean: bool) -> None:
    h, client, hd = live
    with devices(broker, ("kiosk", "kiosk-02")) as devs:
        first = wait_until(lambda: (x := twin(client, hd, "kiosk-02"))["online"] and x, what="online")
        new_boot = devs["kiosk-02"].reboot(clean=clean)
        assert new_boot > first["boot"]
        wait_until(lambda: twin(client, hd, "kiosk-02")["boot"] == new_boot, what="new boot seen")
        time.sleep(3.5)  # past the reboot grace and the old session's will
        t = twin(client, hd, "kiosk-02")
        assert t["online"] and t["boot"] == new_boot
        assert device_alarms(client, hd, "kiosk-02", "offline", state="open") == []
        assert any(e["data"]["device"] == "kiosk-02" for e in events(h, "device.rebooted"))
        assert not any(e["data"]["device"] == "kiosk-02" for e in events(h, "device.offline"))


def test_late_last_will_of_an_old_boot_is_ignored(live, broker) -> None:
    h, client, hd = live
    with devices(broker, ("caller", "caller-01")) as devs:
        d = devs["caller-01"]
        wait_until(lambda: twin(client, hd, "caller-01")["online"], what="online")
        old = d.boot
        d.reboot(clean=True)
        wait_until(lambda: twin(client, hd, "caller-01")["boot"] == d.boot, what="new boot")
        p = _raw(broker, broker.username, broker.password)  # the broker's own delivery, as it would
        p.publish("hall/hn-tja/device/caller-01/status", json.dumps({"state": "offline", "boot": old}), qos=1).wait_for_publish()
        time.sleep(2.5)
        assert twin(client, hd, "caller-01")["online"]
        p.loop_stop()


def test_one_alarm_for_a_hundred_duplicate_faults(live, broker) -> None:
    h, client, hd = live
    with devices(broker, ("kiosk", "kiosk-24h-01")) as devs:
        d = devs["kiosk-24h-01"]
        wait_until(lambda: twin(client, hd, "kiosk-24h-01")["online"], what="online")
        # 50 repeats of the same fault, then 50 QoS 1 redeliveries of one event (same seq)
        for _ in range(50):
            d.fault("printer_head", "打印头故障")
        p = _raw(broker, broker.username, broker.password)  # the broker's own delivery, as it would
        body = json.dumps({"ts": int(time.time() * 1000), "seq": 999_999, "type": "fault", "detail": {"code": "x"}})
        for _ in range(50):
            p.publish("hall/hn-tja/device/kiosk-24h-01/event", body, qos=1)
        wait_until(lambda: h.server.metrics.counters.get(("hall_mqtt_duplicates_total", ())), what="duplicates seen")
        time.sleep(0.5)
        faults = device_alarms(client, hd, "kiosk-24h-01", "fault", state="")
        assert len(faults) == 1, faults
        raised = [e for e in events(h, "alarm.raised") if e["data"]["device"] == "kiosk-24h-01"
                  and e["data"]["type"] == "fault"]
        assert len(raised) == 1
        p.loop_stop()


def test_bad_messages_are_counted_and_do_not_disturb_others(live, broker) -> None:
    h, client, hd = live
    with devices(broker, ("kiosk", "kiosk-01"), ("env_sensor", "env-02")) as devs:
        good, bad = devs["env-02"], devs["kiosk-01"]
        wait_until(lambda: twin(client, hd, "env-02")["online"] and twin(client, hd, "kiosk-01")["online"])
        # under its own topics: the broker lets them through, the server rejects them
        for kind in ("invalid_json", "wrong_schema", "oversized"):
            bad.send_malformed(kind, size=40_000)
        # outside its own topics: the broker's ACL drops them (the other device never hears of it)
        bad.send_malformed("other_leaf")
        bad.send_malformed("other_device")
        victim = _raw(broker, bad.username, bad.password)
        victim.publish("hall/hn-tja/device/env-02/event",
                       json.dumps({"ts": int(time.time() * 1000), "seq": 1, "type": "fault", "detail": {}}), qos=1)
        # what a broker without an ACL would pass on (sent here with the server's own account)
        p = _raw(broker, broker.username, broker.password)
        p.publish("hall/hn-tja/device/ghost-99/telemetry", json.dumps({"ts": 1, "seq": 1, "metrics": {}}), qos=1)
        p.publish("hall/nowhere/device/kiosk-01/telemetry", b"{}", qos=1)
        p.publish("hall/hn-tja/device/kiosk-01/diag", b"{}", qos=1)
        p.publish("hall/hn-tja/lobby/oops", b"{}", qos=1).wait_for_publish()
        def rejected_by_reason() -> dict[str, float]:
            text = client.get("/metrics").text
            return {m[1]: float(m[2]) for m in re.finditer(r'^hall_mqtt_rejected_total\{reason="(\w+)"\} (\S+)$',
                                                          text, re.M)}

        # Every rejection counted: both wrong topics too (the two come over two connections, so one
        # may be counted a moment after the other reasons show up).
        counts = wait_until(lambda: (c := rejected_by_reason()).get("topic", 0) >= 2 and len(c) >= 6 and c,
                            what="rejections counted")
        for reason in ("malformed", "schema", "oversized", "topic", "unknown_device", "unknown_hall"):
            assert counts.get(reason, 0) >= 1, reason
        assert counts["topic"] == 2, counts  # the ACL kept the device's own out
        # reported (rate-limited), as an event and an alarm, without the payloads
        rejected = wait_until(lambda: events(h, "device.rejected"), what="device.rejected")
        assert all("payload" not in e["data"] for e in rejected)
        wait_until(lambda: device_alarms(client, hd, "kiosk-01", "mqtt_rejected"), what="mqtt_rejected alarm")
        # the other device goes on, untouched, and so does the sender
        seen = twin(client, hd, "env-02")["last_seen"]
        wait_until(lambda: twin(client, hd, "env-02")["last_seen"] != seen, what="env-02 still reporting")
        assert twin(client, hd, "env-02")["online"] and twin(client, hd, "kiosk-01")["online"]
        assert device_alarms(client, hd, "env-02") == []
        assert good.stats.telemetry > 0
        p.loop_stop()
        victim.loop_stop()


def test_clock_skew_is_flagged(live, broker) -> None:
    h, client, hd = live
    with devices(broker, ("screen", "screen-01")) as devs:
        devs["screen-01"].set_clock_skew(600)
        wait_until(lambda: twin(client, hd, "screen-01")["clock_skewed"], what="skew flagged")
        assert twin(client, hd, "screen-01")["clock_skew_s"] >= 590
        wait_until(lambda: device_alarms(client, hd, "screen-01", "clock_skew"), what="clock_skew alarm")


def test_devices_list_follows_the_contract(live, broker) -> None:
    h, client, hd = live
    r = client.get(f"{API}/devices", headers=hd)
    assert r.status_code == 200
    rows = r.json()
    assert {d["device"] for d in rows} >= {"kiosk-01", "locker-01", "env-01", "caller-01"}
    for d in rows:
        assert {"device", "kind", "online", "boot", "fw", "last_seen", "metrics", "active_alarms"} <= set(d)
    assert anonymous(client).get(f"{API}/devices").status_code == 401


def _raw(broker: Broker, username: str | None, password: str | None) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    if username:
        c.username_pw_set(username, password)
    c.connect(broker.host, broker.port)
    c.loop_start()
    return c


def test_a_registered_screen_without_its_websocket_goes_dark(tmp_path, clock, broker) -> None:
    from tests.iot import fast_config

    h = build_hall(tmp_path, clock, broker, fast_config(screen_dark_s=2))
    try:
        with running(h) as client:
            hd = login(client, "duty01")
            dark = wait_until(lambda: device_alarms(client, hd, "screen-01", "screen_dark"), what="screen dark")
            assert dark[0]["state"] == "active"
            with client.websocket_connect("/ws/halls/hn-tja?device=screen-01&topics=ticket") as ws:
                assert ws.receive_json()["type"] == "snapshot"
                wait_until(lambda: all(a["state"] != "active"
                                       for a in device_alarms(client, hd, "screen-01", "screen_dark")),
                           what="cleared while connected")
                time.sleep(3)  # connected longer than the limit: still not dark
                assert all(a["state"] != "active" for a in device_alarms(client, hd, "screen-01", "screen_dark"))
            wait_until(lambda: any(a["state"] == "active" for a in device_alarms(client, hd, "screen-01",
                                                                               "screen_dark", state="")),
                       what="dark again after the page left")
    finally:
        h.close()


def test_a_device_registered_through_the_api_connects_with_its_credentials(live, broker) -> None:
    from firmware_sim.devices import make_device

    h, client, hd = live
    mgr = login(client, "manager01")
    r = client.post(f"{API}/devices", json={"device": "kiosk-03", "kind": "kiosk", "location": "二楼"}, headers=mgr)
    assert r.status_code == 201, r.text
    creds = r.json()
    assert creds["username"] and creds["password"] and creds["topic_prefix"] == "hall/hn-tja/device/kiosk-03/"
    broker.reload()
    d = make_device("kiosk", "kiosk-03", "hn-tja", broker.url(), username=creds["username"],
                    password=creds["password"], heartbeat_s=0.5, keepalive=2).start()
    try:
        assert d.wait_connected(10)
        t = wait_until(lambda: (x := twin(client, hd, "kiosk-03"))["online"] and x, what="new device online")
        assert t["location"] == "二楼"
        assert_error(client.post(f"{API}/devices", json={"device": "Bad Id", "kind": "kiosk"}, headers=mgr), 400)
        assert_error(client.post(f"{API}/devices", json={"device": "x-01", "kind": "toaster"}, headers=mgr), 400)
        assert_error(client.post(f"{API}/devices", json={"device": "x-01", "kind": "kiosk"}, headers=hd), 403)
    finally:
        d.stop()
