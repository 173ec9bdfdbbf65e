"""A page of past runs, newest first."""

from __future__ import annotations

from datetime import UTC, tzinfo

from andon.store import models as m
from andon.store.clock import as_utc
from andon.tui.widgets.keyed_table import KeyedTable

# The title last and short: at 80 columns the figures stay whole (they were cut to
# "$0.0"), and the run screen has the title in full.
COLUMNS = ("run", "created", "status", "category", "lvl", "cost", "sat", "title")
TITLE = 22


def _cells(run: m.Run, tz: tzinfo) -> tuple[str, ...]:
    created = as_utc(run.created_at).astimezone(tz)
    cost = "?" if run.cost_usd is None else f"${run.cost_usd:.2f}"
    sat = "" if run.satisfaction is None else f"{run.satisfaction:.2f}"
    title = run.title if len(run.title) <= TITLE else run.title[:TITLE - 1] + "…"
    return (str(run.id), f"{created:%m-%d %H:%M}", run.status,
            run.category, str(run.level), cost, sat, title)


class HistoryTable(KeyedTable):
    COLUMNS = COLUMNS

    def show_runs(self, runs: list[m.Run], tz: tzinfo = UTC) -> None:
        """The rows, times shown in `tz` (the screen's local time zone)."""
        self.replace_rows([(str(run.id), _cells(run, tz)) for run in runs])
