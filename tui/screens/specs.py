"""Specs and queue: known specs, the queue of active runs, schedules; submit a spec by
path, requeue a spec, cancel a run.

Submitting goes through `engine.run.queue.submit` (a spec that does not parse queues
nothing and shows its SpecError); requeue through `engine.run.queue.enqueue`; cancel through
`tui.actions.cancel` (a queued run is cancelled at once, a started one is asked to stop
at its next step). Store work runs in thread workers that post messages back; the app's
`worker_failed` reports failures.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Header, TabbedContent, TabPane

from andon.engine.errors import NotFound
from andon.engine.run.queue import enqueue
from andon.policies.stored import current_user
from andon.store import models as m
from andon.store.clock import utcnow
from andon.store.db import Database
from andon.tui.actions import cancel
from andon.tui.commands import PaletteCommand
from andon.tui.data.specs import SpecsData, load_specs, schedule_zone, spec_by_id
from andon.tui.screens.base import StoreScreen
from andon.tui.widgets.footer import KeyBar
from andon.tui.widgets.spec_confirm import SpecConfirmScreen
from andon.tui.widgets.spec_submit import SpecSubmitScreen
from andon.tui.widgets.spec_tables import QueueTable, ScheduleTable, SpecTable


class SpecsLoaded(Message):
    def __init__(self, data: SpecsData) -> None:
        self.data = data
        super().__init__()


class SpecActionDone(Message):
    def __init__(self, text: str, show_queue: bool = False) -> None:
        self.text = text
        self.show_queue = show_queue
        super().__init__()


def requeue(db: Database, spec_id: int) -> m.Run:
    spec = spec_by_id(db, spec_id)
    if spec is None:
        raise NotFound(f"no spec {spec_id}")
    return enqueue(db, spec, reason=f"requeued by {current_user()}")


class SpecsScreen(StoreScreen):
    AUTO_FOCUS = "#spec-list"
    SUB_TITLE = "specs & queue"
    BINDINGS = [
        Binding("n", "submit", "Submit", tooltip="Validate a spec file and queue a run"),
        Binding("r", "requeue", "Requeue", tooltip="Queue the selected spec again"),
        Binding("c", "cancel_run", "Cancel run", tooltip="Cancel the selected run"),
        Binding("1", "show_tab('specs-tab')", "Specs", show=False),
        Binding("2", "show_tab('queue-tab')", "Queue", show=False),
        Binding("3", "show_tab('schedules-tab')", "Schedules", show=False),
        Binding("escape", "back", "Back", tooltip="Back to the previous screen"),
    ]

    def __init__(self, db: Database, *, base: Path | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        super().__init__()
        self.db = db
        self.base = base
        self.clock = clock or utcnow
        self.runs: dict[int, m.Run] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(initial="specs-tab"):
            with TabPane("Specs [1]", id="specs-tab"):
                yield SpecTable(id="spec-list")
            with TabPane("Queue [2]", id="queue-tab"):
                yield QueueTable(id="queue-list")
            with TabPane("Schedules [3]", id="schedules-tab"):
                yield ScheduleTable(id="schedule-list")
        yield KeyBar()

    # -- loading ---------------------------------------------------------------------

    def reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="specs-load", exit_on_error=False)
    def _load(self) -> None:
        zone = schedule_zone(getattr(self.app, "home", None))
        self.post_message(SpecsLoaded(load_specs(self.db, self.clock(), zone)))

    def on_specs_loaded(self, loaded: SpecsLoaded) -> None:
        message = loaded.data
        self.runs = {run.id or 0: run for run in message.queue}
        self.query_one(SpecTable).show_specs(message.specs)
        self.query_one(QueueTable).show_runs(message.queue, message.now)
        self.query_one(ScheduleTable).show_schedules(message.schedules, message.zone)
        tabs = self.query_one(TabbedContent)
        tabs.get_tab("queue-tab").label = f"Queue ({len(message.queue)}) [2]"

    # -- actions ---------------------------------------------------------------------

    @property
    def tab(self) -> str:
        return self.query_one(TabbedContent).active

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        table = {"specs-tab": SpecTable, "queue-tab": QueueTable,
                 "schedules-tab": ScheduleTable}[tab]
        self.query_one(table).focus()

    def action_submit(self) -> None:
        def submitted(run: m.Run | None) -> None:
            if run is not None:
                self.post_message(SpecActionDone(
                    f"Queued run {run.id}: {run.title} [{run.category}]", show_queue=True))

        self.app.push_screen(SpecSubmitScreen(self.db, self.base), submitted)

    def action_requeue(self) -> None:
        spec_id: int | None
        if self.tab == "queue-tab":
            run_id = self.query_one(QueueTable).selected_id()
            run = self.runs.get(run_id) if run_id is not None else None
            spec_id = run.spec_id if run else None
        elif self.tab == "schedules-tab":
            spec_id = self.query_one(ScheduleTable).selected_id()
        else:
            spec_id = self.query_one(SpecTable).selected_id()
        if spec_id is None:
            self.notify("Select a spec (or a run of it) to requeue.", severity="warning")
            return
        self._requeue(spec_id)

    @work(thread=True, group="spec-action", exit_on_error=False)
    def _requeue(self, spec_id: int) -> None:
        run = requeue(self.db, spec_id)
        self.post_message(SpecActionDone(f"Queued run {run.id}: {run.title} again.",
                                         show_queue=True))

    def action_cancel_run(self) -> None:
        run_id = (self.query_one(QueueTable).selected_id() if self.tab == "queue-tab"
                  else None)
        run = self.runs.get(run_id) if run_id is not None else None
        if run is None:
            self.notify("Select a run on the Queue tab [2] to cancel it.", severity="warning")
            return
        if run.status == m.QUEUED:
            question = f"Cancel run {run.id} ({run.title})? It has not started: it ends now."
        else:
            question = (f"Cancel run {run.id} ({run.title}, {run.status}"
                        f"{' in ' + run.stage if run.stage else ''})? "
                        "It stops at its next step and its open gates close.")

        def answered(yes: bool | None) -> None:
            if yes:
                self._cancel(run.id or 0)

        self.app.push_screen(SpecConfirmScreen(question), answered)

    @work(thread=True, group="spec-action", exit_on_error=False)
    def _cancel(self, run_id: int) -> None:
        text = cancel(self.db, run_id, current_user())
        self.post_message(SpecActionDone(text[:1].upper() + text[1:] + "."))

    def on_spec_action_done(self, message: SpecActionDone) -> None:
        self.notify(message.text, markup=False)
        if message.show_queue:
            self.action_show_tab("queue-tab")
        self.reload()

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
        else:
            self.andon.action_show("board")

    def palette_commands(self) -> list[PaletteCommand]:
        out = [PaletteCommand("Submit a spec", "key n: validate a spec file and queue it",
                              self.action_submit),
               PaletteCommand("Requeue the selected spec", "key r", self.action_requeue)]
        if self.tab == "queue-tab" and self.query_one(QueueTable).selected_id() is not None:
            out.append(PaletteCommand("Cancel the selected run", "key c",
                                      self.action_cancel_run))
        out += [PaletteCommand(f"Show {name}", f"key {key}",
                               partial(self.action_show_tab, tab))
                for name, key, tab in (("specs", "1", "specs-tab"), ("the queue", "2",
                                       "queue-tab"), ("schedules", "3", "schedules-tab"))]
        return out
