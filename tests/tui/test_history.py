"""History: filters by category, status and date, keyset pages, per-category sparklines,
and reads that stay indexed with 100,000 runs."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from textual.widgets import Input, Label, Select, Sparkline

from andon.engine.factory.home import Home
from andon.store import models as m
from andon.store.db import Database
from andon.tui.app import AndonApp
from andon.tui.data.history import HistoryFilter, history_metrics, history_page
from andon.tui.screens.history import HistoryScreen
from andon.tui.widgets.history_table import COLUMNS, HistoryTable
from tests.tui.test_gates import notifications, wait_for

NOW = datetime(2025, 3, 10, 15, 0, tzinfo=UTC)


def seed(db: Database, rows: list[tuple[str, str, timedelta]]) -> None:
    """Runs of (category, status, age); merged ones merged 10 minutes after creation."""
    with db.write() as s:
        spec = m.Spec(path="/specs/x.md", title="x", category="docs", repo="x")
        s.add(spec)
        s.flush()
        for i, (category, status, age) in enumerate(rows):
            created = NOW - age
            s.add(m.Run(spec_id=spec.id or 0, title=f"{category} run {i}", category=category,
                        status=status, created_at=created, cost_usd=0.25,
                        merged_at=created + timedelta(minutes=10)
                        if status == m.MERGED else None))


def shown(app: AndonApp) -> list[str]:
    table = app.screen.query_one(HistoryTable)
    at = COLUMNS.index("title")
    return [str(table.get_row_at(i)[at]) for i in range(table.row_count)]


def page_line(app: AndonApp) -> str:
    return str(app.screen.query_one("#history-page", Label).content)


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is UTC, so "today" and the day buckets are the same everywhere."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


async def open_history(app: AndonApp, pilot) -> HistoryScreen:  # type: ignore[no-untyped-def]
    await pilot.press("h")
    await wait_for(lambda: isinstance(app.screen, HistoryScreen) and page_line(app) != "")
    assert isinstance(app.screen, HistoryScreen)
    return app.screen


ROWS = [
    ("docs", m.MERGED, timedelta(hours=1)),  # today
    ("feature", m.FAILED, timedelta(days=3)),  # this week
    ("docs", m.FAILED, timedelta(days=10)),  # this month
    ("bugfix", m.MERGED, timedelta(days=40)),  # older
]


async def test_filters_by_period_category_status_and_date_range(
        home: Home, db: Database, utc: None) -> None:
    seed(db, ROWS)
    app = AndonApp(home, db, clock=lambda: NOW)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_history(app, pilot)  # 30 days by default
        assert shown(app) == ["docs run 0", "feature run 1", "docs run 2"]
        assert page_line(app) == "runs 1–3 of 3"

        await pilot.press("t")
        await wait_for(lambda: shown(app) == ["docs run 0"])
        await pilot.press("w")
        await wait_for(lambda: shown(app) == ["docs run 0", "feature run 1"])
        await pilot.press("a")
        await wait_for(lambda: len(shown(app)) == 4)

        app.screen.query_one("#filter-category", Select).value = "docs"
        await wait_for(lambda: shown(app) == ["docs run 0", "docs run 2"])
        app.screen.query_one("#filter-status", Select).value = m.FAILED
        await wait_for(lambda: shown(app) == ["docs run 2"])
        app.screen.query_one("#filter-category", Select).clear()
        await wait_for(lambda: shown(app) == ["feature run 1", "docs run 2"])
        app.screen.query_one("#filter-status", Select).clear()

        # A from/to range: both days included.
        app.screen.query_one("#filter-period", Select).value = "range"
        await pilot.pause()
        assert app.screen.query_one("#filter-from", Input).has_focus
        app.screen.query_one("#filter-from", Input).value = "2025-02-01"
        await pilot.press("enter")
        await wait_for(lambda: len(shown(app)) == 3)  # from Feb 1st on
        app.screen.query_one("#filter-to", Input).focus()
        app.screen.query_one("#filter-to", Input).value = "2025-02-28"
        await pilot.press("enter")
        await wait_for(lambda: shown(app) == ["docs run 2"])

        app.screen.query_one("#filter-to", Input).value = "2025-13-01"
        await pilot.press("enter")
        await wait_for(lambda: any("'2025-13-01' is not a date" in n
                                   for n in notifications(app)))


async def test_pages_of_fifty_newest_first(home: Home, db: Database, utc: None) -> None:
    seed(db, [("docs", m.MERGED, timedelta(minutes=i)) for i in range(120)])
    app = AndonApp(home, db, clock=lambda: NOW)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_history(app, pilot)
        assert page_line(app) == "runs 1–50 of 120 · ]: older"
        assert shown(app)[0] == "docs run 0" and shown(app)[-1] == "docs run 49"
        await pilot.press("right_square_bracket")
        await wait_for(lambda: page_line(app).startswith("runs 51–100 of 120"))
        assert shown(app)[0] == "docs run 50"
        await pilot.press("right_square_bracket")
        await wait_for(lambda: page_line(app) == "runs 101–120 of 120 · [: newer")
        assert shown(app)[-1] == "docs run 119"
        await pilot.press("right_square_bracket")
        await wait_for(lambda: "No older runs." in notifications(app))
        await pilot.press("left_square_bracket")
        await wait_for(lambda: page_line(app).startswith("runs 51–100 of 120"))
        assert shown(app)[0] == "docs run 50"


async def test_per_category_sparklines_of_runs_merges_and_cost(
        home: Home, db: Database, utc: None) -> None:
    seed(db, [("docs", m.MERGED, timedelta(days=1, hours=1)),
              ("docs", m.MERGED, timedelta(hours=1)),
              ("docs", m.FAILED, timedelta(hours=2)),
              ("feature", m.FAILED, timedelta(days=2))])
    app = AndonApp(home, db, clock=lambda: NOW)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_history(app, pilot)
        await pilot.press("w")
        await wait_for(lambda: len(app.screen.query(Sparkline)) == 6)
        sparks = [list(s.data or []) for s in app.screen.query(Sparkline)]
        # 7 days back from Mar 10 15:00 UTC: the buckets are Mar 3 .. Mar 10.
        assert sparks[0] == [0, 0, 0, 0, 0, 0, 1, 2]  # docs runs per day
        assert sparks[1] == [0, 0, 0, 0, 0, 0, 1, 1]  # docs merges per day
        assert sparks[2] == [0, 0, 0, 0, 0, 0, 0.25, 0.5]  # docs cost per day
        assert sparks[3] == [0, 0, 0, 0, 0, 1, 0, 0]  # feature runs
        totals = [str(label.content) for label in app.screen.query(".metric-total")]
        assert [t.strip() for t in totals] == ["3", "2", "1", "0"]


def test_a_hundred_thousand_runs_page_and_chart_quickly(home: Home, db: Database) -> None:
    start = NOW - timedelta(days=210)
    categories = ("docs", "feature", "bugfix", "deps", "migration")
    statuses = (m.MERGED, m.MERGED, m.FAILED, m.REJECTED, m.CANCELLED)
    with db.write() as s:
        s.add(m.Spec(path="/specs/x.md", title="x", category="docs", repo="x"))
    rows = []
    for i in range(100_000):
        created = (start + timedelta(minutes=3 * i)).isoformat(timespec="microseconds")
        status = statuses[(i // 5) % 5]
        rows.append((1, f"run {i}", categories[i % 5], 2, status, created,
                     created if status == m.MERGED else None, 0.1))
    with db.write() as s:
        s.connection().exec_driver_sql(
            "INSERT INTO runs (spec_id, title, category, level, status, created_at, merged_at,"
            " cost_usd, attempt, priority, model, turns, tokens_in, tokens_out, cache_read,"
            " cache_write, escalated, human_touched, cancel_requested, data) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, 0, 0, '', 0, 0, 0, 0, 0, 0, 0, 0, '{}')", rows)
    statements: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, sql: str, params: Any, *args: Any) -> None:
        if sql.lstrip().upper().startswith("SELECT"):
            statements.append((sql, params))

    flt = HistoryFilter(category="feature", status=m.REJECTED,
                        start=NOW - timedelta(days=30), end=None)
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        first = history_page(db, flt)
        last = first.runs[-1]
        second = history_page(db, flt, (last.created_at, last.id or 0))
        everything = history_page(db, HistoryFilter())
        failed = history_page(db, HistoryFilter(status=m.FAILED))
        figures = history_metrics(db, HistoryFilter(start=NOW - timedelta(days=30)), NOW, UTC)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert len(first.runs) == 50 and first.has_next and first.total > 50
    assert second.runs[0].created_at < last.created_at
    assert everything.total == 100_000 and failed.total == 20_000
    assert sorted(c.category for c in figures.categories) == sorted(categories)

    # Every read of the runs table goes through an index, never a full table scan.
    with sqlite3.connect(db.path) as raw:
        for sql, params in statements:
            for row in raw.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall():
                detail = row[-1]
                if " runs" in detail:
                    assert "INDEX" in detail, f"{detail}: {sql}"
