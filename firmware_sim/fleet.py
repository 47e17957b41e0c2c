"""A fleet of simulated devices: from a hall file's ``[[devices]]`` or from counts, for demos and load.

``Fleet(...).start()`` powers every device on; ``stop()`` powers them off (a clean shutdown each).
Optional background threads: a load generator that sends ``rate`` telemetry messages per second
across the whole fleet (on top of each device's own heartbeat), and random fault injection at
``fault_rate`` faults per minute (each one recovers by itself after a while).

Command line::

    python -m firmware_sim.fleet --broker mqtt://user:pass@127.0.0.1:1883 --hall-file hall/halls/hn-tja.toml
    python -m firmware_sim.fleet --hall hn-tja --kiosks 50 --lockers 20 --rate 500 --duration 60 --faults
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware_sim.devices import (
    MALFORMED_KINDS,
    BrokerAddress,
    Kiosk,
    Locker,
    SimDevice,
    TicketPrinter,
    make_device,
)

log = logging.getLogger("firmware_sim.fleet")

# CLI flag -> device kind, for fleets built from counts.
COUNT_FLAGS = {"kiosks": "kiosk", "printers": "ticket_printer", "lockers": "locker", "screens": "screen",
               "env_sensors": "env_sensor", "callers": "caller"}


@dataclass(frozen=True)
class DeviceSpec:
    """One device to simulate (the fields of a hall file's ``[[devices]]`` entry)."""

    id: str
    kind: str
    location: str = ""
    window: str | None = None
    slots: int = 0


def specs_from_hall_file(path: str | Path) -> tuple[str, list[DeviceSpec]]:
    """The hall id and device list of one hall file (validated by the server's own loader)."""
    from hall.hallconfig import load_halls

    cfg = load_halls([path])[0]
    return cfg.id, [DeviceSpec(d.id, d.kind, d.location, d.window, d.slots) for d in cfg.devices]


def specs_from_counts(counts: dict[str, int], *, slots: int = 12, prefix: str = "sim") -> list[DeviceSpec]:
    """``{"kiosk": 3, "locker": 2}`` -> ids ``sim-kiosk-0001`` ...; callers get windows 1, 2, ..."""
    specs: list[DeviceSpec] = []
    for kind, n in counts.items():
        for i in range(1, n + 1):
            specs.append(DeviceSpec(f"{prefix}-{kind.replace('_', '-')}-{i:04d}", kind,
                                    window=str(i) if kind == "caller" else None,
                                    slots=slots if kind == "locker" else 0))
    return specs


def load_credentials(path: str | Path | None) -> dict[str, dict[str, str]]:
    """A JSON object mapping device id -> ``{"username", "password"}`` (what ``hall device add`` prints
    may be collected into one); a list of those objects with a ``device`` key works too."""
    if path is None:
        return {}
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if isinstance(data, list):
        return {d["device"]: {"username": d["username"], "password": d["password"]} for d in data}
    return {k: {"username": v["username"], "password": v["password"]} for k, v in data.items()}


@dataclass
class FleetTotals:
    devices: int
    online: int
    telemetry: int
    events: int
    acks: int
    commands: int
    malformed: int
    dropped: int
    faults: int


class Fleet:
    """Many simulated devices of one hall.

    ``device_options`` go to the devices' constructors, by kind, ``"*"`` for every kind (e.g.
    ``{"*": {"print_s": 0}, "locker": {"auto_close_s": 5}}``);
    ``credentials`` maps device id -> ``{"username", "password"}`` (else the broker URL's, else none).
    ``rate``: extra telemetry messages per second for the whole fleet (0: heartbeats only).
    ``fault_rate``: random faults per minute for the whole fleet (0: none).
    """

    def __init__(self, hall: str, specs: list[DeviceSpec], broker: str | BrokerAddress, *,
                 credentials: dict[str, dict[str, str]] | None = None, heartbeat_s: float = 30.0,
                 keepalive: int = 30, fw: str = "1.0.0", rate: float = 0.0, fault_rate: float = 0.0,
                 seed: int | None = None, now_ms: Callable[[], int] | None = None,
                 device_options: dict[str, dict[str, Any]] | None = None) -> None:
        self.hall = hall
        self.broker = BrokerAddress.parse(broker) if isinstance(broker, str) else broker
        self.rate = rate
        self.fault_rate = fault_rate
        self.rng = random.Random(seed)
        self.faults_injected = 0
        self.fault_log: list[tuple[float, str, str]] = []  # (monotonic, device, what)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._recoveries: list[threading.Timer] = []
        self._started_at = 0.0
        self.devices: dict[str, SimDevice] = {}
        creds = credentials or {}
        for spec in specs:
            opts: dict[str, Any] = {"heartbeat_s": heartbeat_s, "keepalive": keepalive, "fw": fw,
                                    "location": spec.location, "window": spec.window,
                                    **(device_options or {}).get("*", {}),
                                    **(device_options or {}).get(spec.kind, {})}
            if now_ms is not None:
                opts["now_ms"] = now_ms
            if spec.kind == "locker":
                opts["slots"] = spec.slots or 12
            if spec.kind in ("kiosk", "ticket_printer", "env_sensor"):  # the kinds with random drift
                opts.setdefault("seed", self.rng.randrange(1 << 30))
            if spec.id in creds:
                opts["username"] = creds[spec.id]["username"]
                opts["password"] = creds[spec.id]["password"]
            self.devices[spec.id] = make_device(spec.kind, spec.id, hall, self.broker, **opts)

    @classmethod
    def from_hall_file(cls, path: str | Path, broker: str | BrokerAddress, **kw: Any) -> Fleet:
        hall, specs = specs_from_hall_file(path)
        return cls(hall, specs, broker, **kw)

    @classmethod
    def from_counts(cls, hall: str, counts: dict[str, int], broker: str | BrokerAddress, *, slots: int = 12,
                    **kw: Any) -> Fleet:
        return cls(hall, specs_from_counts(counts, slots=slots), broker, **kw)

    # ------------------------------------------------------------------------------------ running

    def start(self, wait_s: float = 0.0) -> Fleet:
        """Power every device on; with ``wait_s``, wait that long at most for all to connect."""
        self._stop.clear()
        self._started_at = time.monotonic()
        for d in self.devices.values():
            d.start()
        if wait_s > 0:
            self.wait_connected(wait_s)
        if self.rate > 0:
            self._spawn(self._load_loop, "fleet-load")
        if self.fault_rate > 0:
            self._spawn(self._fault_loop, "fleet-faults")
        return self

    def wait_connected(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        return all(d.wait_connected(max(0.0, deadline - time.monotonic())) for d in self.devices.values())

    def stop(self, clean: bool = True) -> None:
        """Stop the background threads, then every device (in parallel: a clean stop waits for the
        broker to acknowledge the ``offline`` status)."""
        self._stop.set()
        for t in self._recoveries:
            t.cancel()
        self._recoveries.clear()
        for t in self._threads:
            t.join(5)
        self._threads.clear()
        if self.devices:
            with ThreadPoolExecutor(max_workers=min(32, len(self.devices))) as pool:
                list(pool.map(lambda d: d.stop(clean), self.devices.values()))

    def __enter__(self) -> Fleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def _load_loop(self) -> None:
        """Send ``rate`` telemetry messages a second, round robin over the devices, in 10 ms batches."""
        devices = list(self.devices.values())
        ring = itertools.cycle(devices)
        t0, sent = time.monotonic(), 0
        while not self._stop.wait(0.01):
            due = int((time.monotonic() - t0) * self.rate) - sent
            for _ in range(due):
                next(ring).send_telemetry()
            sent += due

    def totals(self) -> FleetTotals:
        ds = list(self.devices.values())
        return FleetTotals(
            devices=len(ds), online=sum(d.online for d in ds),
            telemetry=sum(d.stats.telemetry for d in ds), events=sum(d.stats.events for d in ds),
            acks=sum(d.stats.acks for d in ds), commands=sum(d.stats.commands for d in ds),
            malformed=sum(d.stats.malformed for d in ds), dropped=sum(d.stats.dropped for d in ds),
            faults=self.faults_injected)

    # ------------------------------------------------------------------------------------ faults

    def _fault_loop(self) -> None:
        mean_gap = 60.0 / self.fault_rate
        while not self._stop.wait(self.rng.expovariate(1.0 / mean_gap)):
            device = self.rng.choice(list(self.devices.values()))
            try:
                self.inject_random_fault(device)
            except Exception:
                log.exception("fault injection on %s failed", device.device_id)

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        if self._stop.is_set():
            return
        t = threading.Timer(delay, lambda: None if self._stop.is_set() else fn())
        t.daemon = True
        t.start()
        self._recoveries = [r for r in self._recoveries if r.is_alive()] + [t]

    def inject_random_fault(self, device: SimDevice) -> str:
        """One fault fitting the device's kind, with its recovery scheduled; returns what it was."""
        choices = ["fault", "cut_network", "reboot", "clock_skew", "malformed"]
        if isinstance(device, TicketPrinter | Kiosk):
            choices += ["paper_low", "paper_out", "jam"]
        if isinstance(device, Locker):
            choices += ["door_by_hand", "stuck_door", "tamper"]
        what = self.rng.choice(choices)
        back = self.rng.uniform(5, 30)
        if what == "fault":
            device.fault("simulated")
            self._later(back, device.clear_fault)
        elif what == "cut_network":
            device.cut_network(self.rng.choice(["silent", "reset"]))
            self._later(back + device.keepalive * 1.5, device.restore_network)
        elif what == "reboot":
            device.reboot(clean=self.rng.random() < 0.5)
        elif what == "clock_skew":
            device.set_clock_skew(self.rng.choice([-1, 1]) * self.rng.uniform(60, 600))
            self._later(back, lambda: device.set_clock_skew(0))
        elif what == "malformed":
            device.send_malformed(self.rng.choice(MALFORMED_KINDS), size=self.rng.choice([2_000, 300_000]))
        elif what in ("paper_low", "paper_out"):
            assert isinstance(device, TicketPrinter | Kiosk)
            device.set_paper(self.rng.uniform(1, 14) if what == "paper_low" else 0)
            self._later(back * 4, device.refill)
        elif what == "jam":
            assert isinstance(device, TicketPrinter | Kiosk)
            device.jam()
            self._later(back, device.clear_jam)
        elif what == "door_by_hand":
            assert isinstance(device, Locker)
            slot = self.rng.choice(list(device.doors))
            device.open_door_by_hand(slot)
            self._later(back, lambda: device.close_door(slot))
        elif what == "stuck_door":
            assert isinstance(device, Locker)
            device.stuck_door(self.rng.choice(list(device.doors)))
        elif what == "tamper":
            device.tamper({"sensor": "enclosure"})
        self.faults_injected += 1
        self.fault_log.append((time.monotonic(), device.device_id, what))
        log.info("fault %s on %s", what, device.device_id)
        return what


# ---------------------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m firmware_sim.fleet",
                                description="Simulated hall devices over MQTT (CONTRACT.md).")
    p.add_argument("--broker", default=os.environ.get("HALL_MQTT_URL") or "mqtt://127.0.0.1:1883",
                   help="mqtt://user:pass@host:port (default: $HALL_MQTT_URL or mqtt://127.0.0.1:1883)")
    p.add_argument("--hall-file", help="build devices from this hall file's [[devices]]")
    p.add_argument("--hall", default="hn-tja", help="hall id for devices built from counts (default hn-tja)")
    for flag, kind in COUNT_FLAGS.items():
        p.add_argument(f"--{flag.replace('_', '-')}", type=int, default=0, metavar="N", help=f"N simulated {kind}s")
    p.add_argument("--slots", type=int, default=12, help="slots per locker built from counts (default 12)")
    p.add_argument("--credentials", help="JSON file: device id -> {username, password}")
    p.add_argument("--heartbeat", type=float, default=30.0, help="telemetry at least every S seconds (default 30)")
    p.add_argument("--keepalive", type=int, default=30, help="MQTT keepalive in seconds (default 30)")
    p.add_argument("--rate", type=float, default=0.0, help="extra telemetry messages per second, whole fleet")
    p.add_argument("--duration", type=float, default=0.0, help="run this many seconds (default: until Ctrl-C)")
    p.add_argument("--faults", action="store_true", help="inject random faults")
    p.add_argument("--fault-rate", type=float, default=2.0, help="faults per minute, whole fleet (default 2)")
    p.add_argument("--progress", type=float, default=5.0, help="print a progress line every S seconds")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--fw", default="1.0.0", help="firmware version the devices report")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    hall, specs = args.hall, []
    if args.hall_file:
        hall, specs = specs_from_hall_file(args.hall_file)
    counts = {kind: getattr(args, flag) for flag, kind in COUNT_FLAGS.items() if getattr(args, flag) > 0}
    specs += specs_from_counts(counts, slots=args.slots)
    if not specs:
        print("no devices: give --hall-file or counts such as --kiosks 3", file=sys.stderr)
        return 2
    fleet = Fleet(hall, specs, args.broker, credentials=load_credentials(args.credentials),
                  heartbeat_s=args.heartbeat, keepalive=args.keepalive, fw=args.fw, rate=args.rate,
                  fault_rate=args.fault_rate if args.faults else 0.0, seed=args.seed)
    b = fleet.broker
    print(f"fleet: {len(specs)} devices of hall {hall} -> {b.host}:{b.port}", flush=True)
    fleet.start()
    t0 = last_t = time.monotonic()
    last = fleet.totals()
    try:
        while True:
            left = args.duration - (time.monotonic() - t0) if args.duration else args.progress
            if left <= 0:
                break
            time.sleep(min(args.progress, left))
            now, tot = time.monotonic(), fleet.totals()
            dt = max(1e-6, now - last_t)
            print(f"t={now - t0:6.1f}s online={tot.online}/{tot.devices} telemetry={tot.telemetry} "
                  f"({(tot.telemetry - last.telemetry) / dt:.1f}/s) events={tot.events} "
                  f"({(tot.events - last.events) / dt:.1f}/s) acks={tot.acks} commands={tot.commands} "
                  f"malformed={tot.malformed} dropped={tot.dropped} faults={tot.faults}", flush=True)
            last, last_t = tot, now
    except KeyboardInterrupt:
        pass
    finally:
        fleet.stop()
    tot = fleet.totals()
    elapsed = max(1e-6, time.monotonic() - t0)
    print(f"done: {elapsed:.1f}s telemetry={tot.telemetry} ({tot.telemetry / elapsed:.1f}/s) events={tot.events} "
          f"acks={tot.acks} faults={tot.faults}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
