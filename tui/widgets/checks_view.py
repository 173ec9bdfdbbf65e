"""Checks and scenarios of a run: each check's verdict and output; scenario titles only
(scenarios are holdout checks: their content stays out of sight, like the agent's)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Label, RichLog

from andon.tui.data.run import RunDetail, StepRow
from andon.tui.widgets.cells import Col, KeyedTable
from andon.tui.widgets.format import elapsed, percent


def _verdict(step: StepRow) -> Text:
    if step.status == "running":
        return Text("running", style="yellow")
    if step.status == "ok":
        return Text("passed", style="green")
    if step.data.get("timed_out"):
        return Text("timed out", style="bold red")
    return Text("failed", style="bold red")


def _seconds(step: StepRow) -> str:
    seconds = step.data.get("seconds")
    if seconds is None and step.finished_at is not None:
        seconds = (step.finished_at - step.started_at).total_seconds()
    return elapsed(seconds) if seconds is not None else ""


class ChecksTable(KeyedTable):
    COLUMNS = (Col("kind", "kind", 8), Col("check", "name"), Col("verdict", "verdict", 9),
               Col("exit", "exit", 4), Col("time", "time", 6))


class ChecksView(Vertical):
    DEFAULT_CSS = """
    ChecksView { height: 1fr; }
    ChecksView #checks-summary { height: 1; padding: 0 1; color: $text-muted; }
    ChecksView ChecksTable { height: auto; max-height: 10; }
    ChecksView RichLog { height: 1fr; border-top: solid $panel; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.steps: dict[str, StepRow] = {}
        self._output_of: str | None = None

    def compose(self) -> ComposeResult:
        yield Label("no checks yet", id="checks-summary", markup=False)
        yield ChecksTable(id="checks-table")
        yield RichLog(id="check-output", wrap=True, markup=False, highlight=False,
                      auto_scroll=False)

    def show(self, detail: RunDetail) -> None:
        rows = []
        self.steps = {}
        for step in detail.checks:
            key = f"c{step.id}"
            self.steps[key] = step
            rows.append((key, ("check", step.name, _verdict(step),
                               "" if step.exit_code is None else str(step.exit_code),
                               _seconds(step))))
        for step in detail.scenarios:
            key = f"s{step.id}"
            self.steps[key] = step
            rows.append((key, ("scenario", step.name, _verdict(step), "", _seconds(step))))
        self.query_one(ChecksTable).sync(rows)
        passed = sum(1 for s in detail.checks if s.status == "ok")
        parts = [f"checks {passed}/{len(detail.checks)} passed"] if detail.checks else [
            "no checks run yet"]
        if detail.scenarios or detail.run.satisfaction is not None:
            parts.append(f"scenarios: satisfaction {percent(detail.run.satisfaction)}")
        self.query_one("#checks-summary", Label).update(" · ".join(parts))
        self._show_output(self.query_one(ChecksTable).cursor_key())

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_output(event.row_key.value)

    def _show_output(self, key: str | None) -> None:
        log = self.query_one(RichLog)
        step = self.steps.get(key or "")
        marker = f"{key}:{step.status if step else ''}:{len(step.output) if step else 0}"
        if marker == self._output_of:
            return
        self._output_of = marker
        log.clear()
        if step is None:
            return
        if step.kind == "scenario":
            log.write(Text("Scenario details stay hidden: only the title and the verdict "
                           "are shown.", style="dim italic"))
            return
        log.write(Text(f"$ {step.name}", style="bold"))
        log.write(step.output or "(no output)")
        if step.output_chars > len(step.output):
            log.write(Text(f"… {step.output_chars - len(step.output):,} more characters",
                           style="dim italic"))
