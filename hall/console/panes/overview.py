"""总览: hall mode, queues, windows and posts, the device grid, alarms by severity, latest events."""

from __future__ import annotations

from datetime import datetime

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Static

from hall.console.state import HallState, describe
from hall.labels import KIND_ZH, SEVERITY_ZH

DEVICE_STYLE = {"ok": "black on green", "alarm": "black on yellow", "offline": "white on red",
                "unknown": "white on grey37"}
SEVERITY_STYLE = {"critical": "bold white on red", "major": "bold red", "minor": "yellow", "warning": "cyan"}
WINDOW_ZH = {"closed": "未开", "idle": "空闲", "calling": "叫号", "serving": "办理", "paused": "暂停"}


class OverviewPane(VerticalScroll):
    def compose(self) -> ComposeResult:
        yield Static(id="ov-mode")
        with Horizontal(id="ov-top"):
            yield Static(id="ov-services")
            yield Static(id="ov-alarms")
        with Horizontal(id="ov-mid"):
            yield Static(id="ov-windows")
            with Vertical():
                yield Static(id="ov-devices")
                yield Static(id="ov-events")

    def show(self, st: HallState, now: datetime, stream: str) -> None:
        mode = Text.assemble((f" {st.hall_name or st.hall} ", "bold"), (f" {st.hall_mode()} ", "reverse"),
                             f"  {now:%H:%M:%S}  ", ("实时" if stream == "live" else "连接中断，正在重连…",
                                                      "green" if stream == "live" else "bold red"))
        self.query_one("#ov-mode", Static).update(mode)

        svc = Table(title="业务排队", expand=True, show_edge=False, pad_edge=False)
        for col in ("业务", "等候", "预计"):
            svc.add_column(col)
        for s in st.services.values():
            wait = s.get("est_wait_s")
            svc.add_row(s.get("name", s.get("code", "")), str(s.get("waiting", 0)),
                        "-" if not s.get("open") else (f"{round(wait / 60)}分" if wait else "0分"))
        self.query_one("#ov-services", Static).update(svc)

        counts = st.alarm_counts()
        al = Text("报警\n", style="bold")
        for sev, n in counts.items():
            al.append(f"{SEVERITY_ZH[sev]} {n}  ", style=SEVERITY_STYLE[sev] if n else "dim")
        crit = st.unacked_critical()
        if crit:
            al.append(f"\n{len(crit)} 条紧急报警未确认", style="bold white on red")
        self.query_one("#ov-alarms", Static).update(al)

        win = Table(title="窗口与AB岗", expand=True, show_edge=False, pad_edge=False)
        for col in ("窗口", "状态", "在岗", "岗位"):
            win.add_column(col)
        for w in sorted(st.windows.values(), key=lambda w: int(w["window"]) if str(w["window"]).isdigit() else 99):
            post = w.get("post") or {}
            flag = "空岗" if post.get("vacant") else ("B岗代岗" if post.get("covering") else
                                                      ("离岗" if post.get("away_reason") else ""))
            win.add_row(str(w.get("window")), WINDOW_ZH.get(w.get("state", ""), w.get("state", "")),
                        str(post.get("on_duty") or "-"), Text(flag, style="bold red" if flag == "空岗" else "yellow"))
        self.query_one("#ov-windows", Static).update(win)

        grid = Text("设备\n", style="bold")
        for dev in sorted(st.devices.values(), key=lambda d: (d.get("kind", ""), d["device"])):
            state = st.device_state(dev["device"])
            grid.append(f" {dev['device']} ", style=DEVICE_STYLE[state])
            grid.append(" ")
        grid.append("\n")
        for state, label in (("ok", "正常"), ("alarm", "报警"), ("offline", "离线")):
            grid.append(f" {label} ", style=DEVICE_STYLE[state])
            grid.append(" ")
        kinds: dict[str, int] = {}
        for d in st.devices.values():
            kinds[d.get("kind", "")] = kinds.get(d.get("kind", ""), 0) + 1
        grid.append("  " + " ".join(f"{KIND_ZH.get(k, k)}{n}" for k, n in sorted(kinds.items())), style="dim")
        self.query_one("#ov-devices", Static).update(grid)

        ev = Text("最新事件\n", style="bold")
        for e in st.latest_events(6):
            ev.append(f"{e.get('at', '')[11:19]} {describe(e)}\n")
        self.query_one("#ov-events", Static).update(ev)
