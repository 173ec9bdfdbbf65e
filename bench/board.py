"""Benchmark of the board over a big store (a script, not a test).

    .venv/bin/python bench/board.py [--runs 1000000] [--events 1000000] [--repeat 5]

Builds (once, cached under --store) a factory store with RUNS runs spread over a year,
EVENTS events, 20 live runs and a few pending gates, using bulk inserts. Then prints:

* cold start to first board paint: a fresh `python` process that imports the app, opens
  the store, and stops once the board's first data has been painted (headless), timed
  from spawn; median and spread over --repeat runs, beside Textual's floor on this
  machine (a fresh process painting an app of one Static, timed the same way) and the
  ratio of the two medians;
* one refresh with 20 live runs changing: the store read (the worker's part) and the
  widget update (the event loop's part), medians over 50 refreshes;
* opening a run with a long transcript (the newest page of its events);
* peak memory (max RSS) of the control-room process.

Targets (issue 18): at 1,000,000 runs, first paint under 1.0 s median and a refresh
under 16 ms (one frame at 60 Hz).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CATEGORIES = ["docs", "deps", "bugfix", "feature", "migration"]
LIVE = 20
LONG_RUN_EVENTS = 50_000


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def build(root: Path, runs: int, events: int) -> None:
    """A home with `runs` runs and `events` events, written with executemany."""
    from andon.engine.factory.home import Home

    home = Home(root)
    home.init().close()  # folders, config, schema (migrations), shipped policies
    conn = sqlite3.connect(home.db_path)
    conn.execute("PRAGMA synchronous = OFF")
    rng = random.Random(7)
    now = datetime.now(UTC)
    with conn:
        conn.executemany(
            "INSERT INTO specs (path, title, category, repo, base, checks, budget, priority, "
            "body, front, digest, active, created_at, updated_at) VALUES "
            "(?, ?, ?, 'sample', 'main', '[]', '{}', 0, '', '{}', '', 1, ?, ?)",
            [(f"/specs/{c}-{i}.md", f"{c} spec {i}", c, iso(now), iso(now))
             for i in range(20) for c in CATEGORIES])
        rows = []
        for i in range(runs):
            live = i >= runs - LIVE
            category = CATEGORIES[i % len(CATEGORIES)]
            created = now - timedelta(seconds=(runs - i) * 365 * 86400 / runs)
            status = "running" if live else rng.choices(
                ["merged", "failed", "cancelled", "rejected"], [80, 12, 5, 3])[0]
            started = created + timedelta(seconds=5)
            finished = None if live else created + timedelta(minutes=rng.randint(2, 40))
            rows.append((
                1 + (i % 100), f"{category} change number {i}", category, rng.choice([2, 3, 4]),
                status, "implement" if live else "merge", "claude-sonnet-5-5", iso(created),
                iso(started), iso(finished) if finished else None,
                iso(finished) if finished and status == "merged" else None, rng.randint(1, 40),
                rng.randint(1000, 200_000), rng.randint(100, 20_000), rng.random() * 2,
                int(rng.random() < 0.3)))
        conn.executemany(
            "INSERT INTO runs (spec_id, title, category, level, status, stage, attempt, "
            "priority, model, created_at, started_at, finished_at, merged_at, turns, "
            "tokens_in, tokens_out, cache_read, cache_write, cost_usd, escalated, "
            "human_touched, cancel_requested, data) VALUES (?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, "
            "?, ?, ?, ?, ?, 0, 0, ?, 0, ?, 0, '{}')", rows)
        long_run = runs  # the newest live run carries the long transcript
        kinds = ["stage", "model.text", "tool", "model.text", "check", "run.queued"]
        batch = []
        per_run = max(1, (events - LONG_RUN_EVENTS) // runs)
        written = 0
        for run_id in range(1, runs + 1):
            count = LONG_RUN_EVENTS if run_id == long_run else per_run
            base = now - timedelta(seconds=(runs - run_id) * 365 * 86400 / runs)
            for k in range(count):
                kind = kinds[k % len(kinds)]
                batch.append((run_id, iso(base + timedelta(milliseconds=k)), kind,
                              "implement", f"{kind} number {k} of run {run_id}",
                              json.dumps({"turn": k // 6}) if kind == "model.text" else None))
            written += count
            if len(batch) >= 100_000:
                conn.executemany("INSERT INTO events (run_id, ts, kind, stage, message, data) "
                                 "VALUES (?, ?, ?, ?, ?, ?)", batch)
                batch.clear()
            if written >= events:
                break
        if batch:
            conn.executemany("INSERT INTO events (run_id, ts, kind, stage, message, data) "
                             "VALUES (?, ?, ?, ?, ?, ?)", batch)
        conn.executemany(
            "INSERT INTO gates (run_id, kind, stage, status, title, detail, created_at) "
            "VALUES (?, 'review', 'review', 'pending', 'Review before merge', '{}', ?)",
            [(runs - LIVE + k, iso(now)) for k in range(3)])
    conn.execute("PRAGMA optimize")
    conn.close()
    (root / "bench.json").write_text(json.dumps({"runs": runs, "events": events,
                                                "version": 2}))


def ensure_store(root: Path, runs: int, events: int) -> Path:
    marker = root / "bench.json"
    if marker.exists() and json.loads(marker.read_text()) == {"runs": runs, "events": events,
                                                              "version": 2}:
        return root
    if root.exists():
        import shutil

        shutil.rmtree(root)
    start = time.perf_counter()
    build(root, runs, events)
    size = (root / "andon.db").stat().st_size / 1e6
    print(f"built the store: {runs:,} runs, {events:,} events in "
          f"{time.perf_counter() - start:.1f} s ({size:.0f} MB)")
    return root


# -- the child: one cold start --------------------------------------------------------


def peak_rss_kb() -> int:
    """This process's peak resident memory. VmHWM starts afresh at exec, unlike
    ru_maxrss, which may carry the forking parent's size."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child_paint(home_dir: str) -> None:
    """Open the control room headless; print timings when the first board is painted."""
    t0 = time.perf_counter()
    from andon.engine.factory.home import Home
    from andon.tui.app import AndonApp
    from andon.tui.screens.board import BoardScreen

    imported = time.perf_counter()
    original = BoardScreen.apply

    def apply(self: BoardScreen, data: object) -> None:
        original(self, data)  # type: ignore[arg-type]
        if self.loads == 1:
            def painted() -> None:
                rss = peak_rss_kb()
                print(json.dumps({"imports": imported - t0,
                                  "in_process": time.perf_counter() - t0,
                                  "rows": self.query_one("#runs").row_count,
                                  "max_rss_kb": rss}), flush=True)
                self.app.exit()

            self.call_after_refresh(painted)

    BoardScreen.apply = apply  # type: ignore[method-assign]
    home = Home(Path(home_dir))
    AndonApp(home, home.open()).run(headless=True, size=(160, 50))


