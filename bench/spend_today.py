"""Benchmark of "spend today" over a big usage history (a script, not a test).

    .venv/bin/python bench/spend_today.py [--rows 3000000] [--days 365] [--repeat 200]

Builds (once, cached under --store) a factory store whose usage table holds ROWS model
calls spread evenly over the last DAYS days (so about ROWS/DAYS of them are today's),
across five categories, written with bulk inserts. Then times the one query that both
the daily budgets (every dispatch pass) and the board's header read,
`store.queries.spend_since`, over the last 24 hours (a whole day's rows: "today" at its
largest, just before midnight), and prints:

* its median and 90th percentile over all --repeat calls, at ROWS rows, wall clock and
  this process's CPU time (on a loaded machine the wall clock also counts the wait for
  a core);
* the same on an empty store (the floor: a query's fixed cost), and the ratios;
* with --old, the query it replaced (usage joined to runs, over all history) for
  comparison, over a few calls (it takes seconds at millions of rows).

Target (issue 15 item 4): under 5 ms median at 3M usage rows.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CATEGORIES = ["docs", "deps", "bugfix", "feature", "migration"]
CALLS_PER_RUN = 60
VERSION = 2  # the schema it was built with


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def build(root: Path, rows: int, days: int) -> None:
    from andon.engine.factory.home import Home

    home = Home(root)
    home.init().close()  # folders, config, schema (every migration), shipped policies
    conn = sqlite3.connect(home.db_path)
    conn.execute("PRAGMA synchronous = OFF")
    rng = random.Random(15)
    now = datetime.now(UTC)
    span = days * 86400
    runs = max(5, rows // CALLS_PER_RUN + 5)
    with conn:
        conn.execute("INSERT INTO specs (path, title, category, repo, base, checks, budget, "
                     "priority, body, front, digest, active, created_at, updated_at) VALUES "
                     "('/specs/s.md', 's', 'feature', 'sample', 'main', '[]', '{}', 0, '', "
                     "'{}', '', 1, ?, ?)", (iso(now), iso(now)))
        conn.executemany(
            "INSERT INTO runs (id, spec_id, title, category, level, status, stage, attempt, "
            "priority, model, created_at, started_at, turns, tokens_in, tokens_out, "
            "cache_read, cache_write, cost_usd, escalated, human_touched, cancel_requested, "
            "data) VALUES (?, 1, 'r', ?, 3, 'merged', 'merge', 0, 0, 'claude-sonnet-5-5', "
            "?, ?, 0, 0, 0, 0, 0, 0, 0, 0, 0, '{}')",
            [(i + 1, CATEGORIES[i % len(CATEGORIES)],
              iso(now - timedelta(seconds=span * (runs - i) / runs)),
              iso(now - timedelta(seconds=span * (runs - i) / runs)))
             for i in range(runs)])
        batch: list[tuple[object, ...]] = []
        for k in range(rows):
            # five runs at a time, one per category, each making CALLS_PER_RUN calls
            run = min(runs, 1 + (k // (CALLS_PER_RUN * 5)) * 5 + k % 5)
            ts = now - timedelta(seconds=span * (rows - k) / rows)
            model = "scripted" if k % 10 == 0 else "claude-sonnet-5-5"
            batch.append((run, CATEGORIES[(run - 1) % len(CATEGORIES)], k % CALLS_PER_RUN,
                          model, rng.randint(10, 5000), rng.randint(10, 2000),
                          rng.random() / 10, iso(ts)))
            if len(batch) >= 200_000:
                _insert_usage(conn, batch)
                batch.clear()
        if batch:
            _insert_usage(conn, batch)
    conn.execute("PRAGMA optimize")
    conn.close()
    (root / "bench.json").write_text(json.dumps(_marker(rows, days)))


def _insert_usage(conn: sqlite3.Connection, batch: list[tuple[object, ...]]) -> None:
    conn.executemany(
        "INSERT INTO usage (run_id, category, turn, model, input_tokens, output_tokens, "
        "cache_creation_tokens, cache_read_tokens, cost_usd, ts, purpose) "
        "VALUES (?, ?, ?, ?, ?, ?, 0, 0, ?, ?, 'agent')", batch)


def _marker(rows: int, days: int) -> dict[str, int]:
    return {"rows": rows, "days": days, "version": VERSION}


def ensure_store(root: Path, rows: int, days: int) -> Path:
    marker = root / "bench.json"
    if marker.exists() and json.loads(marker.read_text()) == _marker(rows, days):
        return root
    if root.exists():
        import shutil

        shutil.rmtree(root)
    start = time.perf_counter()
    build(root, rows, days)
    size = (root / "andon.db").stat().st_size / 1e6
    print(f"built the store: {rows:,} usage rows over {days} days in "
          f"{time.perf_counter() - start:.1f} s ({size:.0f} MB)")
    return root


def timings(fn: Callable[[], object], repeat: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each call. On a loaded machine the wall clock also
    counts waiting for a core; this process's CPU time does not."""
    fn()  # the first call warms the page cache and the statement cache
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start)
    return wall, cpu


