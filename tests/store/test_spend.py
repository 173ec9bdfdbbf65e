"""Spend today: one query over today's usage rows, read from one covering index, for the
day of the factory's time zone; older databases get their rows' categories on upgrade."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlmodel import Session

from andon.store import models as m
from andon.store import queries as q
from andon.store.clock import start_of_day
from andon.store.db import Database, _configure
from andon.store.migrate import upgrade
from tests.support.rows import add_run

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # 23:00 the same day in Auckland


def _usage(s: Session, run: m.Run, ts: datetime, cost: float | None,
           model: str = "claude-sonnet-5-5") -> None:
    s.add(m.Usage(run_id=run.id or 0, category=run.category, turn=1, model=model,
                  cost_usd=cost, ts=ts))


def test_today_starts_at_midnight_of_the_factory_zone() -> None:
    assert start_of_day(NOW) == datetime(2026, 11, 30, tzinfo=UTC)
    # Auckland is UTC+13 in November: its day began at 11:00 UTC the day before
    assert start_of_day(NOW, "Pacific/Auckland") == datetime(2026, 11, 29, 11, tzinfo=UTC)
    assert start_of_day(NOW, "America/Los_Angeles") == datetime(2026, 11, 30, 8, tzinfo=UTC)


def test_spend_counts_the_rows_of_the_day_by_category_real_simulated_and_unknown(
        store_db: Database) -> None:
    """On SQLite and on PostgreSQL: the same portable query."""
    db = store_db
    auckland = start_of_day(NOW, "Pacific/Auckland")
    with db.write() as s:
        feature = add_run(s)
        docs = add_run(s, category="docs")
        _usage(s, feature, auckland - timedelta(microseconds=1), 100.0)  # the day before
        _usage(s, feature, auckland, 1.25)
        _usage(s, feature, NOW, 0.5)
        _usage(s, feature, NOW, 0.25, model="scripted")
        _usage(s, docs, NOW, None, model="local-llama")
        _usage(s, docs, NOW, 2.0)
    spend = q.spend_since(db, auckland)
    assert spend == {"feature": q.Spend(real=1.75, simulated=0.25, unknown=0),
                     "docs": q.Spend(real=2.0, simulated=0.0, unknown=1)}
    assert spend["feature"].total == 2.0
    # the same rows, the UTC day: only what happened after UTC midnight
    assert q.spend_since(db, start_of_day(NOW))["feature"].total == 0.75


def test_spend_reads_only_todays_rows_from_the_covering_index(db: Database) -> None:
    """Time independent of the factory's age: the plan seeks each category's rows of
    today in ix_usage_category_ts, never the table, never a sort (bench/spend_today.py
    times it)."""
    statements: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "FROM usage" in statement:
            statements.append((statement, params))

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        q.spend_since(db, start_of_day(NOW))
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert len(statements) == 1  # one query for every category
    statement, params = statements[0]
    with db.engine.connect() as conn:
        plan = [str(row[-1]) for row in conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {statement}", params)]
    reads = [step for step in plan if "usage" in step]
    assert reads and all("USING COVERING INDEX ix_usage_category_ts" in step
                         for step in reads), plan  # never the table, never a full scan
    assert "SEARCH usage USING COVERING INDEX ix_usage_category_ts (category=? AND ts>?)" \
        in reads, plan  # each category's rows since the day began: one range
    assert not any("TEMP B-TREE" in step for step in plan), plan  # no sort


def test_upgrading_gives_older_usage_rows_their_runs_category(tmp_path: Path) -> None:
    path = tmp_path / "at-0005.db"
    engine = create_engine(f"sqlite:///{path}")
    _configure(engine)
    upgrade(engine, "0005")
    with Session(engine) as s:
        docs = add_run(s, category="docs")
        feature = add_run(s)
        s.commit()
        ids = {"docs": docs.id, "feature": feature.id}
    with engine.begin() as conn:
        for category, run_id in ids.items():
            conn.execute(text("INSERT INTO usage (run_id, turn, model, input_tokens, "
                              "output_tokens, cache_creation_tokens, cache_read_tokens, "
                              "cost_usd, ts, purpose) VALUES (:run, 1, 'm', 0, 0, 0, 0, "
                              ":cost, :ts, 'agent')"),
                         {"run": run_id, "cost": 1.0 if category == "docs" else 2.0,
                          "ts": NOW.isoformat(timespec="microseconds")})
    engine.dispose()
    db = Database(path)  # opening migrates to the newest revision
    try:
        spend = q.spend_since(db, start_of_day(NOW))
    finally:
        db.close()
    assert spend == {"docs": q.Spend(real=1.0), "feature": q.Spend(real=2.0)}