def child_floor() -> None:
    """Textual's own floor: a fresh process painting an app of one Static."""
    t0 = time.perf_counter()
    from textual.app import App, ComposeResult
    from textual.widgets import Static

    class Floor(App[None]):
        def compose(self) -> ComposeResult:
            yield Static("floor")

        def on_mount(self) -> None:
            def painted() -> None:
                print(json.dumps({"in_process": time.perf_counter() - t0}), flush=True)
                self.exit()

            self.call_after_refresh(painted)

    Floor().run(headless=True, size=(160, 50))


def _spawn(*args: str) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                         check=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    took = time.perf_counter() - start
    return took, json.loads(next(ln for ln in out.splitlines() if ln.startswith("{")))


def cold_starts(root: Path, repeat: int) -> None:
    times, inner, rss, rows, floor = [], [], [], 0, []
    for _ in range(repeat):  # interleaved, so a burst of load hits both alike
        floor.append(_spawn("--child-floor")[0])
        took, found = _spawn("--child", str(root))
        times.append(took)
        inner.append(found["in_process"])
        rss.append(found["max_rss_kb"])
        rows = found["rows"]
    print(f"cold start to first board paint ({repeat} runs, {rows} rows shown): "
          f"median {statistics.median(times):.2f} s (min {min(times):.2f}, max "
          f"{max(times):.2f}); of which in the process after start-up "
          f"{statistics.median(inner):.2f} s")
    print(f"Textual's floor (a fresh process painting one Static): median "
          f"{statistics.median(floor):.2f} s (min {min(floor):.2f}, max {max(floor):.2f}); "
          f"board / floor = {statistics.median(times) / statistics.median(floor):.1f}x")
    print(f"peak memory of the control room (max RSS): {max(rss) / 1024:.0f} MB")


