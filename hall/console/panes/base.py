"""What the panes with a table share: the app, and the row under the cursor."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import DataTable

if TYPE_CHECKING:
    from hall.console.app import ConsoleApp


class TablePane:
    """Mixin for a pane whose first DataTable lists things by key (alarm id, device id)."""

    @property
    def console(self) -> ConsoleApp:
        return self.app  # type: ignore[attr-defined, no-any-return]

    def selected(self) -> str | None:
        table = self.query_one(DataTable)  # type: ignore[attr-defined]
        if table.row_count == 0:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
