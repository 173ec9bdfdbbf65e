"""History: runs filtered by category, status and date (today, 7 days, 30 days, all, or a
from/to range), a page at a time, with per-category sparklines of runs, merges and cost.

The store may hold 100,000 runs, so every read is an indexed query: pages use keyset
pagination on (created_at, id) (ix_runs_created / ix_runs_category_created), figures
are GROUP BY over the window's index range (ix_runs_created, ix_runs_merged).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import partial

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import DataTable, Header, Input, Label, Select

from andon.engine.errors import UserError
from andon.store import models as m
from andon.store.clock import utcnow
from andon.store.db import Database
from andon.tui.commands import PaletteCommand
from andon.tui.data.history import (
    PAGE,
    HistoryFilter,
    HistoryPage,
    Key,
    Metrics,
    history_categories,
    history_metrics,
    history_page,
)
from andon.tui.screens.base import StoreScreen
from andon.tui.widgets.footer import KeyBar
from andon.tui.widgets.history_metrics import HistoryMetrics
from andon.tui.widgets.history_table import HistoryTable
from andon.tui.widgets.plain import plain

PERIODS = (("today", "today"), ("7 days", "7d"), ("30 days", "30d"), ("all time", "all"),
           ("from/to", "range"))
STATUSES = ("active", m.MERGED, m.FAILED, m.REJECTED, m.CANCELLED, m.REVERTED, m.STUCK,
            m.UNCHANGED,
            m.RUNNING, m.WAITING, m.QUEUED, m.HELD, m.INTERRUPTED)


def parse_day(text: str, tz: tzinfo) -> datetime | None:
    """``2025-03-01`` as local midnight in `tz`; None when blank; UserError when bad."""
    text = text.strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise UserError(f"{text!r} is not a date: write it as YYYY-MM-DD") from None
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def period_window(period: str, now: datetime, tz: tzinfo) -> tuple[datetime | None,
                                                                   datetime | None]:
    if period == "today":
        local = now.astimezone(tz)
        return local.replace(hour=0, minute=0, second=0, microsecond=0), None
    if period == "7d":
        return now - timedelta(days=7), None
    if period == "30d":
        return now - timedelta(days=30), None
    return None, None


class HistoryLoaded(Message):
    def __init__(self, flt: HistoryFilter, after: Key | None, page: HistoryPage,
                 metrics: Metrics | None, categories: list[str] | None) -> None:
        self.flt = flt
        self.after = after
        self.page = page
        self.metrics = metrics
        self.categories = categories
        super().__init__()


class HistoryScreen(StoreScreen):
    reload_gap = 1.0  # the track record and metrics read a whole category's runs
    SUB_TITLE = "history"
    DEFAULT_CSS = """
    HistoryScreen #history-filters { height: 3; }
    HistoryScreen #history-filters Select { width: 1fr; }
    HistoryScreen #history-filters #filter-period { width: 16; }
    HistoryScreen #history-filters Input { width: 16; }
    HistoryScreen #history-filters Input:disabled { opacity: 50%; }
    HistoryScreen HistoryMetrics { border-bottom: solid $primary; padding: 0 1; }
    HistoryScreen HistoryTable { height: 1fr; }
    HistoryScreen #history-page { height: 1; padding: 0 1; background: $boost; }
    """
    BINDINGS = [
        Binding("right_square_bracket", "page(1)", "Older", key_display="]",
                tooltip="The next page: older runs"),
        Binding("left_square_bracket", "page(-1)", "Newer", key_display="[",
                tooltip="The previous page: newer runs"),
        Binding("t", "period('today')", "Today", show=False),
        Binding("w", "period('7d')", "7 days", show=False),
        Binding("m", "period('30d')", "30 days", show=False),
        Binding("a", "period('all')", "All", show=False),
        Binding("f", "focus_filters", "Filters", tooltip="Move to the filters"),
        Binding("o", "open_run", "Open run", tooltip="Open the selected run"),
        Binding("escape", "back", "Back", tooltip="Back to the previous screen"),
    ]

    def __init__(self, db: Database, *, clock: Callable[[], datetime] | None = None,
                 tz: tzinfo | None = None, period: str = "30d") -> None:
        super().__init__()
        self.db = db
        self.clock = clock or utcnow
        self.tz: tzinfo = tz or self.clock().astimezone().tzinfo or UTC
        self.period = period
        self.filter = HistoryFilter()
        self._cursors: list[Key | None] = [None]  # the "after" key of each page shown
        self._last_key: Key | None = None
        self._has_next = False
        self._categories: list[str] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="history-filters"):
            yield Select[str]([], prompt="category", id="filter-category")
            yield Select[str]([(s, s) for s in STATUSES], prompt="status",
                              id="filter-status")
            yield Select[str](PERIODS, value=self.period, allow_blank=False,
                              id="filter-period")
            yield Input(placeholder="from", id="filter-from", disabled=self.period != "range",
                        tooltip="first day, YYYY-MM-DD")
            yield Input(placeholder="to", id="filter-to", disabled=self.period != "range",
                        tooltip="last day, YYYY-MM-DD")
        yield HistoryMetrics(id="history-metrics")
        yield HistoryTable(id="history-runs")
        yield Label("", id="history-page")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one(HistoryTable).focus()
        self.filter = self._read_filters()
        super().on_mount()

    def reload(self) -> None:
        """Read the page shown again (and the figures)."""
        self._load(self.filter, self._cursors[-1], True)

    # -- filters ---------------------------------------------------------------------

    def _read_filters(self) -> HistoryFilter:
        category = self.query_one("#filter-category", Select).value
        status = self.query_one("#filter-status", Select).value
        now = self.clock()
        if self.period == "range":
            start = parse_day(self.query_one("#filter-from", Input).value, self.tz)
            end = parse_day(self.query_one("#filter-to", Input).value, self.tz)
            if end is not None:
                end += timedelta(days=1)  # "to" is inclusive
        else:
            start, end = period_window(self.period, now, self.tz)
        return HistoryFilter(
            category=category if isinstance(category, str) else None,
            status=status if isinstance(status, str) else None,
            start=start, end=end)

    def apply_filters(self) -> None:
        try:
            self.filter = self._read_filters()
        except UserError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        self._cursors = [None]
        self._load(self.filter, None, True)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "filter-period" and isinstance(event.value, str):
            self.period = event.value
            for box in self.query("#history-filters Input").results(Input):
                box.disabled = self.period != "range"
            if self.period == "range":
                self.query_one("#filter-from", Input).focus()
                self.notify("Type the first and last day as YYYY-MM-DD; Enter applies.")
        self.apply_filters()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.apply_filters()

    def action_period(self, period: str) -> None:
        self.query_one("#filter-period", Select).value = period  # Changed applies it

    def action_focus_filters(self) -> None:
        self.query_one("#filter-category", Select).focus()

    # -- loading ---------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="history-load", exit_on_error=False)
    def _load(self, flt: HistoryFilter, after: Key | None, with_metrics: bool) -> None:
        page = history_page(self.db, flt, after)
        metrics = (history_metrics(self.db, replace(flt, status=None), self.clock(), self.tz)
                   if with_metrics else None)
        categories = history_categories(self.db) if with_metrics else None
        self.post_message(HistoryLoaded(flt, after, page, metrics, categories))

    async def on_history_loaded(self, message: HistoryLoaded) -> None:
        if message.flt != self.filter or message.after != self._cursors[-1]:
            return  # the filters or the page changed while this was loading
        page = message.page
        table = self.query_one(HistoryTable)
        table.show_runs(page.runs, self.tz)
        last = page.runs[-1] if page.runs else None
        self._last_key = (last.created_at, last.id or 0) if last is not None else None
        self._has_next = page.has_next
        first = (len(self._cursors) - 1) * PAGE
        shown = (f"runs {first + 1}–{first + len(page.runs)} of {page.total:,}"
                 if page.runs else "no runs match")
        more = " · ]: older" if page.has_next else ""
        back = " · [: newer" if len(self._cursors) > 1 else ""
        self.query_one("#history-page", Label).update(shown + more + back)
        if message.categories is not None and message.categories != self._categories:
            self._categories = message.categories
            select = self.query_one("#filter-category", Select)
            with self.prevent(Select.Changed):
                current = select.value
                select.set_options([(plain(c), c) for c in message.categories])
                if isinstance(current, str) and current in message.categories:
                    select.value = current
        if message.metrics is not None:
            await self.query_one(HistoryMetrics).show(message.metrics)

    # -- actions ---------------------------------------------------------------------

    def action_page(self, step: int) -> None:
        if step > 0:
            if not self._has_next:
                self.notify("No older runs.", severity="information")
                return
            self._cursors.append(self._last_key)
        else:
            if len(self._cursors) == 1:
                self.notify("This is the newest page.", severity="information")
                return
            self._cursors.pop()
        self._load(self.filter, self._cursors[-1], False)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open_run()

    def action_open_run(self) -> None:
        run_id = self.query_one(HistoryTable).selected_id()
        if run_id is None:
            self.notify("No run selected.", severity="warning")
            return
        self.andon.open_run(run_id)

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
        else:
            self.andon.action_show("board")

    def palette_commands(self) -> list[PaletteCommand]:
        out = [PaletteCommand(f"History: {name}", f"key {key}",
                              partial(self.action_period, period))
               for name, key, period in (("today", "t", "today"), ("last 7 days", "w", "7d"),
                                         ("last 30 days", "m", "30d"),
                                         ("all time", "a", "all"))]
        out += [PaletteCommand("History: from/to days", "type YYYY-MM-DD in from and to",
                               lambda: self.action_period("range")),
                PaletteCommand("History: older runs", "key ]", lambda: self.action_page(1)),
                PaletteCommand("History: newer runs", "key [", lambda: self.action_page(-1)),
                PaletteCommand("History: filter by category or status", "key f",
                               self.action_focus_filters)]
        return out