# -- in process: refreshes ------------------------------------------------------------


async def refreshes(root: Path, count: int = 50) -> None:
    from sqlmodel import select

    from andon.engine.factory.home import Home
    from andon.store import models as m
    from andon.tui.app import AndonApp
    from andon.tui.data import EngineMode, load_board
    from andon.tui.screens.board import BoardScreen
    from andon.tui.screens.run import RunScreen
    from andon.tui.widgets.transcript import TranscriptView

    home = Home(root)
    db = home.open()
    with db.read() as s:
        live = [r.id for r in s.exec(select(m.Run).where(m.Run.status == m.RUNNING))]
    app = AndonApp(home, db, poll_seconds=3600)  # refreshes are driven by hand here
    async with app.run_test(size=(160, 50)) as pilot:
        screen = app.screen
        assert isinstance(screen, BoardScreen)
        while screen.loads == 0:
            await pilot.pause(0.05)
        reads, applies, totals = [], [], []
        for i in range(count):
            with db.write() as s:  # the 20 live runs move on, as an engine would
                for run_id in live:
                    run = s.get(m.Run, run_id)
                    assert run is not None
                    run.turns += 1
                    run.tokens_in += 1000
                    run.cost_usd = (run.cost_usd or 0) + 0.01
                    run.stage = m.STAGES[2 + (i % 3)]
            start = time.perf_counter()
            data = load_board(db, now=app.clock(), mode=EngineMode("daemon"),
                              window=screen.window)  # as the board's worker reads it
            read = time.perf_counter()
            screen.apply(data)
            done = time.perf_counter()
            await pilot.pause()
            reads.append(read - start)
            applies.append(done - read)
            totals.append(done - start)
        print(f"one refresh with {len(live)} live runs changing: median "
              f"{statistics.median(totals) * 1000:.1f} ms (store read "
              f"{statistics.median(reads) * 1000:.1f} ms in the worker, widget update "
              f"{statistics.median(applies) * 1000:.1f} ms on the event loop; "
              f"max {max(totals) * 1000:.1f} ms); cells written per refresh: "
              f"{screen.query_one('#runs').updates}; median / one frame (16 ms) = "
              f"{statistics.median(totals) * 1000 / 16:.2f}")

        long_run = max(live)
        start = time.perf_counter()
        app.open_run(long_run)
        await pilot.pause()
        run_screen = app.screen
        assert isinstance(run_screen, RunScreen)
        view = run_screen.query_one(TranscriptView)
        while not view.entries:
            await pilot.pause(0.02)
        opened = time.perf_counter() - start
        height = view.scrollable_content_region.height
        pages = []
        for _ in range(20):  # a page up, and every visible line rendered again
            start = time.perf_counter()
            view.action_page(-1)
            for y in range(height):
                view.render_line(y)
            pages.append(time.perf_counter() - start)
        scrolled = statistics.median(pages)
        print(f"open a run with {LONG_RUN_EVENTS:,} events: transcript shown in "
              f"{opened:.2f} s ({len(view.entries):,} newest entries loaded); "
              f"a page up re-rendered in {scrolled * 1000:.1f} ms")
    db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--store", default=str(Path("/tmp") / "andon-bench"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-floor", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_floor:
        child_floor()
        return
    if args.child:
        child_paint(args.child)
        return
    root = ensure_store(Path(args.store), args.runs, args.events)
    print(f"store: {root} ({args.runs:,} runs, {args.events:,} events); "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    cold_starts(root, args.repeat)
    asyncio.run(refreshes(root))


if __name__ == "__main__":
    main()
