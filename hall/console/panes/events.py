"""事件: the live event log (newest first) with search."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Input

from hall.console.state import HallState, describe


class EventsPane(Vertical):
    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.query_text = ""

    def compose(self) -> ComposeResult:
        yield Input(placeholder="搜索事件（设备、票号、类型…）按 Enter", id="ev-search")
        table = DataTable(id="event-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("序号", "时间", "类型", "内容")
        yield table

    @on(Input.Submitted, "#ev-search")
    @on(Input.Changed, "#ev-search")
    def _search(self, event: Input.Changed | Input.Submitted) -> None:
        self.query_text = event.value.strip()
        self.show(self.app.state)  # type: ignore[attr-defined]

    def show(self, st: HallState) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for e in st.latest_events(300, self.query_text):
            table.add_row(str(e["seq"]), (e.get("at") or "")[11:19], e.get("type", ""), describe(e), key=str(e["seq"]))

    def rows(self) -> list[str]:
        """The seqs shown, newest first (tests read this)."""
        table = self.query_one(DataTable)
        return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
