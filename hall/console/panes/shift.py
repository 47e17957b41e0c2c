"""交接班: handover notes, the shift's summary, and the handover PDF to print."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from hall.console.client import ApiError
from hall.console.modals import AskText
from hall.labels import COMMAND_STATE_ZH as COMMAND_ZH
from hall.labels import SEVERITY_ZH

if TYPE_CHECKING:
    from hall.console.app import ConsoleApp


class ShiftPane(VerticalScroll):
    BINDINGS = [Binding("n", "note", "写交班备注"), Binding("g", "summary", "刷新小结"),
                Binding("p", "pdf", "交接班PDF")]

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.summary: dict[str, Any] | None = None
        self.saved: Path | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="sh-summary")
        yield Static(id="sh-notes")

    @property
    def console(self) -> ConsoleApp:
        return self.app  # type: ignore[return-value]

    def show(self) -> None:
        s = self.summary
        if s is None:
            self.query_one("#sh-summary", Static).update("按 g 载入本班小结")
        else:
            t = Table(title=f"本班小结 {(s.get('since') or '')[5:16]} — {(s.get('until') or '')[5:16]}", expand=True)
            t.add_column("项目", style="bold")
            t.add_column("数量")
            al = s.get("alarms", {})
            t.add_row("报警 新发生 / 已确认 / 已处理 / 未关闭",
                      f"{al.get('raised', 0)} / {al.get('acknowledged', 0)} / {al.get('resolved', 0)} / "
                      f"{al.get('still_open', 0)}")
            by_sev = al.get("by_severity") or {}
            if by_sev:
                t.add_row("按级别", "  ".join(f"{SEVERITY_ZH.get(k, k)} {v}" for k, v in by_sev.items()))
            cmds = (s.get("commands") or {}).get("by_state") or {}
            t.add_row("指令", "  ".join(f"{COMMAND_ZH.get(k, k)} {v}" for k, v in cmds.items()) or "0")
            lk = s.get("lockers") or {}
            t.add_row("智能柜 存件 / 取件 / 失败", f"{lk.get('deposits', 0)} / {lk.get('picked_up', 0)} / "
                                                  f"{lk.get('failed', 0)}")
            tk = s.get("tickets") or {}
            if tk:
                t.add_row("取号 / 办结 / 等候中", f"{tk.get('issued', 0)} / {tk.get('finished', 0)} / "
                                                  f"{tk.get('waiting_now', 0)}")
            self.query_one("#sh-summary", Static).update(t)
        notes = Text("交班备注（n 新增）\n", style="bold")
        for n in self.console.state.notes[:20]:
            notes.append(f"{(n.get('at') or '')[5:16]} {n.get('author', '')}：", style="cyan")
            notes.append(f"{n.get('text', '')}\n")
        if self.saved:
            notes.append(f"\n交接班 PDF 已保存：{self.saved}\n", style="green")
        self.query_one("#sh-notes", Static).update(notes)

    @work(exclusive=True, group="shift")
    async def action_summary(self) -> None:
        try:
            self.summary = await self.console.client.get("/shift/summary")
        except ApiError as e:
            self.app.notify(e.detail, severity="error")
        self.show()

    @work(exclusive=True, group="shift")
    async def action_note(self) -> None:
        text = await self.app.push_screen_wait(AskText("交班备注（接班人员可见，可打印）"))
        if not text:
            return
        try:
            note = await self.console.client.post("/shift/notes", {"text": text})
        except ApiError as e:
            self.app.notify(e.detail, severity="error")
            return
        if not any(n.get("id") == note.get("id") for n in self.console.state.notes):
            self.console.state.notes.insert(0, note)
        self.show()

    @work(exclusive=True, group="shift")
    async def action_pdf(self) -> None:
        try:
            pdf = await self.console.client.get("/shift/handover.pdf")
        except ApiError as e:
            self.app.notify(e.detail, severity="error")
            return
        path = self.console.output_dir / f"交接班-{self.console.state.hall}-{datetime.now():%Y%m%d-%H%M}.pdf"
        path.write_bytes(pdf)
        self.saved = path
        self.app.notify(f"已保存 {path}")
        self.show()
