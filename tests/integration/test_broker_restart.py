"""The broker restarts (#8, point 3): the hall's MQTT link and every device reconnect, nothing stays
falsely offline, and the hall says its link was down instead of blaming the devices.

Mosquitto on a free port is stopped (SIGTERM, or SIGKILL) for three heartbeat windows of the fast
hall (heartbeat 1 s, offline after 2 missed) and started again on the same port with the same
files. Its persistence is off, so it forgets every session and subscription: only a link that
subscribes again on reconnect hears the devices afterwards.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from hall.clock import ManualClock
from tests.brokers import Broker
from tests.conftest import login
from tests.iot import API, FAST_IOT, build_hall, devices, running, twin, wait_until

WINDOW_S = FAST_IOT["heartbeat_s"] * FAST_IOT["offline_after_missed"]  # silence that means offline: 2 s
OUTAGE_S = 3 * WINDOW_S
WAIT_S = 30.0  # generous: CI runs two suites at once on two cores
SPECS = (("kiosk", "kiosk-01"), ("ticket_printer", "printer-01"), ("locker", "locker-01"),
         ("env_sensor", "env-01"), ("caller", "caller-01"), ("screen", "screen-01"))
STAYS_AWAY = "printer-02"  # switched off during the outage: it must still go offline


def stop_broker(broker: Broker, sig: signal.Signals) -> None:
    assert broker.proc is not None
    broker.proc.send_signal(sig)
    broker.proc.wait(timeout=WAIT_S)


def start_again(broker: Broker) -> None:
    """The same Mosquitto (configuration, password and ACL files) on the same port."""
    assert broker.proc is not None
    broker.proc = subprocess.Popen(broker.proc.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def listening() -> bool:
        try:
            with socket.create_connection((broker.host, broker.port), timeout=0.5):
                return True
        except OSError:
            assert broker.proc is not None and broker.proc.poll() is None, "mosquitto did not start again"
            return False

    wait_until(listening, timeout=WAIT_S, what="mosquitto listening again")


def open_alarms(client: Any, hd: dict[str, str]) -> list[dict[str, Any]]:
    r = client.get(f"{API}/alarms", params={"state": "open"}, headers=hd)
    assert r.status_code == 200, r.text
    return r.json()


def mqtt_down(client: Any, hd: dict[str, str], state: str = "active") -> list[dict[str, Any]]:
    return [a for a in open_alarms(client, hd) if a["type"] == "mqtt_down" and a["state"] == state]


def offline_alarms(client: Any, hd: dict[str, str]) -> list[str]:
    return sorted(a["device"] for a in open_alarms(client, hd) if a["type"] == "offline" and a["state"] == "active")


def metric(client: Any, name: str) -> float | None:
    m = re.search(rf"^{name} (\S+)$", client.get("/metrics").text, re.M)
    return float(m.group(1)) if m else None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_after_a_broker_restart_everything_reconnects_and_nothing_stays_falsely_offline(
        tmp_path: Path, clock: ManualClock, broker: Broker, sig: signal.Signals) -> None:
    if broker.kind != "mosquitto":
        pytest.skip("needs Mosquitto (Debian's mosquitto) to stop and start again on the same port; the "
                    "embedded broker runs inside the server's own process")
    h = build_hall(tmp_path, clock, broker)
    try:
        with running(h) as client, devices(broker, *SPECS, ("ticket_printer", STAYS_AWAY),
                                           reconnect_delay=(0.2, 1.0)) as devs:
            hd = login(client, "duty01")
            ids = [d for _, d in SPECS]
            wait_until(lambda: all(twin(client, hd, d)["online"] for d in [*ids, STAYS_AWAY]), timeout=WAIT_S,
                       what="every device online")
            wait_until(lambda: metric(client, "hall_mqtt_connected") == 1, timeout=WAIT_S, what="the link up")
            connects = {d: devs[d].stats.connects for d in ids}

            stop_broker(broker, sig)
            devs[STAYS_AWAY].stop(clean=False)  # really gone: no message from it after the restart
            # The hall says its own link is down: one alarm, about the server, not the devices.
            down = wait_until(lambda: mqtt_down(client, hd), timeout=WAIT_S, what="the mqtt_down alarm")
            assert len(down) == 1 and down[0]["source"] == "hall"
            assert metric(client, "hall_mqtt_connected") == 0
            time.sleep(OUTAGE_S)  # far past the devices' heartbeat window
            assert all(twin(client, hd, d)["online"] for d in ids), "a device was blamed for the broker's outage"
            assert offline_alarms(client, hd) == []
            accepted = metric(client, "hall_mqtt_accepted_total") or 0

            start_again(broker)
            # The hall's link is back (and subscribed again: the broker forgot its session) ...
            wait_until(lambda: metric(client, "hall_mqtt_connected") == 1, timeout=WAIT_S, what="the link back")
            wait_until(lambda: not mqtt_down(client, hd), timeout=WAIT_S, what="mqtt_down cleared")
            assert len(mqtt_down(client, hd, "cleared")) == 1
            # ... every device reconnected, and is online ...
            wait_until(lambda: all(devs[d].stats.connects > connects[d] and devs[d].online for d in ids),
                       timeout=WAIT_S, what="every device reconnected")
            wait_until(lambda: all(twin(client, hd, d)["online"] for d in ids), timeout=WAIT_S,
                       what="every twin online again")
            # ... and what devices send now is ingested.
            devs["env-01"].set_environment(temp_c=23.5, humidity_pct=51.0)
            wait_until(lambda: twin(client, hd, "env-01")["metrics"].get("temp_c") == 23.5, timeout=WAIT_S,
                       what="telemetry after the restart in the twin")
            assert (metric(client, "hall_mqtt_accepted_total") or 0) > accepted

            # The device that stayed away goes offline by the normal rules, with its alarm ...
            wait_until(lambda: not twin(client, hd, STAYS_AWAY)["online"], timeout=WAIT_S,
                       what=f"{STAYS_AWAY} offline")
            wait_until(lambda: offline_alarms(client, hd) == [STAYS_AWAY], timeout=WAIT_S,
                       what=f"{STAYS_AWAY}'s offline alarm")
            # ... and, well past another heartbeat window, nobody else is offline.
            time.sleep(2 * WINDOW_S)
            assert all(twin(client, hd, d)["online"] for d in ids)
            assert offline_alarms(client, hd) == [STAYS_AWAY]
    finally:
        h.close()
