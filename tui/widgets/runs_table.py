"""The board's table of runs: one row per run, updated in place as runs move."""

from __future__ import annotations

from textual.widgets import DataTable

from store import models as m

COLUMNS = ("run", "status", "stage", "category", "lvl", "title", "model", "cost")


def _cells(run: m.Run) -> tuple[str, ...]:
    cost = "unknown" if run.cost_usd is None else f"${run.cost_usd:.2f}"
    return (str(run.id), run.status, run.stage or "", run.category, str(run.level),
            run.title, run.model, cost)


class RunsTable(DataTable[str]):
    """Rows keyed by run id; a refresh touches only the cells that changed."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for name in COLUMNS:
            self.add_column(name, key=name)

    def show_runs(self, runs: list[m.Run]) -> None:
        wanted = {str(r.id) for r in runs}
        for key in [k.value for k in self.rows if k.value not in wanted]:
            self.remove_row(key)
        for run in sorted(runs, key=lambda r: r.id or 0, reverse=True):
            key = str(run.id)
            cells = _cells(run)
            if key not in {k.value for k in self.rows}:
                self.add_row(*cells, key=key)
                continue
            for column, value in zip(COLUMNS, cells, strict=True):
                if self.get_cell(key, column) != value:
                    self.update_cell(key, column, value)
        self._order()

    def _order(self) -> None:
        self.sort("run", key=lambda value: -int(value))
