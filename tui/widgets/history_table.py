"""A page of past runs, newest first."""

from __future__ import annotations

from datetime import UTC, tzinfo

from andon.store import models as m
from andon.store.clock import as_utc
from andon.tui.widgets.keyed_table import KeyedTable

COLUMNS = ("run", "created", "status", "category", "lvl", "title", "cost", "sat")


def _cells(run: m.Run, tz: tzinfo) -> tuple[str, ...]:
    created = as_utc(run.created_at).astimezone(tz)
    cost = "?" if run.cost_usd is None else f"${run.cost_usd:.2f}"
    sat = "" if run.satisfaction is None else f"{run.satisfaction:.2f}"
    title = run.title if len(run.title) <= 30 else run.title[:29] + "…"
    return (str(run.id), f"{created:%m-%d %H:%M}", run.status,
            run.category, str(run.level), title, cost, sat)


class HistoryTable(KeyedTable):
    COLUMNS = COLUMNS

    def show_runs(self, runs: list[m.Run], tz: tzinfo = UTC) -> None:
        """The rows, times shown in `tz` (the screen's local time zone)."""
        self.replace_rows([(str(run.id), _cells(run, tz)) for run in runs])
