"""`andon specs`: the specs the factory knows, and when the recurring ones fire next."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table
from rich.text import Text

from andon.engine.spec.schedule import crontab
from andon.store import models as m
from andon.store import queries as q
from andon.store.clock import utcnow
from andon.tui.cli.app import JsonOpt, app, console, emit, home, open_db


def fire_times(schedule: str | None, zone: str, now: datetime, count: int
               ) -> tuple[list[datetime], str | None]:
    """The next `count` fire times of a schedule in `zone`, or why there are none."""
    if not schedule:
        return [], None
    try:
        return crontab(schedule, ZoneInfo(zone)).next_times(now, count), None
    except ValueError as exc:
        return [], f"not a cron expression ({exc})"


def spec_json(spec: m.Spec, times: list[datetime], problem: str | None) -> dict[str, Any]:
    return {"id": spec.id, "title": spec.title, "category": spec.category,
            "path": spec.path, "repo": spec.repo, "schedule": spec.schedule,
            "active": spec.active,
            "last_fired_at": spec.last_fired_at.isoformat() if spec.last_fired_at else None,
            "next": [t.isoformat() for t in times], "problem": problem}


@app.command("specs")
def specs(
    recurring: bool = typer.Option(False, "--recurring", "-r",
                                   help="Only specs with a schedule."),
    count: int = typer.Option(3, "--next", "-n", min=1, max=50,
                              help="How many fire times to show per recurring spec."),
    include_inactive: bool = typer.Option(False, "--all", help="Inactive specs too."),
    as_json: bool = JsonOpt,
) -> None:
    """The specs the factory knows, newest first; each recurring spec with its next fire
    times in the [engine] timezone of andon.toml."""
    h, db = home(), open_db()
    zone = h.config.engine.timezone
    now = utcnow()
    rows = [s for s in q.list_specs(db, include_inactive=include_inactive)
            if s.schedule or not recurring]
    planned = [(spec, *fire_times(spec.schedule, zone, now, count)) for spec in rows]

    def render() -> None:
        if not rows:
            console.print("no recurring specs" if recurring else "no specs")
            return
        table = Table(box=None, header_style="bold")
        for name in ("spec", "title", "category", "schedule", f"next ({zone})"):
            table.add_column(name)
        for spec, times, problem in planned:
            shown = problem or ", ".join(t.strftime("%a %Y-%m-%d %H:%M") for t in times)
            table.add_row(str(spec.id), Text(spec.title), Text(spec.category),
                          Text(spec.schedule or "-"), Text(shown or "-"))
        console.print(table)

    emit({"timezone": zone, "specs": [spec_json(*row) for row in planned]}, as_json, render)
