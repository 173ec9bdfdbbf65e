"""Per-category figures over the history's window: runs, merges and cost per day (per
hour for "today"), each a sparkline with its total beside it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.widgets import Label, Sparkline

from andon.tui.data.history import CategoryMetrics, Metrics


def metric_cells(item: CategoryMetrics) -> list[Label | Sparkline]:
    return [
        Label(item.category, classes="metric-name", markup=False),
        Sparkline(item.runs, classes="metric-spark"),
        Label(f"{item.total_runs:>5}", classes="metric-total"),
        Sparkline(item.merges, classes="metric-spark"),
        Label(f"{item.total_merges:>5}", classes="metric-total"),
        Sparkline(item.cost, classes="metric-spark"),
        Label(f"${item.total_cost:>7.2f}", classes="metric-cost"),
    ]


class HistoryMetrics(Vertical):
    """A grid: category | runs ▁▃▇ n | merges ▁▂▅ n | cost ▁▁▃ $."""

    DEFAULT_CSS = """
    HistoryMetrics { height: auto; max-height: 8; }
    HistoryMetrics #metrics-head { height: 1; color: $text-muted; }
    HistoryMetrics Grid {
        grid-size: 7; grid-columns: 12 1fr 6 1fr 6 1fr 9; grid-rows: 1;
        grid-gutter: 0 1; height: auto;
    }
    HistoryMetrics .metric-name { text-style: bold; }
    HistoryMetrics .metric-head { color: $text-muted; }
    HistoryMetrics Sparkline { height: 1; }
    """

    def compose(self) -> ComposeResult:
        yield Label("", id="metrics-head")
        yield Grid(id="metrics-grid")

    async def show(self, metrics: Metrics) -> None:
        per = "hour" if metrics.bucket == "hour" else "day"
        head = self.query_one("#metrics-head", Label)
        head.update("" if metrics.categories else "no runs in this window")
        head.display = not metrics.categories
        grid = self.query_one("#metrics-grid", Grid)
        await grid.remove_children()
        cells: list[Label | Sparkline] = []
        if metrics.categories:
            cells += [Label(f"per {per}", classes="metric-head"),
                      Label("runs", classes="metric-head"), Label(""),
                      Label("merges", classes="metric-head"), Label(""),
                      Label("cost", classes="metric-head"), Label("")]
        for item in metrics.categories:
            cells += metric_cells(item)
        if cells:
            await grid.mount_all(cells)
