"""What the duty console knows of the hall, built from REST answers and stream events (pure).

The console is a client: it keeps the last ``seq`` it has applied, so after any reconnect it asks
the server to replay from there, and applying an event twice changes nothing (alarms, devices and
commands are replaced whole by id; the event log is keyed by ``seq``). No I/O here: the app feeds
it and the screens read it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hall.labels import ALARM_ZH, COMMAND_STATE_ZH, COMMAND_ZH

SEVERITY_ORDER = {"critical": 0, "major": 1, "minor": 2, "warning": 3}
OPEN = ("active", "acked", "cleared")
EVENT_LOG_SIZE = 2000


def command_text(c: dict[str, Any]) -> str:
    """开门 3号格口, 重启, 打印 测试页 …"""
    args = c.get("args") or {}
    name = COMMAND_ZH.get(c.get("name", ""), c.get("name", ""))
    if "slot" in args:
        return f"{name} {args['slot']}号格口"
    if c.get("name") == "print":
        return f"{name} {'测试页' if args.get('ticket_id') in (None, 'test') else args['ticket_id']}"
    if "text" in args:
        return f"{name}「{str(args['text'])[:20]}」"
    return name


@dataclass
class HallState:
    hall: str
    hall_name: str = ""
    seq: int = -1  # the last event applied (-1: nothing yet)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    windows: dict[str, dict[str, Any]] = field(default_factory=dict)
    alarms: dict[str, dict[str, Any]] = field(default_factory=dict)
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    commands: dict[str, dict[str, Any]] = field(default_factory=dict)
    lockers: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: OrderedDict[int, dict[str, Any]] = field(default_factory=OrderedDict)
    notes: list[dict[str, Any]] = field(default_factory=list)

    # -- loading -----------------------------------------------------------------------------
    def load_snapshot(self, snap: dict[str, Any]) -> None:
        self.seq = max(self.seq, int(snap.get("seq", -1)))
        data = snap.get("data") or {}
        self.hall_name = data.get("hall_name") or self.hall_name
        for s in data.get("services", []):
            self.services[s["code"]] = {**self.services.get(s["code"], {}), **s}
        for w in data.get("windows", []):
            self.windows[str(w["window"])] = {**self.windows.get(str(w["window"]), {}), **w}

    def load_alarms(self, alarms: list[dict[str, Any]]) -> None:
        """The open alarms as the server lists them now (closed ones it no longer lists are dropped)."""
        fresh = {a["id"]: a for a in alarms}
        for aid, a in list(self.alarms.items()):
            if aid not in fresh and a.get("state") in OPEN:
                del self.alarms[aid]
        self.alarms.update(fresh)

    def load_devices(self, devices: list[dict[str, Any]]) -> None:
        self.devices = {d["device"]: d for d in devices}

    def load_services(self, services: list[dict[str, Any]]) -> None:
        for s in services:
            self.services[s["code"]] = {**self.services.get(s["code"], {}), **s}

    def load_windows(self, windows: list[dict[str, Any]]) -> None:
        for w in windows:
            self.windows[str(w["window"])] = {**self.windows.get(str(w["window"]), {}), **w}

    def load_lockers(self, lockers: list[dict[str, Any]]) -> None:
        self.lockers = {lk["device"]: lk for lk in lockers}

    # -- events -------------------------------------------------------------------------------
    def apply(self, ev: dict[str, Any]) -> bool:
        """Apply one stream event; False when it was already applied (a replay after reconnect)."""
        seq = ev.get("seq")
        if not isinstance(seq, int) or seq <= self.seq:
            return False
        self.seq = seq
        self.events[seq] = ev
        while len(self.events) > EVENT_LOG_SIZE:
            self.events.popitem(last=False)
        type_, data = ev.get("type", ""), ev.get("data") or {}
        topic = type_.split(".", 1)[0]
        if topic == "alarm" and isinstance(data.get("id"), str):
            self.alarms[data["id"]] = {**self.alarms.get(data["id"], {}), **{k: v for k, v in data.items()
                                                                           if k not in ("by", "previous")}}
            if type_ == "alarm.flood":
                self.alarms[data["id"]]["type"] = "alarm_flood"
        elif topic == "command" and isinstance(data.get("id"), str):
            self.commands[data["id"]] = data
        elif type_ in ("device.online", "device.offline", "device.rebooted"):
            d = self.devices.setdefault(data["device"], {"device": data["device"], "kind": "", "metrics": {}})
            d["online"] = data.get("online", d.get("online"))
            d["boot"] = data.get("boot", d.get("boot"))
            d["offline_reason"] = data.get("reason")
        elif type_ == "window.state":
            w = self.windows.setdefault(str(data.get("window")), {"window": data.get("window")})
            w["state"] = data.get("state")
        elif type_ in ("ticket.issued", "ticket.called", "ticket.transferred", "ticket.requeued"):
            s = self.services.get(data.get("service", ""))
            if s is not None and "waiting" in data:
                s["waiting"] = data["waiting"]
        elif type_ == "shift.note":
            self.notes.insert(0, data)
        return True

    # -- views --------------------------------------------------------------------------------
    def open_alarms(self, *, state: str = "open", severity: str | None = None, kind: str | None = None,
                    zone: str | None = None) -> list[dict[str, Any]]:
        """Alarms for the table: filtered, by severity then age (oldest first within a severity)."""
        out = []
        for a in self.alarms.values():
            st = a.get("state")
            if state == "open" and st not in OPEN or state not in ("open", "all") and st != state:
                continue
            if severity and a.get("severity") != severity:
                continue
            dev = self.devices.get(a.get("device") or "", {})
            if kind and (dev.get("kind") or a.get("source")) != kind:
                continue
            if zone and zone not in (dev.get("location") or ""):
                continue
            out.append(a)
        return sorted(out, key=lambda a: (SEVERITY_ORDER.get(a.get("severity", ""), 9), a.get("raised_at") or ""))

    def alarm_counts(self) -> dict[str, int]:
        counts = {s: 0 for s in SEVERITY_ORDER}
        for a in self.alarms.values():
            if a.get("state") in OPEN and a.get("severity") in counts:
                counts[a["severity"]] += 1
        return counts

    def unacked_critical(self) -> list[dict[str, Any]]:
        return [a for a in self.alarms.values() if a.get("severity") == "critical" and a.get("state") == "active"]

    def hall_mode(self) -> str:
        if any(s.get("open") for s in self.services.values()):
            return "对外办理中"
        return "仅自助服务（7x24）"

    def device_state(self, device: str) -> str:
        """ok / alarm / offline / unknown, for the device grid's colour."""
        d = self.devices.get(device, {})
        if not d.get("online"):
            return "offline" if d.get("boot") is not None or d.get("last_seen") else "unknown"
        if any(a.get("device") == device and a.get("state") in ("active", "acked") for a in self.alarms.values()):
            return "alarm"
        return "ok"

    def latest_events(self, n: int = 10, query: str = "") -> list[dict[str, Any]]:
        evs = list(self.events.values())
        if query:
            q = query.lower()
            evs = [e for e in evs if q in describe(e).lower() or q in e.get("type", "")]
        return evs[-n:][::-1]


