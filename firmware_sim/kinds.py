"""The six device kinds of CONTRACT.md: what each reports, which commands it runs, what can go wrong.

Metrics per kind:

- kiosk ``{"paper_pct", "disk_pct", "cpu_pct", "temp_c"}``; ticket_printer ``{"paper_pct"}``;
- locker ``{"slots": [{"slot": 1, "door": "closed", "occupied": false}, ...]}``;
- screen ``{"brightness", "ws_connected"}``; env_sensor ``{"temp_c", "humidity_pct"}``; caller ``{}``.

Commands: every kind ``reboot``; kiosk and printer ``print {ticket_id}``; locker
``open_door {slot}``; screen and caller ``display {text}``. An executed command is acked
``accepted`` and then ``done`` or ``failed {reason}``.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any, ClassVar

from firmware_sim.device import SimDevice

PAPER_LOW_PCT = 15.0


class _Printing(SimDevice):
    """Paper and a print head: shared by the kiosk (it prints slips) and the ticket printer.

    Paper goes down by ``paper_per_ticket`` percent a ticket; crossing below 15 % sends ``paper_low``
    once, reaching 0 sends ``paper_out``. A print fails (``failed {reason}``) when out of paper
    (``paper_out``), jammed (``jammed``) or with an active fault (``fault``).
    """

    commands: ClassVar[dict[str, str]] = {**SimDevice.commands, "print": "_cmd_print"}

    def __init__(self, *args: Any, paper_pct: float = 100.0, paper_per_ticket: float = 0.5,
                 print_s: float = 0.0, jam_rate: float = 0.0, seed: int | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.paper_pct = float(paper_pct)
        self.paper_per_ticket = paper_per_ticket
        self.print_s = print_s
        self.jam_rate = jam_rate  # chance that a print jams (for fleets with random faults)
        self.jammed = False
        self.printed = 0
        self.rng = random.Random(seed)
        self._paper_lock = threading.Lock()

    def set_paper(self, pct: float) -> None:
        """Set the paper level, sending ``paper_low``/``paper_out`` as a real sensor would on the way down."""
        with self._paper_lock:
            before, self.paper_pct = self.paper_pct, max(0.0, min(100.0, float(pct)))
            after = self.paper_pct
        if before >= PAPER_LOW_PCT > after:
            self.emit("paper_low", {"paper_pct": round(after, 1)})
        if before > 0 and after == 0:
            self.emit("paper_out", {"paper_pct": 0})
        if after > before:
            self.send_telemetry()  # a refill shows at once, so a paper alarm can clear

    def run_out_of_paper(self) -> None:
        """The roll runs out: ``paper_low`` (if not already low) then ``paper_out``."""
        self.set_paper(0)

    def refill(self) -> None:
        self.set_paper(100)

    def jam(self) -> None:
        """The print head jams: event ``jam``; prints fail until :meth:`clear_jam`."""
        self.jammed = True
        self.emit("jam", {})

    def clear_jam(self) -> None:
        if self.jammed:
            self.jammed = False
            self.emit("fault_cleared", {"code": "jam"})

    def print_ticket(self, ticket_id: str) -> str | None:
        """Print one ticket; returns None when printed, else the reason it failed."""
        if self.faults:
            return "fault"
        if self.jammed:
            return "jammed"
        if self.paper_pct <= 0:
            return "paper_out"
        if self.print_s > 0:
            time.sleep(self.print_s)
        if self.jam_rate and self.rng.random() < self.jam_rate:
            self.jam()
            return "jammed"
        self.printed += 1
        self.set_paper(self.paper_pct - self.paper_per_ticket)
        return None

    def _cmd_print(self, cmd_id: str, args: dict[str, Any]) -> None:
        ticket_id = args.get("ticket_id")
        if not isinstance(ticket_id, str) or not ticket_id:
            self.ack(cmd_id, "rejected", {"reason": "bad_args", "expected": "ticket_id"})
            return
        self.ack(cmd_id, "accepted")
        reason = self.print_ticket(ticket_id)
        if reason is None:
            self.ack(cmd_id, "done", {"ticket_id": ticket_id, "paper_pct": round(self.paper_pct, 1)})
        else:
            self.ack(cmd_id, "failed", {"reason": reason, "ticket_id": ticket_id})


class TicketPrinter(_Printing):
    kind: ClassVar[str] = "ticket_printer"

    def metrics(self) -> dict[str, Any]:
        return {"paper_pct": round(self.paper_pct, 1)}


class Kiosk(_Printing):
    """A self-service kiosk: prints slips, reads ID cards and health codes (event ``scan``)."""

    kind: ClassVar[str] = "kiosk"

    def __init__(self, *args: Any, disk_pct: float = 41.0, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.disk_pct = disk_pct
        self.cpu_pct = 12.0
        self.temp_c = 38.0

    def metrics(self) -> dict[str, Any]:
        return {"paper_pct": round(self.paper_pct, 1), "disk_pct": round(self.disk_pct, 1),
                "cpu_pct": round(self.cpu_pct, 1), "temp_c": round(self.temp_c, 1)}

    def tick(self) -> None:
        self.cpu_pct = max(1.0, min(100.0, self.cpu_pct + self.rng.uniform(-4, 4)))
        self.temp_c = max(25.0, min(80.0, 30.0 + self.cpu_pct * 0.3 + self.rng.uniform(-0.5, 0.5)))
        self.disk_pct = min(100.0, self.disk_pct + 0.001)  # logs grow

    def fill_disk(self, pct: float) -> None:
        """Set the disk usage (e.g. 97 for a disk_full alarm) and report it at once."""
        self.disk_pct = pct
        self.send_telemetry()

    def scan(self, channel: str = "id_card", ok: bool = True) -> None:
        """A card or code was read: event ``scan {channel, ok}`` (no personal data)."""
        self.emit("scan", {"channel": channel, "ok": ok})


class Locker(SimDevice):
    """A pickup locker with ``slots`` doors, each with a door sensor and an occupancy sensor.

    ``open_door {slot}``: ack ``accepted``, event ``door_opened {slot}``, ack ``done``. The door
    closes by itself after ``auto_close_s`` (None: only by :meth:`close_door`), sending
    ``door_closed {slot, occupied}``; closing by itself flips occupancy (someone put an item into an
    empty slot or took it from a full one).
    """

    kind: ClassVar[str] = "locker"
    commands: ClassVar[dict[str, str]] = {**SimDevice.commands, "open_door": "_cmd_open_door"}

    def __init__(self, *args: Any, slots: int = 12, auto_close_s: float | None = 10.0,
                 occupied: set[int] | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        if slots < 1:
            raise ValueError("a locker needs at least one slot")
        self.auto_close_s = auto_close_s
        self.doors: dict[int, str] = {n: "closed" for n in range(1, slots + 1)}
        self.occupied: dict[int, bool] = {n: n in (occupied or set()) for n in self.doors}
        self._stuck: dict[int, int | None] = {}  # slot -> opens left that stick (None: until unstuck)
        self._lock = threading.Lock()

    def metrics(self) -> dict[str, Any]:
        with self._lock:
            return {"slots": [{"slot": n, "door": self.doors[n], "occupied": self.occupied[n]} for n in self.doors]}

    def _check_slot(self, slot: Any) -> int:
        if isinstance(slot, bool) or not isinstance(slot, int) or slot not in self.doors:
            raise ValueError(f"no slot {slot!r} (1-{len(self.doors)})")
        return slot

    def stuck_door(self, slot: int, times: int | None = 1) -> None:
        """The lock of ``slot`` jams: the next ``times`` open commands (None: all until
        :meth:`unstick_door`) are acked ``accepted`` but the door never opens and no ``done`` follows."""
        self._stuck[self._check_slot(slot)] = times

    def unstick_door(self, slot: int) -> None:
        self._stuck.pop(slot, None)

    def _takes_stuck(self, slot: int) -> bool:
        if slot not in self._stuck:
            return False
        left = self._stuck[slot]
        if left is not None:
            if left <= 1:
                del self._stuck[slot]
            else:
                self._stuck[slot] = left - 1
        return True

    def _cmd_open_door(self, cmd_id: str, args: dict[str, Any]) -> None:
        try:
            slot = self._check_slot(args.get("slot"))
        except ValueError as e:
            self.ack(cmd_id, "rejected", {"reason": "bad_args", "message": str(e)})
            return
        self.ack(cmd_id, "accepted", {"slot": slot})
        if self._takes_stuck(slot):
            return  # the lock does not release: silence, the server's door_confirm timeout must notice
        if self.faults:
            self.ack(cmd_id, "failed", {"reason": "fault", "slot": slot})
            return
        with self._lock:
            already = self.doors[slot] == "open"
            self.doors[slot] = "open"
        if already:
            self.ack(cmd_id, "done", {"slot": slot, "already_open": True})
            return
        self.emit("door_opened", {"slot": slot})
        self.ack(cmd_id, "done", {"slot": slot})
        if self.auto_close_s is not None:
            boot = self.boot
            self.call_later(self.auto_close_s, self._auto_close, slot, boot)

    def _auto_close(self, slot: int, boot: int) -> None:
        if boot == self.boot and self.doors[slot] == "open":
            self.close_door(slot)

    def open_door_by_hand(self, slot: int) -> None:
        """A door forced or opened with no command: just ``door_opened {slot}``."""
        slot = self._check_slot(slot)
        with self._lock:
            if self.doors[slot] == "open":
                return
            self.doors[slot] = "open"
        self.emit("door_opened", {"slot": slot})

    def close_door(self, slot: int, occupied: bool | None = None) -> None:
        """Someone shuts the door: ``door_closed {slot, occupied}``. ``occupied=None`` flips it."""
        slot = self._check_slot(slot)
        with self._lock:
            if self.doors[slot] == "closed":
                return
            self.doors[slot] = "closed"
            self.occupied[slot] = (not self.occupied[slot]) if occupied is None else bool(occupied)
            now = self.occupied[slot]
        self.emit("door_closed", {"slot": slot, "occupied": now})


class _Displaying(SimDevice):
    commands: ClassVar[dict[str, str]] = {**SimDevice.commands, "display": "_cmd_display"}

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.text = ""

    def _cmd_display(self, cmd_id: str, args: dict[str, Any]) -> None:
        text = args.get("text")
        if not isinstance(text, str):
            self.ack(cmd_id, "rejected", {"reason": "bad_args", "expected": "text"})
            return
        self.ack(cmd_id, "accepted")
        if self.faults:
            self.ack(cmd_id, "failed", {"reason": "fault"})
            return
        self.text = text
        self.ack(cmd_id, "done")


class Screen(_Displaying):
    """A hall screen: a browser showing the hall page; ``ws_connected`` says whether its WebSocket is up."""

    kind: ClassVar[str] = "screen"

    def __init__(self, *args: Any, brightness: int = 80, ws_connected: bool = True, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.brightness = brightness
        self.ws_connected = ws_connected

    def metrics(self) -> dict[str, Any]:
        return {"brightness": self.brightness, "ws_connected": self.ws_connected}

    def set_ws_connected(self, up: bool) -> None:
        self.ws_connected = up
        self.send_telemetry()

    def set_brightness(self, brightness: int) -> None:
        self.brightness = max(0, min(100, int(brightness)))
        self.send_telemetry()


class EnvSensor(SimDevice):
    """Temperature and humidity; values wander a little at each heartbeat unless pinned."""

    kind: ClassVar[str] = "env_sensor"

    def __init__(self, *args: Any, temp_c: float = 22.0, humidity_pct: float = 45.0, seed: int | None = None,
                 **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.temp_c = temp_c
        self.humidity_pct = humidity_pct
        self.pinned = False
        self.rng = random.Random(seed)

    def metrics(self) -> dict[str, Any]:
        return {"temp_c": round(self.temp_c, 2), "humidity_pct": round(self.humidity_pct, 1)}

    def tick(self) -> None:
        if not self.pinned:
            self.temp_c += self.rng.uniform(-0.1, 0.1) + (22.0 - self.temp_c) * 0.05
            self.humidity_pct += self.rng.uniform(-0.5, 0.5) + (45.0 - self.humidity_pct) * 0.05

    def set_environment(self, temp_c: float | None = None, humidity_pct: float | None = None,
                        pinned: bool = True) -> None:
        """Set the readings (pinned: they stay there) and report them at once."""
        if temp_c is not None:
            self.temp_c = temp_c
        if humidity_pct is not None:
            self.humidity_pct = humidity_pct
        self.pinned = pinned
        self.send_telemetry()


CALLER_BUTTONS = ("call_next", "recall", "no_show", "start", "finish", "pause", "resume")


class Caller(_Displaying):
    """A window caller pad (窗口呼叫器): buttons send events, ``display`` shows text on its small screen."""

    kind: ClassVar[str] = "caller"

    def press(self, button: str = "call_next", **detail: Any) -> None:
        """Press a button: event ``{type: button, detail: {window, ...}}``."""
        if button not in CALLER_BUTTONS:
            raise ValueError(f"button is one of {', '.join(CALLER_BUTTONS)}")
        self.emit(button, {"window": self.window, **detail})


KINDS: dict[str, type[SimDevice]] = {
    cls.kind: cls for cls in (Kiosk, TicketPrinter, Locker, Screen, EnvSensor, Caller)
}
