"""Window LED screens over MQTT (CONTRACT.md): what a window shows follows its call-outs and state,
retained, so a screen that connects later sees the current text at once (#5)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import paho.mqtt.client as mqtt

from hall.clock import ManualClock
from tests.brokers import start_broker
from tests.conftest import signed_in
from tests.helpers import call_next, take
from tests.iot import build_hall, provision, running, wait_until


def subscriber(broker, creds: tuple[str, str], topic: str) -> tuple[mqtt.Client, list[dict]]:
    got: list[dict] = []
    lock = threading.Lock()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    c.username_pw_set(*creds)
    c.on_connect = lambda cl, *_: cl.subscribe(topic, qos=1)

    def on_message(_c, _u, m) -> None:
        with lock:
            got.append({"retain": bool(m.retain), **json.loads(m.payload)})

    c.on_message = on_message
    c.connect(broker.host, broker.port)
    c.loop_start()
    return c, got


def test_window_display_follows_the_call_out_and_is_retained(tmp_path: Path, clock: ManualClock) -> None:
    broker = start_broker(tmp_path)
    h = build_hall(tmp_path, clock, broker)
    creds = provision(broker, (("caller", "caller-01"), ("caller", "caller-02")))
    try:
        with running(h) as client:
            led, got = subscriber(broker, creds["caller-01"], "hall/hn-tja/window/1/display")
            clerk = signed_in(client, "1", "clerk01")
            wait_until(lambda: any(g["state"] == "idle" for g in got), what="idle display")
            t = take(client, "SB")
            called = call_next(client, "1", clerk)
            assert called["number"] == t["number"]
            shown = wait_until(lambda: [g for g in got if g["state"] == "calling"], what="calling display")
            assert shown[-1] == {"retain": False, "ticket": t["number"], "text": f"请{t['number']}号到1号窗口办理",
                                 "state": "calling"}
            led.loop_stop()
            # a screen that connects now gets the current text at once (retained)
            late, got2 = subscriber(broker, creds["caller-02"], "hall/hn-tja/window/1/display")
            first = wait_until(lambda: got2, what="retained display")[0]
            assert first["retain"] and first["ticket"] == t["number"] and first["state"] == "calling"
            late.loop_stop()
    finally:
        h.close()
        broker.stop()


def test_a_caller_pad_calls_the_next_ticket_for_its_window(tmp_path: Path, clock: ManualClock) -> None:
    from tests.helpers import stored_events, window_state
    from tests.iot import devices

    broker = start_broker(tmp_path)
    h = build_hall(tmp_path, clock, broker)
    try:
        with running(h) as client, devices(broker, ("caller", "caller-01")) as devs:
            pad = devs["caller-01"]
            pad.press("call_next")  # nobody signed in at window 1: refused, and said so
            wait_until(lambda: [e for e in stored_events(client, "device.event")
                                if e["data"]["detail"].get("outcome") == "window_state"], what="refused")
            signed_in(client, "1", "clerk01")
            t = take(client, "SB")
            pad.press("call_next")
            wait_until(lambda: window_state(client, "1")["state"] == "calling", what="called by the pad")
            assert window_state(client, "1")["current_ticket"]["number"] == t["number"]
            pad.press("start")
            wait_until(lambda: window_state(client, "1")["state"] == "serving", what="serving")
    finally:
        h.close()
        broker.stop()
