"""The board's runs: live ones with a stage strip, elapsed time, turns, tokens and cost.

Rows are keyed by run id and change in place; the elapsed column ticks from the clock
without touching the store.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text
from textual.binding import Binding

from andon.tui.data import RunRow
from andon.tui.widgets.cells import Col, KeyedTable
from andon.tui.widgets.format import run_cost, run_elapsed, stage_strip, status_text, tokens

#: A gate's kind as the status column shows it: at most 8 letters beside the flag, so
#: no word is cut at any width (the run screen names the gate in full).
GATE_WORDS = {"escalation": "escalate", "post-merge": "reverted"}


def cells(run: RunRow, now: datetime) -> tuple[Any, ...]:
    status = status_text(run.status)
    if run.gate_kind:
        word = GATE_WORDS.get(run.gate_kind, run.gate_kind)[:8]
        status = Text(f"⚑{word}", style="bold black on yellow")
    return (
        Text(str(run.id), justify="right"),
        status,
        stage_strip(run.stage, run.status),
        run.category,
        _title(run),
        Text(run_elapsed(run.started_at, run.finished_at, now), justify="right"),
        Text(str(run.turns) if run.turns else "·", justify="right"),
        Text(tokens(run.tokens) if run.tokens else "·", justify="right"),
        run_cost(run.cost_usd, run.simulated, run.started_at is not None),
    )


def _title(run: RunRow) -> Text:
    title = Text(run.title, overflow="ellipsis", no_wrap=True)
    if run.host:  # engines on several hosts: which one runs it
        title = Text.assemble((run.host, "dim"), " ", title, overflow="ellipsis",
                              no_wrap=True)
    if run.unsandboxed:  # its commands ran without the walls: say so before anything
        title = Text.assemble(("unsandboxed ", "bold white on red"), title,
                              overflow="ellipsis", no_wrap=True)
    return title


class RunsTable(KeyedTable):
    COLUMNS = (Col("#", "run", 5), Col("status", "status", 9), Col("stages", "stages", 6),
               Col("line", "category", 10, min_table=110), Col("title", "title"),
               Col("time", "time", 6), Col("turn", "turns", 4), Col("tok", "tokens", 6),
               Col("cost", "cost", 8))
    DEFAULT_CSS = """
    RunsTable { height: 1fr; }
    """
    BINDINGS = [Binding("enter", "select_cursor", "Open", tooltip="Open the selected run")]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(zebra_stripes=True, **kwargs)
        self.runs: dict[str, RunRow] = {}

    def show(self, runs: list[RunRow], now: datetime) -> None:
        self.runs = {str(r.id): r for r in runs}
        self.sync([(str(r.id), cells(r, now)) for r in runs])

    def tick(self, now: datetime) -> None:
        """Move the elapsed time of live runs on (no store read)."""
        self.sync([(key, cells(run, now)) for key, run in self.runs.items()])

    def selected_run(self) -> RunRow | None:
        key = self.cursor_key()
        return self.runs.get(key) if key else None
