"""The inbox's list of pending gates, oldest first; rows keyed by gate id."""

from __future__ import annotations

from datetime import datetime

from textual.widgets import DataTable

from tui.widgets.gate_detail import GateItem, format_age

COLUMNS = ("gate", "kind", "run", "category", "age", "title")
TITLE_WIDTH = 48


class GateTable(DataTable[str]):
    """Pending gates; the cursor stays on the same gate when the list refreshes."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for name in COLUMNS:
            self.add_column(name, key=name)

    def show_gates(self, items: list[GateItem], now: datetime) -> None:
        selected = self.selected_gate_id()
        self.clear()
        for item in items:
            gate, run = item.gate, item.run
            title = gate.title or run.title
            if len(title) > TITLE_WIDTH:
                title = title[: TITLE_WIDTH - 1] + "…"
            self.add_row(str(gate.id), gate.kind, str(run.id), run.category,
                         format_age(gate.created_at, now), title, key=str(gate.id))
        if selected is not None and str(selected) in {k.value for k in self.rows}:
            self.move_cursor(row=self.get_row_index(str(selected)), animate=False)

    def selected_gate_id(self) -> int | None:
        if self.row_count == 0:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:  # the cursor is off the table (empty or shrinking)
            return None
        return int(key.value) if key.value is not None else None
