"""MQTT load for the IoT benchmark (bench/iot.py), each mode run as its own process.

    python bench/mqttload.py publish --port P --devices FILE --part I --parts N
        Telemetry publishers: one paho client per device of its share of FILE (each on its
        ``"hall"``'s topics, default hn-tja; devices
        ``I, I+N, I+2N, ...``), no network thread: ``publish`` writes to the socket directly, and a
        client whose socket is full is skipped until it drains (the broker's back-pressure). Prints
        ``READY`` once every client is connected, then obeys lines on stdin:
        ``RATE r`` (messages/s for this process; 0: as fast as the sockets take them; -1: pause),
        ``COUNT`` (answers ``COUNT <sent> <monotonic ns>``), ``BUDGET n`` (send n more, then
        pause), ``STOP`` (answers ``RESULT {json}``).

    python bench/mqttload.py subscribe --port P --user U --password-file F
        The floor: a raw paho subscriber with the hall server's subscription (``hall/#``, QoS 1,
        persistent session off; ``--topic`` another, e.g. one hall's ``hall/<id>/#``), counting
        messages in ``on_message``. Prints ``READY`` once
        subscribed; for each message on an ``.../event`` topic it prints ``EV <device> <seq>
        <monotonic ns at receipt>``; ``COUNT`` on stdin answers ``COUNT <received> <monotonic ns>``,
        ``STOP`` ends it.

Timestamps are ``time.monotonic_ns()`` (CLOCK_MONOTONIC: one clock for every process).
"""

from __future__ import annotations

import argparse
import json
import os
import select
import selectors
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

HALL = "hn-tja"


def telemetry(kind: str, seq: int) -> bytes:
    """A telemetry payload whose metrics every rule of the kind evaluates (all within range)."""
    ts = int(time.time() * 1000)
    if kind == "env_sensor":
        metrics = '{"temp_c":22.5,"humidity_pct":45}'
    else:  # kiosk (and any other kind: paper and disk are read by kiosks and printers)
        metrics = '{"paper_pct":80,"disk_pct":40}'
    return f'{{"ts":{ts},"seq":{seq},"metrics":{metrics}}}'.encode()


class Device:
    __slots__ = ("name", "kind", "client", "topic", "seq", "sock")

    def __init__(self, spec: dict[str, str], port: int) -> None:
        self.name, self.kind = spec["device"], spec["kind"]
        self.topic = f"hall/{spec.get('hall', HALL)}/device/{self.name}/telemetry"
        self.seq = 0
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{self.name}",
                        protocol=mqtt.MQTTv311, clean_session=True)
        c.username_pw_set(spec["username"], spec["password"])
        c.max_queued_messages_set(0)
        self.client = c
        c.connect("127.0.0.1", port, keepalive=120)
        self.sock = c.socket()


