"""The specs screen's three lists: known specs, the queue (active runs in the order the
engine takes them), and schedules. Rows are keyed by spec or run id, and the cursor
stays on its row when a list refreshes."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

from andon.store import models as m
from andon.store.clock import as_utc
from andon.tui.widgets.gate_detail import format_age
from andon.tui.widgets.keyed_table import KeyedTable


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _when(value: datetime | None, tz: tzinfo = UTC) -> str:
    when = as_utc(value)
    return f"{when.astimezone(tz):%Y-%m-%d %H:%M}" if when else "never"


class SpecTable(KeyedTable):
    COLUMNS = ("spec", "title", "category", "repo", "schedule", "updated", "path")

    def show_specs(self, specs: list[m.Spec]) -> None:
        self.replace_rows([(str(s.id), (
            str(s.id), _cut(s.title, 40), s.category, _cut(s.repo, 16), s.schedule or "",
            _when(s.updated_at), s.path)) for s in specs])


class QueueTable(KeyedTable):
    COLUMNS = ("run", "status", "stage", "category", "prio", "age", "title")

    def show_runs(self, runs: list[m.Run], now: datetime) -> None:
        def status(run: m.Run) -> str:
            return f"{run.status} (cancelling)" if run.cancel_requested else run.status

        self.replace_rows([(str(r.id), (
            str(r.id), status(r), r.stage or "", r.category, str(r.priority),
            format_age(r.created_at, now), _cut(r.title, 48))) for r in runs])


class ScheduleTable(KeyedTable):
    COLUMNS = ("spec", "title", "schedule (UTC)", "last fired", "next")

    def show_schedules(self, rows: list[tuple[m.Spec, datetime | None]],
                       zone: str = "UTC") -> None:
        """Cron and times in the zone schedules fire in (the column heading names it)."""
        tz = ZoneInfo(zone)
        self.COLUMNS = ("spec", "title", f"schedule ({zone})", "last fired", "next")
        self.replace_rows([(str(s.id), (
            str(s.id), _cut(s.title, 40), s.schedule or "", _when(s.last_fired_at, tz),
            _when(nxt, tz) if nxt else "-")) for s, nxt in rows])
