"""Keyed DataTable rows that change in place: the board never rebuilds a table.

Columns are declared with a fixed width (or None: this one takes the room left) and the
narrowest table width at which they show, so 80 columns hide the least useful ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from andon.tui.widgets.plain import plain_cells

PADDING = 2  # DataTable's cell_padding, both sides
SCROLLBAR = 2


@dataclass(frozen=True)
class Col:
    label: str
    key: str
    width: int | None = None  # None: flexible, gets what is left
    min_table: int = 0  # shown only when the table is at least this wide


def signature(cell: Any) -> Any:
    if isinstance(cell, Text):
        return (cell.plain, tuple(cell.spans), str(cell.style), cell.justify)
    return cell


class KeyedTable(DataTable[Any]):
    """A DataTable whose rows are keyed; `sync` applies a new list of rows by key.

    Rows that vanished are removed, new ones added, and in rows that stay only the cells
    whose content changed are updated; the order is restored with one sort when needed.
    """

    COLUMNS: Sequence[Col] = ()
    FLEX_MIN = 10
    BINDINGS = [
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cursor_type", "row")
        super().__init__(**kwargs)
        self.shown: dict[str, tuple[Any, ...]] = {}
        self.rows_wanted: list[tuple[str, tuple[Any, ...]]] = []
        self.shown_columns: list[int] = []  # indexes into COLUMNS
        self.updates = 0  # cells written by the last sync (for tests and the bench)

    def on_key(self, event: events.Key) -> None:
        """Type-ahead: keys queued to this table before focus moved on (say "/slug" typed
        at once opens the search and then types into it) follow the focus, in order."""
        focused = self.screen.focused
        if focused is not None and focused is not self:
            event.stop()
            event.prevent_default()
            focused.post_message(events.Key(event.key, event.character))
        elif event.key == "slash" and hasattr(self.screen, "action_search"):
            # Open the search now, not when the key reaches the bindings: the keys
            # already queued behind it must find the search box focused.
            event.stop()
            event.prevent_default()
            self.screen.action_search()

    # -- columns ---------------------------------------------------------------------

    def _layout_for(self, width: int) -> tuple[list[int], int]:
        visible = [i for i, c in enumerate(self.COLUMNS) if width >= c.min_table]
        fixed = sum((self.COLUMNS[i].width or 0) + PADDING for i in visible)
        flex = [i for i in visible if self.COLUMNS[i].width is None]
        room = width - SCROLLBAR - fixed - PADDING * len(flex)
        return visible, max(self.FLEX_MIN, room // max(1, len(flex)))

    def on_mount(self) -> None:
        self._apply_layout(self.size.width or 80, force=True)

    def on_resize(self, event: events.Resize) -> None:
        self._apply_layout(event.size.width)

    def _apply_layout(self, width: int, *, force: bool = False) -> None:
        visible, flex = self._layout_for(width)
        if visible != self.shown_columns or force:
            self.shown_columns = visible
            cursor = self.cursor_key()
            self.clear(columns=True)
            self.shown.clear()
            for i in visible:
                col = self.COLUMNS[i]
                self.add_column(col.label, key=col.key, width=col.width or flex)
            if self.rows_wanted:
                self.sync(self.rows_wanted)
            if cursor is not None and cursor in self.shown:
                self.move_cursor(row=self.get_row_index(cursor))
        for i in visible:
            col = self.COLUMNS[i]
            column = self.columns[ColumnKey(col.key)]
            if col.width is None and column.width != flex:
                column.width = flex
                self._require_update_dimensions = True
                self.refresh()

    # -- rows ------------------------------------------------------------------------

    def sync(self, rows: Sequence[tuple[str, tuple[Any, ...]]]) -> None:
        """Show exactly `rows` ((key, all COLUMNS' cells) in display order)."""
        self.rows_wanted = list(rows)
        if not self.shown_columns:
            return  # not mounted yet: on_mount lays out and syncs
        self.updates = 0
        wanted = {key for key, _ in rows}
        for key in [k for k in self.shown if k not in wanted]:
            self.remove_row(key)
            del self.shown[key]
        for key, all_cells in rows:
            cells = list(plain_cells([all_cells[i] for i in self.shown_columns]))
            sig = tuple(signature(c) for c in cells)
            old = self.shown.get(key)
            if old is None:
                self.add_row(*cells, key=key)
                self.updates += len(cells)
            elif old != sig:
                for i, before, after, cell in zip(self.shown_columns, old, sig, cells, strict=True):
                    if before != after:
                        self.update_cell(key, self.COLUMNS[i].key, cell)
                        self.updates += 1
            self.shown[key] = sig
        wanted_order = [key for key, _ in rows]
        if [row.key.value for row in self.ordered_rows] != wanted_order:
            position = {key: index for index, key in enumerate(wanted_order)}
            first = self.COLUMNS[self.shown_columns[0]].key
            by_cell = {signature(self.get_cell(key, first)): position[key]
                       for key in wanted_order}
            self.sort(first, key=lambda cell: by_cell.get(signature(cell), 0))

    def cursor_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except Exception:  # the cursor points past a row that just went away
            return None
        return key.value
