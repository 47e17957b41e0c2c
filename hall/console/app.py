"""The night duty console (``hall console``): a Textual client of the server's REST API and stream.

Keyboard first: 1-6 switch panes, each pane's keys are in the footer. The stream replays from
the last ``seq`` after any reconnect, so a server restart loses and repeats nothing; everything
slower (device metrics, queue figures) is polled.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.widgets import Footer, Static, TabbedContent, TabPane

from hall.console.client import ApiError, HallClient
from hall.console.panes.alarms import AlarmsPane
from hall.console.panes.devices import DevicesPane
from hall.console.panes.events import EventsPane
from hall.console.panes.lockers import LockersPane
from hall.console.panes.overview import OverviewPane
from hall.console.panes.shift import ShiftPane
from hall.console.state import HallState
from hall.labels import ALARM_ZH

POLL_S = 5.0


class ConsoleApp(App[None]):
    CSS_PATH = "console.tcss"
    TITLE = "政务服务大厅 值班台"
    BINDINGS = [
        Binding("1", "pane('overview')", "总览"), Binding("2", "pane('alarms')", "报警"),
        Binding("3", "pane('devices')", "设备"), Binding("4", "pane('lockers')", "智能柜"),
        Binding("5", "pane('events')", "事件"), Binding("6", "pane('shift')", "交接班"),
        Binding("ctrl+r", "reload", "刷新", show=False), Binding("q", "quit", "退出"),
    ]

    def __init__(self, server: str, username: str, password: str, *, hall: str | None = None,
                 output_dir: Path | None = None, poll_s: float = POLL_S) -> None:
        super().__init__()
        self.client = HallClient(server, username, password, hall)
        self.state = HallState(hall or "")
        self.output_dir = output_dir or Path.cwd()
        self.poll_s = poll_s
        self.stream_status = "connecting"
        self._refresh_due = False
        self.clock_offset = timedelta(0)  # the hall's clock minus this machine's (demos may run the hall ahead)
        self.ready = asyncio.Event()  # tests: signed in, first state loaded

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        with TabbedContent(initial="overview"):
            with TabPane("1 总览", id="overview"):
                yield OverviewPane()
            with TabPane("2 报警", id="alarms"):
                yield AlarmsPane()
            with TabPane("3 设备", id="devices"):
                yield DevicesPane()
            with TabPane("4 智能柜", id="lockers"):
                yield LockersPane()
            with TabPane("5 事件", id="events"):
                yield EventsPane()
            with TabPane("6 交接班", id="shift"):
                yield ShiftPane()
        yield Footer()

    def on_mount(self) -> None:
        self._show_status()
        self.start()

    async def on_unmount(self) -> None:
        await self.client.close()

    # -- connection ---------------------------------------------------------------------------
    @work(exclusive=True, group="connect")
    async def start(self) -> None:
        try:
            await self.client.login()
        except ApiError as e:
            self.notify(e.detail, title="登录失败", severity="error", timeout=30)
            return
        except Exception as e:  # noqa: BLE001 - the server is not there (yet)
            self.notify(f"无法连接服务器 / cannot reach {self.client.server}: {type(e).__name__}",
                        severity="error", timeout=30)
            await asyncio.sleep(3)
            self.start()
            return
        if self.client.role not in ("duty_officer", "manager", "admin"):
            self.notify("值班台需要值班人员账号 / the console needs a duty_officer account", severity="warning")
        self.state.hall = self.client.hall or self.state.hall
        self.sub_title = f"{self.client.display_name} @ {self.client.server}"
        self.set_interval(self.poll_s, self._poll_all)
        self.set_interval(1.0, self._every_second)
        self.stream()

    @work(exclusive=True, group="stream")
    async def stream(self) -> None:
        await self.client.stream(lambda: self.state.seq, self._stream_message, self._stream_status_changed)

    def _stream_status_changed(self, status: str) -> None:
        was = self.stream_status
        self.stream_status = status
        if status == "live" and was == "down":
            self._poll_all()  # back after an outage: catch up on what the stream does not carry
        self._show_status()

    async def _stream_message(self, msg: dict[str, Any]) -> None:
        if msg.get("type") == "snapshot":
            with contextlib.suppress(KeyError, ValueError, TypeError):  # the hall's clock, for ages and durations
                self.clock_offset = datetime.fromisoformat(msg["at"]) - datetime.now().astimezone()
            self.state.load_snapshot(msg)
            await self.reload()
            self.ready.set()
            return
        if not self.state.apply(msg):
            return  # already applied: a replay after a reconnect
        t, data = msg.get("type", ""), msg.get("data") or {}
        if t == "alarm.raised" and data.get("severity") == "critical":
            self.bell()
            self.notify(f"{data.get('device') or data.get('subject')} {ALARM_ZH.get(data.get('type'), '')}",
                        title="紧急报警", severity="error", timeout=15)
        elif t == "alarm.escalated":
            self.notify(f"{data.get('device') or data.get('subject')} {ALARM_ZH.get(data.get('type'), '')} "
                        f"已升级（{data.get('escalation')}）", title="报警升级", severity="warning")
        elif t.startswith("locker.") or t == "device.registered":
            self._poll_lockers()
        self.refresh_views()

    async def reload(self) -> None:
        """Everything from REST (after the snapshot, so nothing between them is lost)."""
        c, st = self.client, self.state
        alarms, devices, services, windows = await asyncio.gather(
            c.get("/alarms", state="open"), c.get("/devices"), c.get("/services"), c.get("/windows"))
        st.load_alarms(alarms)
        st.load_devices(devices)
        st.load_services(services)
        st.load_windows(windows)
        try:
            st.load_lockers(await c.get("/lockers"))
            st.notes = await c.get("/shift/notes")
        except ApiError:
            pass
        self.refresh_views()

    @work(exclusive=True, group="poll")
    async def _poll_all(self) -> None:
        if self.stream_status != "live":
            return
        with contextlib.suppress(Exception):  # the next poll tries again; the status line shows the stream
            await self.reload()

    @work(exclusive=True, group="lockers")
    async def _poll_lockers(self) -> None:
        try:
            self.state.load_lockers(await self.client.get("/lockers"))
        except Exception:  # noqa: BLE001
            return
        self.refresh_views()

    def _every_second(self) -> None:
        try:
            self._show_status()
            status = self.query_one("#status", Static)
        except NoMatches:
            return  # not mounted yet, or the console is closing: the next second draws it
        if self.state.unacked_critical():
            status.add_class("critical")
        else:
            status.remove_class("critical")

    # -- views --------------------------------------------------------------------------------
    def refresh_views(self) -> None:
        """Redraw soon (many events in a burst are drawn once)."""
        if not self._refresh_due:
            self._refresh_due = True
            self.call_later(self._redraw)

    def _redraw(self) -> None:
        self._refresh_due = False
        if not self.is_running:
            return
        now = datetime.now().astimezone() + self.clock_offset
        try:
            self.query_one(OverviewPane).show(self.state, now, self.stream_status)
            self.query_one(AlarmsPane).show(self.state, now)
            self.query_one(DevicesPane).show(self.state, now)
            self.query_one(LockersPane).show(self.state)
            self.query_one(EventsPane).show(self.state)
            self.query_one(ShiftPane).show()
            self._show_status()
        except NoMatches:
            # An event arrived while a pane's widgets are still being mounted (at start-up, or as
            # the app closes): draw again shortly rather than crash the console.
            self.set_timer(0.1, self.refresh_views)

    def _show_status(self) -> None:
        st = self.state
        crit = len(st.unacked_critical())
        live = {"live": "● 实时", "connecting": "○ 连接中", "down": "✕ 连接中断，正在重连"}[self.stream_status]
        text = f" {st.hall_name or st.hall or '…'} | {st.hall_mode()} | {live} | 事件 #{max(st.seq, 0)}"
        if crit:
            text += f" | {crit} 条紧急报警未确认"
        self.query_one("#status", Static).update(text)

    def action_pane(self, pane: str) -> None:
        self.query_one(TabbedContent).active = pane
        if pane == "shift":
            self.query_one(ShiftPane).action_summary()

    def action_reload(self) -> None:
        self._poll_all()
