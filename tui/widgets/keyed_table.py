"""A DataTable whose rows are replaced as a whole and keyed by an id, used by the gates,
policies, specs and history screens.

Column widths are computed here from the rows given (not left to DataTable's lazy
auto-width, which can keep widths measured before the rows arrived when a refill
happens from a worker's message), and the cursor stays on the same key across refills.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from textual.binding import Binding
from textual.widgets import DataTable

from andon.tui.widgets.plain import plain_cells

MAX_WIDTH = 60  # no column grows past this; longer text is cut by the caller or DataTable


class KeyedTable(DataTable[str]):
    COLUMNS: tuple[str, ...] = ()
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for name in self.COLUMNS:
            self.add_column(name, key=name)

    def replace_rows(self, rows: Sequence[tuple[str, tuple[str, ...]]]) -> None:
        """Show exactly these rows (key, cells), in this order. The cursor stays on its
        key; when that row went (a gate was decided), it stays at the same place, on the
        row that took its place."""
        selected = self.selected_key()
        place = self.cursor_row
        self.clear(columns=True)
        for i, name in enumerate(self.COLUMNS):
            width = max([cell_len(name), *(cell_len(cells[i]) for _, cells in rows)])
            self.add_column(name, key=name, width=min(width, MAX_WIDTH))
        for key, cells in rows:
            self.add_row(*plain_cells(cells), key=key)
        if selected is not None and selected in {k.value for k in self.rows}:
            self.move_cursor(row=self.get_row_index(selected), animate=False)
        elif selected is not None and rows:
            self.move_cursor(row=min(place, len(rows) - 1), animate=False)

    def selected_key(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # the cursor is off the table
            return None

    def selected_id(self) -> int | None:
        key = self.selected_key()
        return int(key) if key is not None else None
