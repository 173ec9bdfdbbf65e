"""The board: the factory at a glance.

Header (engine, cord, "needs you", today's runs, merges, dark ratio and spend), the
production lines (one row per category), and the runs (live ones first) with a stage
strip. Everything is read in a thread worker when the store changes and applied cell by
cell; the elapsed column ticks from the clock without reading the store.
"""

from __future__ import annotations

from functools import partial

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widgets import DataTable, Input, Label
from textual.worker import Worker, WorkerState

from andon.tui.commands import PaletteCommand
from andon.tui.data import FILTERS, PAGE, BoardData, load_board
from andon.tui.data.board import WindowCounts
from andon.tui.data.specs import schedule_zone
from andon.tui.messages import BoardLoaded
from andon.tui.screens.base import StoreScreen
from andon.tui.widgets.board_header import BoardHeader
from andon.tui.widgets.footer import KeyBar
from andon.tui.widgets.lines_table import LinesTable
from andon.tui.widgets.runs_table import RunsTable

FILTER_NAMES = list(FILTERS)
SEARCH_DELAY = 0.2


class BoardScreen(StoreScreen):
    DEFAULT_CSS = """
    BoardScreen #runs-bar { height: 1; padding: 0 1; background: $boost; }
    BoardScreen #runs-title { width: 1fr; }
    BoardScreen #search { height: 1; border: none; padding: 0 1; }
    BoardScreen #empty { display: none; padding: 0 2; color: $text-muted; }
    BoardScreen #empty.-shown { display: block; }
    """
    BINDINGS = [
        Binding("enter", "open_run", "Open", tooltip="Open the selected run"),
        Binding("slash", "search", "Search", tooltip="Search runs by number, title or line"),
        Binding("f", "filter(1)", "Filter", tooltip="Next status filter"),
        Binding("F", "filter(-1)", "Prev filter", show=False),
        Binding("escape", "clear", "Clear", show=False, tooltip="Clear the search and filter"),
        Binding("tab", "app.focus_next", "Next pane", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter = "recent"
        self.search = ""
        self.limit = PAGE
        self.data: BoardData | None = None
        self.loads = 0  # boards applied (tests wait on this)
        self.window = WindowCounts()  # the month's ended runs, reused between refreshes
        self._loading = False
        self._again = False
        self._search_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield BoardHeader(id="board-header")
        yield LinesTable(id="lines")
        with Horizontal(id="runs-bar"):
            yield Label("runs", id="runs-title", markup=False)
        yield Input(placeholder="search runs: number, title or line (Enter keeps it, "
                    "Escape clears)", id="search")
        yield RunsTable(id="runs")
        yield Label("", id="empty", markup=False)
        yield KeyBar()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#search", Input).display = False
        self.query_one(RunsTable).focus()
        self.set_interval(1.0, self._tick)

    # -- loading ---------------------------------------------------------------------

    def reload(self) -> None:
        if self._loading:
            self._again = True  # one more load after this one: never two at once
            return
        self._loading = True
        self._load(self.filter, self.search, self.limit)

    @work(thread=True, group="board", exit_on_error=False)
    def _load(self, filter: str, search: str, limit: int) -> None:
        data = load_board(self.andon.db, now=self.andon.clock(),
                          mode=self.andon.engine_mode(), filter=filter, search=search,
                          limit=limit, zone=schedule_zone(self.andon.home),
                          window=self.window)
        self.post_message(BoardLoaded(data))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "board" and event.state in (WorkerState.ERROR,
                                                             WorkerState.CANCELLED):
            self._loading = False
        super().on_worker_state_changed(event)

    def on_board_loaded(self, message: BoardLoaded) -> None:
        self._loading = False
        self.apply(message.data)
        if self._again:
            self._again = False
            self.reload()

    def apply(self, data: BoardData) -> None:
        """Show a loaded board: only changed cells are written."""
        self.data = data
        self.loads += 1
        if self.loads == 1:
            self.call_after_refresh(self.andon.warm_up)
        self.query_one(BoardHeader).show(data)
        self.query_one(LinesTable).show(data.lines)
        runs = self.query_one(RunsTable)
        runs.show(data.runs, data.now)
        self._update_bar(data)

    def _update_bar(self, data: BoardData) -> None:
        live = sum(1 for r in data.runs if r.active)
        what = {"recent": f"runs · {live} live, latest finished below",
                "live": "live runs", "all": "all runs"}.get(data.filter, f"{data.filter} runs")
        parts = [what]
        if data.search:
            parts.append(f"matching “{data.search}”")
        if data.more:
            parts.append(f"first {len(data.runs)} (scroll for more)")
        parts.append("f filter · / search")
        self.query_one("#runs-title", Label).update(" · ".join(parts))
        empty = self.query_one("#empty", Label)
        if not data.runs:
            hint = "No runs yet: `andon submit SPEC` queues one." if (
                data.filter == "recent" and not data.search) else \
                "No runs match (Escape clears the search and filter)."
            empty.update(hint)
        empty.set_class(not data.runs, "-shown")

    def _tick(self) -> None:
        if self.data is not None and any(r.active for r in self.data.runs):
            self.query_one(RunsTable).tick(self.andon.clock())

    # -- actions ---------------------------------------------------------------------

    def action_open_run(self) -> None:
        run = self.query_one(RunsTable).selected_run()
        if run is None:
            self.notify("No run selected.", severity="warning")
            return
        self.andon.open_run(run.id)

    @on(DataTable.RowSelected, "#runs")
    def _run_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value:
            self.andon.open_run(int(event.row_key.value))

    @on(DataTable.RowSelected, "#lines")
    def _line_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a production line shows that line's runs."""
        event.stop()
        category = event.row_key.value or ""
        self.set_search(category, filter="all")
        self.query_one(RunsTable).focus()

    @on(DataTable.RowHighlighted, "#runs")
    def _maybe_next_page(self, event: DataTable.RowHighlighted) -> None:
        table = self.query_one(RunsTable)
        if self.data and self.data.more and event.cursor_row >= table.row_count - 1:
            self.limit += PAGE
            self.reload()

    def action_filter(self, step: int) -> None:
        index = (FILTER_NAMES.index(self.filter) + step) % len(FILTER_NAMES)
        self.set_filter(FILTER_NAMES[index])

    def set_filter(self, name: str) -> None:
        if name not in FILTERS:
            raise ValueError(f"unknown filter {name!r}")
        self.filter = name
        self.limit = PAGE
        self.notify(f"Showing {name} runs.", timeout=1.5)
        self.reload()

    def set_search(self, text: str, *, filter: str | None = None) -> None:
        self.search = text
        if filter is not None:
            self.filter = filter
        self.limit = PAGE
        box = self.query_one("#search", Input)
        if box.value != text:
            box.value = text
        box.display = bool(text)
        self.reload()

    def action_search(self) -> None:
        box = self.query_one("#search", Input)
        box.display = True  # inline style: focusable at once, so fast typing lands in it
        self.set_focus(box)

    def action_clear(self) -> None:
        if self.search or self.filter != "recent":
            self.filter = "recent"
            self.set_search("")
        self.query_one("#search", Input).display = False
        self.query_one(RunsTable).focus()

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        value = event.value
        self._search_timer = self.set_timer(SEARCH_DELAY, lambda: self._apply_search(value))

    def _apply_search(self, value: str) -> None:
        if value != self.search:
            self.search = value
            self.limit = PAGE
            self.reload()

    @on(Input.Submitted, "#search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        self._apply_search(event.value)
        if not event.value:
            self.query_one("#search", Input).display = False
        self.query_one(RunsTable).focus()

    def palette_commands(self) -> list[PaletteCommand]:
        out = [PaletteCommand(f"Show {name} runs", "board filter (key f cycles)",
                              partial(self.set_filter, name)) for name in FILTER_NAMES]
        out.append(PaletteCommand("Search runs", "key /: number, title or line",
                                  self.action_search))
        if self.query_one(RunsTable).selected_run() is not None:
            out.append(PaletteCommand("Open the selected run", "key enter", self.action_open_run))
        return out

    def on_key(self, event: events.Key) -> None:
        box = self.query_one("#search", Input)
        if event.key == "escape" and box.has_focus:
            event.stop()
            self.action_clear()
