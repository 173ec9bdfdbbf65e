"""Benchmark of the readiness report over a big store (a script, not a test).

    .venv/bin/python bench/readiness_report.py [--runs 100000] [--repeat 5]

Builds (once, cached under --store) a factory home whose five categories hold RUNS
finished runs in all, each with its review gate, shadow decision and evidence row, two
evidence windows per category (a model change part-way), written in bulk by
`engine.readiness.history`. Then prints medians over --repeat repetitions of:

* the whole report (every category): reading the facts, windows, figures, bounds,
  trends and recommendations, plus the JSON document, as `andon report --json` does;
* the same plus the text lines `andon report` prints;
* one category's report (`andon report bugfix`);
* the HTML page of every category.

Target (issue 16): the report over 100,000 runs in under one second.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CATEGORIES = ["docs", "deps", "bugfix", "feature", "migration"]


def build(root: Path, runs: int) -> None:
    from andon.engine.factory.home import Home
    from andon.engine.readiness.history import Profile, add_history
    from andon.store import models as m

    home = Home(root)
    db = home.init()
    per = runs // len(CATEGORIES)
    with db.write() as s:
        specs = []
        for name in CATEGORIES:
            spec = m.Spec(path=f"/bench/{name}.md", title=f"bench {name}", category=name,
                          repo="bench", checks=["pytest -q"])
            s.add(spec)
            specs.append(spec)
        s.flush()
        for spec in specs:
            s.refresh(spec)
    for seed, spec in enumerate(specs):
        parts = {"backend": "builtin", "model": "claude-sonnet-4-5", "prompt": "p" * 64,
                 "policy": "q" * 64, "checks": ["pytest -q"], "scenarios": None}
        earlier = {**parts, "model": "claude-sonnet-4-0"}
        add_history(db, Profile(spec.category, per, false_merge=0.02, revert=0.01,
                                escalate=0.08), spec, parts, seed=seed,
                    every=timedelta(minutes=5), earlier=earlier, earlier_runs=per // 3,
                    marker="bench")
    db.close()


def timed(label: str, repeat: int, work: Callable[[], object]) -> tuple[float, float]:
    """Median wall time (and CPU time: on a loaded machine the wall clock mostly
    measures the other processes) over `repeat` runs."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    median = statistics.median(walls)
    print(f"{label:<40} wall median {median * 1000:7.1f} ms (min {min(walls) * 1000:.1f}, "
          f"max {max(walls) * 1000:.1f}), cpu median {statistics.median(cpus) * 1000:.1f} ms, "
          f"n={repeat}")
    return median, statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--store", type=Path, default=None,
                        help="Keep the built home here and reuse it (default: a temp dir).")
    args = parser.parse_args()
    root = args.store or Path(tempfile.mkdtemp(prefix="andon-bench-readiness-")) / "home"
    marker = root / f".bench-{args.runs}"
    if not marker.exists():
        began = time.perf_counter()
        build(root, args.runs)
        marker.touch()
        print(f"built {args.runs} runs in {time.perf_counter() - began:.1f} s at {root}")

    from andon.engine.factory.home import Home
    from andon.engine.readiness.document import readiness_json
    from andon.engine.readiness.load import category_readiness
    from andon.tui.readiness_html import render_html
    from andon.tui.readiness_text import figure_lines

    db = Home(root).open()
    reports = category_readiness(db)
    counted = sum(len(w.runs) for r in reports for w in r.windows)
    print(f"{counted} finished runs in {len(reports)} categories; "
          f"command: {' '.join(sys.argv)}")

    def whole() -> None:
        [readiness_json(r) for r in category_readiness(db)]

    def text() -> None:
        for r in category_readiness(db):
            readiness_json(r)
            figure_lines(r)

    one, one_cpu = timed("report, every category (--json)", args.repeat, whole)
    timed("report, every category, text lines", args.repeat, text)
    timed("report, one category (bugfix)", args.repeat,
          lambda: [readiness_json(r) for r in category_readiness(db, ["bugfix"])])
    timed("HTML page, every category", args.repeat,
          lambda: render_html(category_readiness(db)))
    print(f"target: under 1000 ms for every category -> {one * 1000:.0f} ms wall "
          f"({one / 1.0:.2f} of the budget), {one_cpu * 1000:.0f} ms cpu "
          f"({one_cpu / 1.0:.2f}); load average now {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores (on a busy machine the cpu figure is the honest one)")
    db.close()


if __name__ == "__main__":
    main()