def ms(values: list[float]) -> str:
    cut = sorted(values)[max(0, int(len(values) * 0.9) - 1)]
    return f"median {statistics.median(values) * 1000:.2f} ms (p90 {cut * 1000:.2f} ms)"


def both(values: tuple[list[float], list[float]]) -> str:
    wall, cpu = values
    return f"wall {ms(wall)}, CPU median {statistics.median(cpu) * 1000:.2f} ms"


def old_query(db: object, since: datetime) -> None:
    """What the daily budget asked before, per category: usage joined to runs."""
    from sqlmodel import col, func, select

    from andon.store import models as m

    with db.read() as s:  # type: ignore[attr-defined]
        for category in CATEGORIES:
            s.exec(select(func.coalesce(func.sum(m.Usage.cost_usd), 0.0))
                   .join(m.Run, col(m.Run.id) == col(m.Usage.run_id))
                   .where(m.Run.category == category, col(m.Usage.ts) >= since)).one()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--old", action="store_true", help="also time the replaced query")
    parser.add_argument("--store", default=str(Path(tempfile.gettempdir()) / "andon-spend"))
    args = parser.parse_args()

    from andon.engine.factory.home import Home
    from andon.store import queries as q
    from andon.store.clock import utcnow

    print("command: " + " ".join([Path(sys.executable).name, *sys.argv]))
    root = ensure_store(Path(args.store), args.rows, args.days)
    since = utcnow() - timedelta(days=1)
    db = Home(root).open()
    try:
        spend = q.spend_since(db, since)
        with db.read() as s:
            (today,) = s.connection().exec_driver_sql(
                "SELECT count(*) FROM usage WHERE ts >= ?", (iso(since),)).one()
        big = timings(lambda: q.spend_since(db, since), args.repeat)
        old = timings(lambda: old_query(db, since), 3) if args.old else None
    finally:
        db.close()
    with tempfile.TemporaryDirectory() as empty:
        floor_db = Home(Path(empty)).init()
        try:
            floor = timings(lambda: q.spend_since(floor_db, since), args.repeat)
        finally:
            floor_db.close()

    total = sum(s.total for s in spend.values())
    print(f"a day's calls: {today:,} of {args.rows:,} usage rows, {len(spend)} "
          f"categories, ${total:.2f}")
    print(f"spend of a day at {args.rows:,} rows, {args.repeat} calls: {both(big)}")
    print(f"the same on an empty store (floor): {both(floor)}")
    print("ratio of medians to the floor: wall "
          f"{statistics.median(big[0]) / statistics.median(floor[0]):.1f}x, CPU "
          f"{statistics.median(big[1]) / max(statistics.median(floor[1]), 1e-9):.1f}x")
    if old is not None:
        print(f"the replaced query (usage joined to runs, per category), 3 calls: {both(old)}")
    for name, values in (("wall", big[0]), ("CPU", big[1])):
        verdict = "under" if statistics.median(values) < 0.005 else "NOT under"
        print(f"target, median under 5 ms at 3M rows: {name} time {verdict}")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
