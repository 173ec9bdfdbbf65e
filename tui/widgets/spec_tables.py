"""The specs screen's three lists: known specs, the queue (active runs in the order the
engine takes them), and schedules. Rows are keyed by spec or run id, and the cursor
stays on its row when a list refreshes."""

from __future__ import annotations

from datetime import datetime

from textual.widgets import DataTable

from store import models as m
from store.clock import as_utc
from tui.widgets.gate_detail import format_age


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _when(value: datetime | None) -> str:
    when = as_utc(value)
    return f"{when:%Y-%m-%d %H:%M}" if when else "never"


class KeyedTable(DataTable[str]):
    COLUMNS: tuple[str, ...] = ()

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for name in self.COLUMNS:
            self.add_column(name, key=name)

    def replace_rows(self, rows: list[tuple[str, tuple[str, ...]]]) -> None:
        selected = self.selected_key()
        self.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key)
        if selected is not None and selected in {k.value for k in self.rows}:
            self.move_cursor(row=self.get_row_index(selected), animate=False)

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


class SpecTable(KeyedTable):
    COLUMNS = ("spec", "title", "category", "repo", "schedule", "updated", "path")

    def show_specs(self, specs: list[m.Spec]) -> None:
        self.replace_rows([(str(s.id), (
            str(s.id), _cut(s.title, 40), s.category, _cut(s.repo, 16), s.schedule or "",
            _when(s.updated_at), s.path)) for s in specs])


class QueueTable(KeyedTable):
    COLUMNS = ("run", "status", "stage", "category", "prio", "age", "title")

    def show_runs(self, runs: list[m.Run], now: datetime) -> None:
        def status(run: m.Run) -> str:
            return f"{run.status} (cancelling)" if run.cancel_requested else run.status

        self.replace_rows([(str(r.id), (
            str(r.id), status(r), r.stage or "", r.category, str(r.priority),
            format_age(r.created_at, now), _cut(r.title, 48))) for r in runs])


class ScheduleTable(KeyedTable):
    COLUMNS = ("spec", "title", "schedule (UTC)", "last fired", "next")

    def show_schedules(self, rows: list[tuple[m.Spec, datetime | None]]) -> None:
        self.replace_rows([(str(s.id), (
            str(s.id), _cut(s.title, 40), s.schedule or "", _when(s.last_fired_at),
            _when(nxt) if nxt else "-")) for s, nxt in rows])
