"""Which device signal raises or clears which alarm, per device kind (pure: no I/O).

The ingestion keeps one :class:`DeviceState` per device and feeds it telemetry, events,
connectivity changes and the passing of time; each step returns :class:`Signal` values (raise or
clear an alarm of a type) for the alarm machinery to store. Level conditions (paper, disk,
temperature, humidity, doors open too long, a dark screen) are edge-triggered: they signal when
they change, not on every message, so steady telemetry costs nothing. Event conditions (a fault,
a jam, a door opened with no command behind it) signal on each event; the alarm machinery counts
repeats of an open alarm instead of adding rows.

Temperature and humidity use an on-delay (out of range this long before the alarm), an
off-delay (back in range this long before it clears) and a deadband (back in range means this
far inside it), so a value hovering at the limit does not flap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hall.hallconfig import IotCfg, RangeCfg
from hall.labels import ALARM_ZH

DEFAULT_SEVERITY = {
    "offline": "major", "paper_low": "minor", "paper_out": "major", "jam": "major", "fault": "major",
    "disk_full": "minor", "door_open_long": "major", "door_unexpected": "critical", "door_jam": "critical",
    "temperature": "minor", "humidity": "minor", "screen_dark": "major",
    "mqtt_rejected": "warning", "clock_skew": "warning",
}
TEXT = ALARM_ZH  # the alarm texts (设备离线, 缺纸 …), shared with the console and the PDFs


@dataclass(frozen=True, slots=True)
class Signal:
    raise_: bool  # True: raise (or count again); False: clear
    type: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RangeState:
    phase: str = "normal"  # normal, pending_on, active, pending_off
    since_ms: int = 0
    value: float | None = None


def range_step(st: RangeState, value: float | None, now: int, cfg: RangeCfg) -> str | None:
    """One step of a measured value against its range; returns "raise", "clear" or None."""
    if value is not None:
        st.value = value
    v = st.value
    if v is None:
        return None
    outside = v < cfg.low or v > cfg.high
    inside_band = cfg.low + cfg.deadband <= v <= cfg.high - cfg.deadband
    if st.phase == "normal":
        if outside:
            st.phase, st.since_ms = "pending_on", now
            return range_step(st, None, now, cfg) if cfg.on_delay_s == 0 else None
    elif st.phase == "pending_on":
        if not outside:
            st.phase = "normal"
        elif now - st.since_ms >= cfg.on_delay_s * 1000:
            st.phase = "active"
            return "raise"
    elif st.phase == "active":
        if inside_band:
            st.phase, st.since_ms = "pending_off", now
            return range_step(st, None, now, cfg) if cfg.off_delay_s == 0 else None
    elif st.phase == "pending_off":
        if not inside_band:
            st.phase = "active"
        elif now - st.since_ms >= cfg.off_delay_s * 1000:
            st.phase = "normal"
            return "clear"
    return None


@dataclass(slots=True)
class DeviceState:
    """What the rules remember of one device."""

    kind: str
    rules: frozenset[str]
    level: set[str] = field(default_factory=set)  # level alarms whose condition holds now
    temperature: RangeState = field(default_factory=RangeState)
    humidity: RangeState = field(default_factory=RangeState)
    door_open_since: dict[int, int] = field(default_factory=dict)  # slot -> ms
    screen_seen_ms: int | None = None  # a registered screen's WebSocket last connected / seen

    def _level(self, type_: str, holds: bool, out: list[Signal], detail: dict[str, Any] | None = None) -> None:
        if holds and type_ not in self.level:
            self.level.add(type_)
            out.append(Signal(True, type_, detail or {}))
        elif not holds and type_ in self.level:
            self.level.discard(type_)
            out.append(Signal(False, type_))


def new_state(kind: str, cfg: IotCfg) -> DeviceState:
    return DeviceState(kind=kind, rules=frozenset(cfg.rules.get(kind, ())))


def on_connectivity(st: DeviceState, online: bool, reason: str | None = None) -> list[Signal]:
    out: list[Signal] = []
    if "offline" in st.rules:
        st._level("offline", not online, out, {"reason": reason} if reason else None)
    return out


def on_telemetry(st: DeviceState, metrics: dict[str, Any], now: int, cfg: IotCfg) -> list[Signal]:
    out: list[Signal] = []
    rules = st.rules
    if "paper" in rules:
        paper = _num(metrics.get("paper_pct"))
        if paper is not None:
            st._level("paper_out", paper <= 0, out, {"paper_pct": paper})
            # paper_low holds from the threshold down to out; refilled paper clears both
            low = 0 < paper < cfg.paper_low_pct or ("paper_low" in st.level and 0 < paper < cfg.paper_low_pct + 5)
            st._level("paper_low", low, out, {"paper_pct": paper})
    if "disk_full" in rules:
        disk = _num(metrics.get("disk_pct"))
        if disk is not None:
            holds = disk >= cfg.disk_full_pct or ("disk_full" in st.level and disk >= cfg.disk_full_pct - 5)
            st._level("disk_full", holds, out, {"disk_pct": disk})
    if "temperature" in rules and "temp_c" in metrics:
        _range(st, "temperature", st.temperature, _num(metrics.get("temp_c")), now, cfg.temperature, out)
    if "humidity" in rules and "humidity_pct" in metrics:
        _range(st, "humidity", st.humidity, _num(metrics.get("humidity_pct")), now, cfg.humidity, out)
    slots = metrics.get("slots")
    if isinstance(slots, list):
        for s in slots:
            if isinstance(s, dict) and isinstance(s.get("slot"), int):
                if s.get("door") == "open":
                    st.door_open_since.setdefault(s["slot"], now)
                else:
                    st.door_open_since.pop(s["slot"], None)
        _doors(st, now, cfg, out)
    if st.kind == "screen" and metrics.get("ws_connected") is True:
        st.screen_seen_ms = now
    return out


def on_event(st: DeviceState, type_: str, detail: dict[str, Any], now: int, cfg: IotCfg,
             expected_open: bool = False) -> list[Signal]:
    """A device event. ``expected_open``: a door_opened that a command of ours explains."""
    out: list[Signal] = []
    rules = st.rules
    if type_ in ("fault", "jam"):
        rule = "jam" if type_ == "jam" else "fault"
        if rule in rules:
            out.append(Signal(True, rule, detail))
    elif type_ == "fault_cleared":
        cleared = detail.get("type") if detail.get("type") in ("jam", "fault") else "fault"
        out.append(Signal(False, cleared))
    elif type_ in ("paper_low", "paper_out") and "paper" in rules:
        st._level(type_, True, out, detail)
        if type_ == "paper_out":
            st._level("paper_low", False, out)
    elif type_ == "door_opened":
        slot = detail.get("slot")
        if isinstance(slot, int):
            st.door_open_since.setdefault(slot, now)
        if not expected_open and "door_unexpected" in rules:
            out.append(Signal(True, "door_unexpected", {"slot": slot}))
    elif type_ == "door_closed":
        slot = detail.get("slot")
        if isinstance(slot, int):
            st.door_open_since.pop(slot, None)
        _doors(st, now, cfg, out)
    elif type_ == "tamper" and "door_unexpected" in rules:
        out.append(Signal(True, "door_unexpected", {"tamper": True, **detail}))
    return out


def on_tick(st: DeviceState, now: int, cfg: IotCfg) -> list[Signal]:
    """Time-based conditions: delays of ranges, doors open too long, dark screens."""
    out: list[Signal] = []
    if "temperature" in st.rules:
        _range(st, "temperature", st.temperature, None, now, cfg.temperature, out)
    if "humidity" in st.rules:
        _range(st, "humidity", st.humidity, None, now, cfg.humidity, out)
    if st.door_open_since or "door_open_long" in st.level:
        _doors(st, now, cfg, out)
    if "screen_dark" in st.rules and st.screen_seen_ms is not None:
        st._level("screen_dark", now - st.screen_seen_ms > cfg.screen_dark_s * 1000, out,
                  {"dark_s": round((now - st.screen_seen_ms) / 1000)})
    return out


def on_screen_seen(st: DeviceState, now: int) -> list[Signal]:
    """A registered screen's WebSocket is connected (called while it is)."""
    st.screen_seen_ms = now
    out: list[Signal] = []
    if "screen_dark" in st.rules:
        st._level("screen_dark", False, out)
    return out


def _doors(st: DeviceState, now: int, cfg: IotCfg, out: list[Signal]) -> None:
    if "door_open_long" not in st.rules:
        return
    limit = cfg.locker.door_open_alarm_s * 1000
    long_open = sorted(s for s, t in st.door_open_since.items() if now - t >= limit)
    st._level("door_open_long", bool(long_open), out, {"slots": long_open})


def _range(st: DeviceState, type_: str, rs: RangeState, value: float | None, now: int, cfg: RangeCfg,
           out: list[Signal]) -> None:
    step = range_step(rs, value, now, cfg)
    if step == "raise":
        st.level.add(type_)
        out.append(Signal(True, type_, {"value": rs.value, "low": cfg.low, "high": cfg.high}))
    elif step == "clear":
        st.level.discard(type_)
        out.append(Signal(False, type_))


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def severity(type_: str, cfg: IotCfg) -> str:
    return cfg.severity.get(type_) or DEFAULT_SEVERITY.get(type_, "major")
