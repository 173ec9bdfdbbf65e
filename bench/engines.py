"""Several engines on one PostgreSQL factory. A script, not a test: prints figures.

    .venv/bin/python bench/engines.py [--runs 20] [--engines 3] [--samples 10] [--url URL]

Without --url it starts a throwaway PostgreSQL cluster (tests/support/postgres.py: needs
the server's binaries and psycopg) and gives each part a fresh database. Every part has
one bare remote, one clone the engines share (this is one machine) whose base is pushed
to the remote after each merge, and homes of their own (one per engine).

1. wake-ups across processes: one `andon serve` on PostgreSQL; this process submits and
   decides gates; queued -> started and gate decision -> resumed (LISTEN/NOTIFY).
2. coordination overhead: the same N scripted runs (real pipeline, each adds one file and
   merges) through one `andon serve`, then through E of them; wall time per run, and the
   ratio to the single engine (a 2-core machine measures overhead, not scale-out).
3. SIGKILL: E engines, N runs; one engine is killed while a run of its own is in
   implement; the others take its runs over and finish.
Each part checks exactly-once: every run merged, and the remote's base holds exactly one
merge commit per run (its `Andon-Run` trailer).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from daemon_latency import (  # noqa: E402
    GIT_ENV,
    bench_gate_latency,
    bench_start_latency,
    git,
    make_repo,
    run_row,
    trivial_spec,
    wait,
)
from sqlmodel import col, select  # noqa: E402

from andon.engine.factory.home import Home  # noqa: E402
from andon.engine.run.queue import submit  # noqa: E402
from andon.policies.stored import set_level  # noqa: E402
from andon.store import models as m  # noqa: E402
from andon.store.db import Database  # noqa: E402

CONFIG = """
[store]
url = "{url}"

[engine]
concurrency = 2
dispatch_interval = 30
watch_interval = 0.15
heartbeat_interval = 1
housekeeping_interval = 2
drain_timeout = 10
keep_worktrees = "never"

