"""The production lines: one row per category, updated cell by cell as figures move."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding

from andon.tui.data import LineRow
from andon.tui.widgets.cells import Col, KeyedTable
from andon.tui.widgets.format import level_dimmer, percent, spend


def _count(n: int, style: str = "") -> Text:
    return Text(str(n) if n else "·", style=style if n else "dim", justify="right")


def cells(line: LineRow) -> tuple[Any, ...]:
    running = _count(line.running, "bold cyan")
    if line.held:
        running.append(f"+{line.held}‖", style="bold red")
    return (
        Text(line.category, style="bold"),
        level_dimmer(line.level),
        running,
        _count(line.queued),
        _count(line.waiting, "bold black on yellow"),
        Text(percent(line.success_rate), justify="right",
             style="" if line.success_rate is None or line.success_rate >= 0.8 else "yellow"),
        spend(line.spend_today, line.spend_simulated, line.unknown_cost),
    )


class LinesTable(KeyedTable):
    """Rows keyed by category: level dimmer, running/queued/waiting, success, spend."""

    COLUMNS = (Col("line", "line", 16), Col("level", "level", 7), Col("run", "run", 5),
               Col("queue", "queue", 5), Col("wait", "wait", 4), Col("ok 30d", "ok", 6),
               Col("spend today", "spend", 11))
    FLEX_MIN = 10
    BINDINGS = [Binding("enter", "select_cursor", "Line's runs",
                        tooltip="Show this line's runs")]
    DEFAULT_CSS = """
    LinesTable { height: auto; max-height: 9; }
    """

    def show(self, lines: list[LineRow]) -> None:
        self.sync([(line.category, cells(line)) for line in lines])
