"""Readiness: which categories may run dark, in numbers.

A row per category (level, runs in its evidence window, false merges with their 95%
upper bound, agreement, reverts with their bound, the verdict); below it the selected
category's recommendation, its figures in words and five trends as sparklines (false
merges, agreement, reverts, cost and working time per merged change), oldest to newest across the
window. It reads the same report as `andon report` (`engine.readiness.load`), in a
thread worker; a promotion stays a person's audited decision on the policies screen.
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Header, Label, Sparkline, Static

from andon.engine.readiness.load import category_readiness
from andon.engine.readiness.report import Readiness
from andon.store.db import Database
from andon.tui.readiness_text import duration, figure_lines, pct, verdict_label
from andon.tui.screens.base import StoreScreen
from andon.tui.widgets.footer import KeyBar
from andon.tui.widgets.keyed_table import KeyedTable

COLUMNS = ("category", "lvl", "runs", "false merges", "agree", "reverts", "verdict")
TRENDS = (("false_merges", "false merges"), ("agreement", "agreement"),
          ("reverts", "reverts"), ("cost_per_merge", "cost/change"),
          ("seconds_per_merge", "time/change"))


#: How the newest value of a trend is written beside its sparkline (default: a rate).
LAST = {"cost_per_merge": lambda v: f"${v:.2f}", "seconds_per_merge": duration}


def cells(rep: Readiness) -> tuple[str, ...]:
    return (rep.category, str(rep.level), str(rep.runs),
            f"{rep.false_merges}/{rep.decided} ≤{pct(rep.false_merge_upper)}",
            pct(rep.agreement),
            f"{rep.failed_after_merge}/{rep.merged} ≤{pct(rep.revert_upper)}",
            verdict_label(rep))


def spark_values(values: list[float | None]) -> list[float]:
    """A gap (no run to measure in a slice) repeats the value before it."""
    out: list[float] = []
    for value in values:
        out.append(value if value is not None else (out[-1] if out else 0.0))
    return out


class ReadinessTable(KeyedTable):
    COLUMNS = COLUMNS

    def show_reports(self, reports: list[Readiness]) -> None:
        self.replace_rows([(r.category, cells(r)) for r in reports])

    def selected_category(self) -> str | None:
        return self.selected_key()


class ReadinessDetail(VerticalScroll):
    DEFAULT_CSS = """
    ReadinessDetail { height: 1fr; padding: 0 1; }
    ReadinessDetail #readiness-sentence { text-style: bold; }
    ReadinessDetail Grid { grid-size: 3; grid-columns: 13 1fr 8; grid-rows: 1;
                           height: auto; margin-top: 1; }
    ReadinessDetail Sparkline { height: 1; }
    ReadinessDetail .trend-name { color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="readiness-sentence", markup=False)
        cells: list[Label | Sparkline] = []
        for key, title in TRENDS:
            cells += [Label(title, classes="trend-name"),
                      Sparkline([], id=f"trend-{key.replace('_', '-')}"),
                      Label("", id=f"trend-{key.replace('_', '-')}-last")]
        yield Grid(*cells, id="readiness-trends")
        yield Static("", id="readiness-figures", markup=False)

    def show(self, rep: Readiness | None) -> None:
        sentence = self.query_one("#readiness-sentence", Static)
        figures = self.query_one("#readiness-figures", Static)
        if rep is None:
            sentence.update("No category selected.")
            figures.update("")
            return
        rec = rep.recommendation
        sentence.update(rec.sentence if rec is not None else rep.category)
        figures.update("\n".join(figure_lines(rep)))
        for key, _ in TRENDS:
            name = key.replace("_", "-")
            values = rep.trends.get(key, [])
            self.query_one(f"#trend-{name}", Sparkline).data = spark_values(values)
            known = [v for v in values if v is not None]
            last = "-" if not known else LAST.get(key, pct)(known[-1])
            self.query_one(f"#trend-{name}-last", Label).update(last)


class ReportsLoaded(Message):
    def __init__(self, reports: list[Readiness]) -> None:
        self.reports = reports
        super().__init__()


class ReadinessScreen(StoreScreen):
    reload_gap = 2.0  # the report reads every finished run
    AUTO_FOCUS = "#readiness-list"
    SUB_TITLE = "readiness"
    DEFAULT_CSS = """
    ReadinessScreen ReadinessTable { height: auto; max-height: 7; }
    ReadinessScreen ReadinessDetail { border-top: solid $primary; }
    """
    BINDINGS = [Binding("escape", "back", "Back", tooltip="Back to the previous screen")]

    def __init__(self, db: Database) -> None:
        super().__init__()
        self.db = db
        self.reports: dict[str, Readiness] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield ReadinessTable(id="readiness-list")
        yield ReadinessDetail(id="readiness-detail")
        yield KeyBar()

    def reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="readiness-load", exit_on_error=False)
    def _load(self) -> None:
        self.post_message(ReportsLoaded(category_readiness(self.db)))

    def on_reports_loaded(self, message: ReportsLoaded) -> None:
        self.reports = {r.category: r for r in message.reports}
        self.query_one(ReadinessTable).show_reports(message.reports)
        self._show_selected()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_selected()

    def _show_selected(self) -> None:
        category = self.query_one(ReadinessTable).selected_category()
        self.query_one(ReadinessDetail).show(self.reports.get(category or ""))

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
        else:
            self.andon.action_show("board")
