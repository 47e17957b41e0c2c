"""设备: every device with its state; one device in detail; commands with confirmation and live progress."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Sparkline, Static

from hall.console.client import ApiError
from hall.console.modals import AskText, Confirm
from hall.console.panes.base import TablePane
from hall.console.state import HallState, age, command_text
from hall.labels import ALARM_ZH, KIND_ZH
from hall.labels import COMMAND_STATE_ZH as COMMAND_ZH

STATE_TEXT = {"ok": ("正常", "green"), "alarm": ("报警", "bold yellow"), "offline": ("离线", "bold red"),
              "unknown": ("未上线", "dim")}
COMMAND_STYLE = {"done": "green", "failed": "bold red", "rejected": "bold red", "timeout": "bold red",
                 "unknown": "yellow", "expired": "yellow"}


class DevicesPane(TablePane, Vertical):
    BINDINGS = [
        Binding("enter", "detail", "详情"), Binding("o", "open_door", "开柜门"), Binding("b", "reboot", "重启"),
        Binding("p", "print_test", "打印测试页"),
    ]

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.detail: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        table = DataTable(id="device-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("设备", "类型", "状态", "位置", "最后消息", "报警")
        yield table
        with VerticalScroll(id="dev-detail"):
            yield Static("选择设备后按 Enter 查看详情", id="dev-info")
            yield Sparkline([], id="dev-spark")
            yield Static(id="dev-commands")

    def show(self, st: HallState, now: datetime) -> None:
        table = self.query_one(DataTable)
        keep = self.selected()
        table.clear()
        rows = sorted(st.devices.values(), key=lambda d: (d.get("kind", ""), d["device"]))
        for d in rows:
            label, style = STATE_TEXT[st.device_state(d["device"])]
            alarms = [ALARM_ZH.get(a.get("type", ""), a.get("type", "")) for a in st.alarms.values()
                      if a.get("device") == d["device"] and a.get("state") in ("active", "acked")]
            table.add_row(d["device"], KIND_ZH.get(d.get("kind", ""), d.get("kind", "")), Text(label, style=style),
                          (d.get("location") or "")[:16], age(d.get("last_seen"), now), "、".join(alarms)[:24],
                          key=d["device"])
        if keep is not None:
            for i, d in enumerate(rows):
                if d["device"] == keep:
                    table.move_cursor(row=i)
        self._show_commands(st)

    def _show_commands(self, st: HallState) -> None:
        device = self.detail["device"] if self.detail else self.selected()
        cmds = sorted((c for c in st.commands.values() if c.get("device") == device),
                      key=lambda c: c.get("created_at") or "", reverse=True)[:6]
        t = Text("指令进度\n", style="bold")
        for c in cmds:
            state = c.get("state", "")
            t.append(f"{(c.get('created_at') or '')[11:19]} {command_text(c)}  ")
            t.append(COMMAND_ZH.get(state, state), style=COMMAND_STYLE.get(state, "cyan"))
            reason = (c.get("detail") or {}).get("reason")
            t.append(f" {reason}\n" if reason else "\n")
        self.query_one("#dev-commands", Static).update(t if cmds else "")

    @on(DataTable.RowSelected, "#device-table")
    def _row(self) -> None:
        self.action_detail()

    @work(exclusive=True, group="device-detail")
    async def action_detail(self) -> None:
        device = self.selected()
        if device is None:
            return
        try:
            d = await self.console.client.get(f"/devices/{device}")
        except ApiError as e:
            self.app.notify(e.detail, severity="error")
            return
        self.detail = d
        for c in d.get("commands", []):
            self.console.state.commands.setdefault(c["id"], c)
        info = Table.grid(padding=(0, 2))
        info.add_column(style="bold")
        info.add_column()
        info.add_row("设备", f"{d['device']}（{KIND_ZH.get(d['kind'], d['kind'])}） {d.get('location') or ''}")
        info.add_row("连接", ("在线" if d.get("online") else f"离线（{d.get('offline_reason') or ''}）") +
                     f" 自 {(d.get('since') or '')[5:19]}  启动号 {d.get('boot')}  固件 {d.get('fw') or '-'}")
        metrics = d.get("metrics") or {}
        if "slots" in metrics:
            busy = sum(1 for s in metrics["slots"] if s.get("occupied"))
            opened = [str(s["slot"]) for s in metrics["slots"] if s.get("door") == "open"]
            info.add_row("格口", f"{busy}/{len(metrics['slots'])} 有物品" + (f"，开门：{','.join(opened)}" if opened else ""))
        else:
            info.add_row("指标", "  ".join(f"{k}={v}" for k, v in metrics.items()) or "-")
        if d.get("clock_skewed"):
            info.add_row("时钟", Text(f"偏差 {d.get('clock_skew_s')} 秒", style="bold yellow"))
        info.add_row("连接记录", "；".join(f"{(c.get('at') or '')[11:19]} {c['change']}" for c in
                                         d.get("connectivity", [])[-4:]) or "-")
        info.add_row("最近消息", "；".join(f"{(m.get('at') or '')[11:19]} {m['kind']} {m['summary']}" for m in
                                         d.get("recent_messages", [])[-4:]) or "-")
        self.query_one("#dev-info", Static).update(info)
        numeric = next((k for k in ("temp_c", "paper_pct", "humidity_pct", "disk_pct", "cpu_pct", "brightness")
                        if k in metrics), None)
        series = [h["metrics"].get(numeric) for h in d.get("history", []) if numeric] if numeric else []
        self.query_one("#dev-spark", Sparkline).data = [float(v) for v in series if isinstance(v, int | float)]
        self._show_commands(self.console.state)

    async def _send(self, device: str, name: str, args: dict[str, Any], question: str) -> None:
        if not await self.app.push_screen_wait(Confirm(question)):
            return
        try:
            cmd = await self.console.client.post(f"/devices/{device}/commands", {"name": name, "args": args})
        except ApiError as e:
            self.app.notify(e.detail, title="指令未发出", severity="error")
            return
        self.console.state.commands[cmd["id"]] = cmd
        self.detail = self.detail if self.detail and self.detail["device"] == device else {"device": device}
        self._show_commands(self.console.state)
        self.app.notify(f"{device} {command_text(cmd)}：{COMMAND_ZH.get(cmd['state'], cmd['state'])}")

    @work(exclusive=True, group="device-command")
    async def action_open_door(self) -> None:
        device = self.selected()
        if device is None:
            return
        if self.console.state.devices.get(device, {}).get("kind") != "locker":
            self.app.notify("只有智能柜可以开门", severity="warning")
            return
        slot = await self.app.push_screen_wait(AskText(f"{device} 打开几号格口？"))
        if slot and slot.isdigit():
            await self._send(device, "open_door", {"slot": int(slot)}, f"确认打开 {device} 的 {slot} 号格口？")

    @work(exclusive=True, group="device-command")
    async def action_reboot(self) -> None:
        if (device := self.selected()) is not None:
            await self._send(device, "reboot", {}, f"确认重启 {device}？")

    @work(exclusive=True, group="device-command")
    async def action_print_test(self) -> None:
        device = self.selected()
        if device is None:
            return
        if self.console.state.devices.get(device, {}).get("kind") not in ("kiosk", "ticket_printer"):
            self.app.notify("只有取号机和打印机可以打印", severity="warning")
            return
        await self._send(device, "print", {}, f"确认在 {device} 打印测试页？")