def publish(a: argparse.Namespace) -> None:
    specs = json.loads(Path(a.devices).read_text(encoding="utf-8"))[a.part::a.parts]
    devices = [Device(s, a.port) for s in specs]
    connected = 0

    def on_connect(_c: mqtt.Client, _u: object, _f: object, rc: object, _p: object = None) -> None:
        nonlocal connected
        if getattr(rc, "is_failure", False):
            print(f"refused: {rc}", file=sys.stderr, flush=True)
            os._exit(2)
        connected += 1

    for d in devices:
        d.client.on_connect = on_connect
    deadline = time.monotonic() + 30
    while connected < len(devices):
        for d in devices:
            d.client.loop(timeout=0.0)
        if time.monotonic() > deadline:
            print(f"only {connected}/{len(devices)} connected", file=sys.stderr, flush=True)
            sys.exit(2)
        time.sleep(0.002)
    print("READY", flush=True)

    sel = selectors.DefaultSelector()
    sel.register(sys.stdin, selectors.EVENT_READ)
    rate = -1.0
    sent = 0
    skipped = 0  # a publish skipped because that client's socket was still full
    paced_from = time.monotonic()
    paced_sent = 0
    limit: int | None = None  # BUDGET: pause once ``sent`` reaches it
    n = len(devices)
    i = 0
    next_misc = time.monotonic() + 1.0
    stdin_buf = b""
    while True:
        # commands: checked every 5 ms or so
        for _key, _ev in sel.select(timeout=0 if rate >= 0 else 0.05):
            chunk = os.read(sys.stdin.fileno(), 4096)
            if not chunk:
                return
            stdin_buf += chunk
        while b"\n" in stdin_buf:
            line, stdin_buf = stdin_buf.split(b"\n", 1)
            cmd = line.decode().split()
            if not cmd:
                continue
            if cmd[0] == "RATE":
                rate = float(cmd[1])
                paced_from, paced_sent = time.monotonic(), 0
            elif cmd[0] == "BUDGET":
                limit = sent + int(cmd[1])
            elif cmd[0] == "COUNT":
                print(f"COUNT {sent} {time.monotonic_ns()}", flush=True)
            elif cmd[0] == "STOP":
                for d in devices:
                    d.client.disconnect()
                print("RESULT " + json.dumps({"sent": sent, "skipped_full": skipped, "devices": n}), flush=True)
                return
        now = time.monotonic()
        if now >= next_misc:
            next_misc = now + 1.0
            for d in devices:
                d.client.loop_read(10)  # PINGRESPs and the like
                d.client.loop_misc()  # keepalive
        if limit is not None and sent >= limit:
            rate, limit = -1.0, None  # the budget is spent: pause
        if rate < 0:
            continue
        # how many to send in this slice of ~5 ms
        if rate == 0:
            budget = 4 * n
        else:
            budget = int(rate * (now - paced_from)) - paced_sent
            if budget <= 0:
                time.sleep(min(0.005, (1 - budget) / rate))
                continue
            budget = min(budget, max(1, int(rate * 0.05)))
        if limit is not None:
            budget = min(budget, limit - sent)
        stuck = 0
        while budget > 0 and stuck < n:
            d = devices[i]
            i = i + 1 if i + 1 < n else 0
            c = d.client
            if c.want_write():
                c.loop_write()
                if c.want_write():
                    skipped += 1
                    stuck += 1
                    continue
            d.seq += 1
            c.publish(d.topic, telemetry(d.kind, d.seq), qos=0)
            sent += 1
            paced_sent += 1
            budget -= 1
            stuck = 0
        if stuck >= n:  # every socket is full: wait until one can take more
            socks = [d.sock for d in devices if d.client.want_write()]
            if socks:
                try:
                    select.select([], socks, [], 0.01)
                except (OSError, ValueError):  # a socket closed under us: the broker went away
                    print("broker connection lost", file=sys.stderr, flush=True)
                    return


def subscribe(a: argparse.Namespace) -> None:
    received = 0
    ready = threading.Event()
    lock = threading.Lock()

    def on_connect(c: mqtt.Client, _u: object, _f: object, rc: object, _p: object = None) -> None:
        if getattr(rc, "is_failure", False):
            print(f"refused: {rc}", file=sys.stderr, flush=True)
            os._exit(2)
        c.subscribe(a.topic, qos=1)

    def on_subscribe(_c: mqtt.Client, _u: object, _mid: int, _rcs: Any, _p: object = None) -> None:
        ready.set()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        nonlocal received
        t = time.monotonic_ns()
        received += 1
        topic = msg.topic
        if topic.endswith("/event"):
            try:
                seq = json.loads(msg.payload)["seq"]
            except (ValueError, KeyError, TypeError):
                seq = -1
            with lock:
                sys.stdout.write(f"EV {topic.split('/')[3]} {seq} {t}\n")
                sys.stdout.flush()

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-floor-{os.getpid()}",
                    protocol=mqtt.MQTTv311, clean_session=True)
    c.username_pw_set(a.user, Path(a.password_file).read_text(encoding="utf-8").strip())
    c.max_inflight_messages_set(1000)
    c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
    c.connect_async("127.0.0.1", a.port, keepalive=120)
    c.loop_start()
    if not ready.wait(30):
        print("not subscribed after 30 s", file=sys.stderr, flush=True)
        sys.exit(2)
    print("READY", flush=True)
    try:
        for line in sys.stdin:
            cmd = line.split()
            if not cmd:
                continue
            if cmd[0] == "COUNT":
                with lock:
                    sys.stdout.write(f"COUNT {received} {time.monotonic_ns()}\n")
                    sys.stdout.flush()
            elif cmd[0] == "STOP":
                break
    finally:
        c.disconnect()
        c.loop_stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("publish")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--devices", required=True, help="JSON list of {device, kind, username, password}")
    p.add_argument("--part", type=int, default=0)
    p.add_argument("--parts", type=int, default=1)
    s = sub.add_parser("subscribe")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--user", required=True)
    s.add_argument("--password-file", required=True, help="a file holding the password (not on the command line)")
    s.add_argument("--topic", default="hall/#", help="the subscription (default hall/#, the server's)")
    a = ap.parse_args()
    if a.mode == "publish":
        publish(a)
    else:
        subscribe(a)


if __name__ == "__main__":
    main()