[repos.bench]
path = "{repo}"
push = "origin"
"""


class Part:
    """A fresh database, a bare remote with a clone, and `engines` homes on it."""

    def __init__(self, base: Path, url: str, engines: int) -> None:
        self.url = url
        remote = base / "remote.git"
        remote.mkdir(parents=True)
        git(remote, "init", "-q", "--bare", "-b", "main")
        self.remote = remote
        self.repo = make_repo(base / "repo")
        git(self.repo, "remote", "add", "origin", str(remote))
        git(self.repo, "push", "-q", "origin", "main")
        self.homes = []
        for i in range(engines):
            home = Home(base / f"home-{i}")
            home.root.mkdir(parents=True)
            home.config_path.write_text(CONFIG.format(url=url, repo=self.repo))
            home.init().close()
            self.homes.append(home)
        self.db = Database(url)
        set_level(self.db, "bench", 4, user="bench")  # dark: no gates
        set_level(self.db, "gated", 2, user="bench")
        self.specs = base / "specs"
        self.daemons: list[subprocess.Popen[str]] = []

    def spec(self, name: str, category: str = "bench", delay: float = 0.0) -> Path:
        path = trivial_spec(self.specs, name, Path("bench"), category)  # repo: bench
        if delay:
            script = path.with_name(f"{name}.script.yaml")
            script.write_text(script.read_text().replace(
                "  - text: adding", f"  - delay: {delay}\n    text: adding"))
        return path

    def serve(self, count: int) -> None:
        for home in self.homes[:count]:
            log = home.logs / "andon.log"
            proc = subprocess.Popen([sys.executable, "-m", "andon.tui", "--home",
                                     str(home.root), "serve", "--quiet"], cwd=ROOT,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    text=True)
            wait(lambda log=log: log.exists() and "daemon serving" in log.read_text(),
                 timeout=120)
            self.daemons.append(proc)

    def stop(self) -> None:
        for proc in self.daemons:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.daemons:
            proc.wait(60)
        self.db.close()

    def finished(self, ids: list[int]) -> bool:
        with self.db.read() as s:
            left = s.exec(select(m.Run.id).where(col(m.Run.id).in_(ids), col(m.Run.status)
                                                 .notin_(m.TERMINAL_STATUSES))).first()
        return left is None

    def exactly_once(self, ids: list[int]) -> str:
        with self.db.read() as s:
            rows = s.exec(select(m.Run).where(col(m.Run.id).in_(ids))).all()
        statuses = Counter(r.status for r in rows)
        trailers = git(self.remote, "log", "--first-parent", "main",
                       "--format=%(trailers:key=Andon-Run,valueonly,separator=%x2C)")
        merges = Counter(int(v) for line in trailers.splitlines() for v in line.split(",")
                         if v.strip().isdigit())
        once = sum(1 for i in ids if merges.get(i) == 1)
        twice = sorted(i for i in ids if merges.get(i, 0) > 1)
        verdict = "every run merged exactly once" if (
            once == len(ids) and statuses.get(m.MERGED) == len(ids)) else "NOT exactly once"
        return (f"{verdict}: statuses {dict(statuses)}, {once}/{len(ids)} runs with one "
                f"merge commit on the remote's main, merged twice: {twice or 'none'}")


def through(part: Part, engines: int, runs: int, tag: str) -> float:
    part.serve(engines)
    t0 = time.monotonic()
    ids = [submit(part.db, part.spec(f"{tag}{i}")).id or 0 for i in range(runs)]
    wait(lambda: part.finished(ids), timeout=3600, step=0.2)
    wall = time.monotonic() - t0
    with part.db.read() as s:
        hosts = Counter(r.claimed_by or "?" for r in s.exec(
            select(m.Run).where(col(m.Run.id).in_(ids))).all())
    print(f"  {engines} engine(s), {runs} runs: {wall:.1f} s, {wall / runs:.2f} s per run; "
          f"{part.exactly_once(ids)}")
    print(f"    runs per engine (last claim): {sorted(hosts.values(), reverse=True)}")
    return wall / runs


def killed(part: Part, engines: int, runs: int) -> None:
    part.serve(engines)
    ids = [submit(part.db, part.spec(f"k{i}", delay=0.5)).id or 0 for i in range(runs)]
    pids = {str(proc.pid): proc for proc in part.daemons}

    def in_implement() -> m.Run | None:
        with part.db.read() as s:
            return s.exec(select(m.Run).where(m.Run.stage == "implement",
                                              m.Run.status == m.RUNNING)).first()

    wait(lambda: in_implement() is not None, timeout=600, step=0.02)
    run = in_implement()
    assert run is not None and run.claimed_by is not None
    victim = pids[run.claimed_by.partition("@")[0]]
    with part.db.read() as s:
        theirs = [r.id for r in s.exec(select(m.Run).where(
            col(m.Run.claimed_by).startswith(f"{victim.pid}@"),
            col(m.Run.status).in_(m.ACTIVE_STATUSES))).all()]
    victim.send_signal(signal.SIGKILL)
    victim.wait(30)
    t0 = time.monotonic()
    wait(lambda: part.finished(ids), timeout=3600, step=0.2)
    print(f"  SIGKILL of engine pid {victim.pid} holding runs {theirs}: the other "
          f"{engines - 1} finished them ({time.monotonic() - t0:.1f} s after the kill); "
          f"{part.exactly_once(ids)}")
    for run_id in theirs:
        run = run_row(part.db, run_id or 0)
        print(f"    run {run_id}: {run.status}, attempt {run.attempt}, "
              f"claimed by {run.claimed_by}: {(run.reason or '')[:300]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--engines", type=int, default=3)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--url", help="a PostgreSQL URL whose databases may be created")
    args = parser.parse_args()
    os.environ.update(GIT_ENV)
    cluster = None
    if args.url is None:
        from tests.support.postgres import Cluster, bindir, why_not

        if why_not():  # `make bench` goes on to the next script
            print(f"{sys.argv[0]}: skipped, no PostgreSQL here: {why_not()}")
            return
        cluster = Cluster(bindir() or Path())
        cluster.start()

    def database() -> str:
        return cluster.database() if cluster else str(args.url)

    print(f"{sys.argv[0]} --runs {args.runs} --engines {args.engines} "
          f"--samples {args.samples}")
    try:
        with tempfile.TemporaryDirectory(prefix="andon-bench-") as tmp:
            base = Path(tmp)
            part = Part(base / "wake", database(), 1)
            part.serve(1)
            try:
                bench_start_latency(part.homes[0], part.db, part.repo, part.specs,
                                    args.samples)
                bench_gate_latency(part.db, part.repo, part.specs, 2)
            finally:
                part.stop()
            print("coordination overhead (one machine, one clone, one bare remote):")
            per_run = []
            for engines in (1, args.engines):
                part = Part(base / f"n{engines}", database(), engines)
                try:
                    per_run.append(through(part, engines, args.runs, f"e{engines}-"))
                finally:
                    part.stop()
            print(f"  per run, {args.engines} engines / 1 engine: "
                  f"{per_run[1] / per_run[0]:.2f} (wall time per run, one pass each)")
            print("an engine killed mid-implement:")
            part = Part(base / "kill", database(), args.engines)
            try:
                killed(part, args.engines, args.runs)
            finally:
                part.stop()
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
