"""报警: the alarm table with filters, and the officer's actions on the selected alarm."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from hall.console.client import ApiError
from hall.console.modals import AskText, Choose
from hall.console.panes.base import TablePane
from hall.console.state import HallState, age
from hall.labels import ALARM_STATE_ZH as STATE_ZH
from hall.labels import ALARM_ZH, KIND_ZH, SEVERITY_ZH

STATES = ["open", "active", "acked", "cleared", "closed", "all"]
STATE_LABEL = {"open": "未关闭", "all": "全部", **STATE_ZH}
SEVERITIES = [None, "critical", "major", "minor", "warning"]
KINDS = [None, "kiosk", "ticket_printer", "locker", "screen", "env_sensor", "caller", "post", "service", "hall"]
KIND_LABEL = {**KIND_ZH, "post": "岗位", "service": "业务", "hall": "大厅"}


class AlarmsPane(TablePane, Vertical):
    BINDINGS = [
        Binding("a", "ack", "确认"), Binding("s", "assign", "指派"), Binding("c", "comment", "备注"),
        Binding("h", "shelve", "搁置"), Binding("u", "unshelve", "取消搁置"), Binding("r", "resolve", "处理完成"),
        Binding("f", "cycle_state", "状态筛选"), Binding("v", "cycle_severity", "级别筛选"),
        Binding("k", "cycle_kind", "类型筛选"), Binding("z", "zone", "区域筛选"),
    ]

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.state_filter, self.severity, self.kind, self.zone = "open", None, None, ""

    def compose(self) -> ComposeResult:
        yield Static(id="al-filters")
        table = DataTable(id="alarm-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("级别", "状态", "对象", "报警", "位置", "持续", "次数", "指派", "升级")
        yield table

    def show(self, st: HallState, now: datetime) -> None:
        filters = Text.assemble(
            ("筛选 ", "bold"), f"状态:{STATE_LABEL[self.state_filter]}  ",
            f"级别:{SEVERITY_ZH.get(self.severity or '', '全部')}  ",
            f"类型:{KIND_LABEL.get(self.kind or '', '全部')}  ", f"区域:{self.zone or '全部'}")
        self.query_one("#al-filters", Static).update(filters)
        table = self.query_one(DataTable)
        keep = self.selected()
        table.clear()
        rows = st.open_alarms(state=self.state_filter, severity=self.severity, kind=self.kind, zone=self.zone or None)
        for a in rows:
            sev = a.get("severity", "")
            unacked_critical = sev == "critical" and a.get("state") == "active"
            style = "bold white on red" if unacked_critical else ("bold red" if sev in ("critical", "major") else "")
            dev = st.devices.get(a.get("device") or "", {})
            shelved = " (搁置)" if a.get("shelved_until") else ""
            table.add_row(
                Text(SEVERITY_ZH.get(sev, sev), style=style),
                Text(STATE_ZH.get(a.get("state", ""), a.get("state", "")) + shelved,
                     style="bold" if a.get("state") == "active" else "dim"),
                a.get("device") or a.get("subject") or "",
                ALARM_ZH.get(a.get("type", ""), a.get("type", "")),
                (dev.get("location") or "")[:18],
                age(a.get("raised_at"), now),
                str(a.get("count", 1)),
                a.get("assignee") or "",
                Text(f"↑{a['escalation']}", style="bold magenta") if a.get("escalation") else "",
                key=a["id"],
            )
        if keep is not None:
            for i, a in enumerate(rows):
                if a["id"] == keep:
                    table.move_cursor(row=i)
                    break

    # -- filters ----------------------------------------------------------------------------
    def _cycle(self, values: list[Any], current: Any) -> Any:
        return values[(values.index(current) + 1) % len(values)]

    def action_cycle_state(self) -> None:
        self.state_filter = self._cycle(STATES, self.state_filter)
        self.console.refresh_views()

    def action_cycle_severity(self) -> None:
        self.severity = self._cycle(SEVERITIES, self.severity)
        self.console.refresh_views()

    def action_cycle_kind(self) -> None:
        self.kind = self._cycle(KINDS, self.kind)
        self.console.refresh_views()

    @work(exclusive=True, group="alarm-dialog")
    async def action_zone(self) -> None:
        zone = await self.app.push_screen_wait(AskText("按位置筛选（如：7x24、一楼；留空显示全部）", value=self.zone))
        if zone is not None:
            self.zone = zone
            self.console.refresh_views()

    # -- actions on the selected alarm --------------------------------------------------------
    async def _do(self, alarm_id: str, action: str, body: dict[str, Any] | None = None, done: str = "") -> None:
        try:
            alarm = await self.console.client.post(f"/alarms/{alarm_id}/{action}", body)
        except ApiError as e:
            self.app.notify(e.detail, title="操作失败", severity="error")
            return
        self.console.state.alarms[alarm["id"]] = alarm
        self.console.refresh_views()
        if done:
            self.app.notify(done)

    @work(exclusive=True, group="alarm-dialog")
    async def action_ack(self) -> None:
        if (aid := self.selected()) is not None:
            await self._do(aid, "ack", done="已确认")

    @work(exclusive=True, group="alarm-dialog")
    async def action_assign(self) -> None:
        aid = self.selected()
        if aid is None:
            return
        try:
            staff = await self.console.client.get("/staff", role="facility")
        except ApiError as e:
            self.app.notify(e.detail, severity="error")
            return
        options = [(s["username"], f"{s.get('display_name') or s['username']}（{s['username']}）") for s in staff]
        who = await self.app.push_screen_wait(Choose("指派给哪位设施人员？", options)) if options else None
        if who:
            await self._do(aid, "assign", {"assignee": who}, done=f"已指派给 {who}")

    @work(exclusive=True, group="alarm-dialog")
    async def action_comment(self) -> None:
        aid = self.selected()
        if aid is None:
            return
        text = await self.app.push_screen_wait(AskText("备注（交班时可见）"))
        if text:
            await self._do(aid, "comment", {"text": text}, done="已添加备注")

    @work(exclusive=True, group="alarm-dialog")
    async def action_shelve(self) -> None:
        aid = self.selected()
        if aid is None:
            return
        minutes = await self.app.push_screen_wait(AskText("搁置多少分钟？（1-1440）", value="60"))
        if not minutes:
            return
        if not minutes.isdigit():
            self.app.notify("请输入分钟数", severity="error")
            return
        reason = await self.app.push_screen_wait(AskText("搁置原因"))
        if reason:
            await self._do(aid, "shelve", {"minutes": int(minutes), "reason": reason}, done=f"已搁置 {minutes} 分钟")

    @work(exclusive=True, group="alarm-dialog")
    async def action_unshelve(self) -> None:
        if (aid := self.selected()) is not None:
            await self._do(aid, "unshelve", done="已取消搁置")

    @work(exclusive=True, group="alarm-dialog")
    async def action_resolve(self) -> None:
        aid = self.selected()
        if aid is None:
            return
        note = await self.app.push_screen_wait(AskText("处理说明（可留空）"))
        if note is not None:
            await self._do(aid, "resolve", {"note": note} if note else {}, done="已处理完成")
