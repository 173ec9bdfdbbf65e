"""The control room: a Textual app over the factory's store."""

from __future__ import annotations

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Footer, Header

from engine.home import Home
from store import models as m
from store import queries as q
from store.db import Database
from tui.widgets.runs_table import RunsTable

POLL_SECONDS = 0.25


class RunsLoaded(Message):
    def __init__(self, runs: list[m.Run]) -> None:
        self.runs = runs
        super().__init__()


class AndonApp(App[None]):
    TITLE = "Andon"
    SUB_TITLE = "control room"
    BINDINGS = [
        Binding("q", "quit", "Quit", priority=True),
        Binding("r", "refresh", "Refresh"),
    ]

    def __init__(self, home: Home, db: Database) -> None:
        super().__init__()
        self.home = home
        self.db = db
        self._seen_version: int | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield RunsTable(id="runs")
        yield Footer()

    def on_mount(self) -> None:
        self.action_refresh()
        self.set_interval(POLL_SECONDS, self._poll)

    def _poll(self) -> None:
        self._check_store()

    @work(thread=True, exclusive=True, group="store")
    def _check_store(self) -> None:
        version = self.db.data_version()
        if version != self._seen_version:
            self._seen_version = version
            self.post_message(RunsLoaded(q.list_runs(self.db, limit=200)))

    def action_refresh(self) -> None:
        self._seen_version = None
        self._check_store()

    def on_runs_loaded(self, message: RunsLoaded) -> None:
        self.query_one(RunsTable).show_runs(message.runs)