def describe(ev: dict[str, Any]) -> str:
    """One line in Chinese for an event of the log."""
    t, d = ev.get("type", ""), ev.get("data") or {}
    dev = d.get("device") or d.get("subject") or ""
    if t.startswith("alarm."):
        what = ALARM_ZH.get(d.get("type", ""), d.get("type", ""))
        verb = {"alarm.raised": "报警", "alarm.cleared": "恢复", "alarm.acked": "已确认", "alarm.assigned": "已指派",
                "alarm.commented": "备注", "alarm.shelved": "已搁置", "alarm.unshelved": "取消搁置",
                "alarm.resolved": "已处理", "alarm.escalated": "升级", "alarm.flood": "报警泛滥"}.get(t, t)
        extra = f" → {d.get('assignee')}" if t == "alarm.assigned" else ""
        return f"{verb} {dev} {what}{extra}".strip()
    if t.startswith("command."):
        return f"指令 {d.get('device')} {command_text(d)} {COMMAND_STATE_ZH.get(d.get('state', ''), d.get('state'))}"
    if t in ("device.online", "device.offline", "device.rebooted"):
        return f"{dev} " + {"device.online": "上线", "device.offline": "离线", "device.rebooted": "重启"}[t]
    if t.startswith("locker."):
        slot = d.get("slot")
        return f"智能柜 {dev} {slot or ''}号 {t.split('.', 1)[1]}".replace(" None号", "")
    if t.startswith("ticket."):
        return f"{d.get('ticket', '')} {t.split('.', 1)[1]} {d.get('window_name') or d.get('service') or ''}".strip()
    if t == "window.state":
        return f"{d.get('window_name', d.get('window'))} {d.get('state')}"
    if t == "shift.note":
        return f"交班备注：{d.get('text', '')[:40]}"
    return f"{t} {dev}".strip()


def age(iso: str | None, now: datetime) -> str:
    if not iso:
        return ""
    try:
        s = int((now - datetime.fromisoformat(iso)).total_seconds())
    except ValueError:
        return ""
    if s < 60:
        return f"{max(s, 0)}秒"
    if s < 3600:
        return f"{s // 60}分"
    return f"{s // 3600}时{s % 3600 // 60}分"
