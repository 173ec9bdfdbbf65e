"""How quickly the engine reacts, and what it costs. A script, not a test: prints figures.

    .venv/bin/python bench/daemon_latency.py [--runs 200] [--concurrency 4] [--samples 20]

1. queued -> started: a real `andon serve` subprocess (dispatch tick set to 30 s, so only
   the data_version wake-up can start runs quickly); this process submits trivial specs
   one at a time; latency = run.started_at - run.created_at.
2. gate decision -> resumed: level-2 runs stop at each gate (plan, every edit, review);
   this process approves each; latency = from the decision's commit to the run's next
   event. Then cord release -> resumed: a run held by the cord, released here; latency =
   from the release to the run's "cord released" event.
3. throughput: N trivial scripted runs (each adds one file and merges) through the real
   pipeline at concurrency C, in-process; total wall time, and the engine's own share
   (dispatch passes: claim queries, limits, budgets) beside the pipeline's time. Then the
   same number of runs with an empty run body: the engine alone.

Everything lives in a temporary folder; nothing touches the user's factory.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlmodel import col, select  # noqa: E402

from andon.engine.factory.home import Home  # noqa: E402
from andon.engine.run.control import RunControl  # noqa: E402
from andon.engine.run.queue import submit  # noqa: E402
from andon.engine.service.runner import Engine  # noqa: E402
from andon.policies.stored import set_level  # noqa: E402
from andon.store import models as m  # noqa: E402
from andon.store.clock import utcnow  # noqa: E402
from andon.store.db import Database  # noqa: E402

GIT_ENV = {"GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}

CONFIG = """
[engine]
concurrency = {concurrency}
dispatch_interval = 30
watch_interval = 0.15
heartbeat_interval = 5
drain_timeout = 10
keep_worktrees = "never"
"""


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "core.hooksPath=/dev/null", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout.strip()


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("# bench\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


def trivial_spec(folder: Path, name: str, repo: Path, category: str = "bench") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / f"{name}.md"
    spec.write_text(f"---\ntitle: {name}\ncategory: {category}\nrepo: {repo}\n"
                    f"model: scripted\n---\n# Intent\nAdd {name}.txt.\n")
    (folder / f"{name}.script.yaml").write_text(textwrap.dedent(f"""\
        plan: "1. Add {name}.txt"
        turns:
          - text: adding {name}.txt
            tool_use:
              - name: str_replace_based_edit_tool
                input: {{command: create, path: {name}.txt, file_text: "{name}\\n"}}
          - text: done
        """))
    return spec


def figures(label: str, values: list[float]) -> None:
    values = sorted(values)
    if not values:
        print(f"  {label}: no samples")
        return
    p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
    print(f"  {label}: n={len(values)} median {statistics.median(values) * 1000:.0f} ms, "
          f"p90 {p90 * 1000:.0f} ms, max {values[-1] * 1000:.0f} ms")


def run_row(db: Database, run_id: int) -> m.Run:
    with db.read() as s:
        run = s.get(m.Run, run_id)
        assert run is not None
        return run


def wait(check, timeout: float = 60.0, step: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("timed out")
        time.sleep(step)


def setup(base: Path, concurrency: int) -> tuple[Home, Database, Path]:
    repo = make_repo(base / "repo")
    home = Home(base / "home")
    db = home.init()
    home.config_path.write_text(CONFIG.format(concurrency=concurrency))
    home.reload()
    set_level(db, "bench", 4, user="bench")  # dark: no gates
    set_level(db, "gated", 2, user="bench")  # a person approves every step
    return home, db, repo


class Daemon:
    def __init__(self, home: Home) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "andon.tui", "--home", str(home.root), "serve", "--quiet"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wait(lambda: (home.logs / "andon.log").exists()
             and "daemon serving" in (home.logs / "andon.log").read_text(), timeout=30)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_idle(daemon: Daemon, seconds: float = 5.0) -> None:
    before = cpu_seconds(daemon.proc.pid)
    time.sleep(seconds)
    used = cpu_seconds(daemon.proc.pid) - before
    print(f"idle daemon: {used / seconds * 100:.1f}% of one core "
          f"(watching data_version every 150 ms)")


def bench_start_latency(home: Home, db: Database, repo: Path, specs: Path,
                        samples: int) -> None:
    print("queued -> started (andon serve in another process, dispatch tick 30 s):")
    latencies = []
    for i in range(samples):
        run_id = submit(db, trivial_spec(specs, f"start{i}", repo)).id or 0
        wait(lambda rid=run_id: run_row(db, rid).started_at is not None, timeout=10)
        run = run_row(db, run_id)
        assert run.started_at is not None
        latencies.append((run.started_at - run.created_at).total_seconds())
        wait(lambda rid=run_id: run_row(db, rid).status in m.TERMINAL_STATUSES)
        time.sleep(0.05)
    figures("queued -> started", latencies)


def bench_gate_latency(db: Database, repo: Path, specs: Path, runs: int) -> None:
    from andon.engine.gates.gate import decide_gate

    print("gate decision -> resumed (level 2: plan, edit and review gates):")
    latencies = []
    for i in range(runs):
        kinds: list[str] = []
        run_id = submit(db, trivial_spec(specs, f"gated{i}", repo, "gated")).id or 0
        while run_row(db, run_id).status not in m.TERMINAL_STATUSES:
            with db.read() as s:
                gate = s.exec(select(m.Gate).where(m.Gate.run_id == run_id,
                                                   m.Gate.status == m.PENDING)).first()
            if gate is None:
                time.sleep(0.01)
                continue
            decided = decide_gate(db, gate.id or 0, "approve", user="bench")
            with db.read() as s:
                mark = s.exec(select(m.Event).where(m.Event.run_id == run_id,
                                                    m.Event.kind == "gate.decided")
                              .order_by(col(m.Event.id).desc())).first()
            assert mark is not None and decided.decided_at is not None

            def next_event(rid: int = run_id, after: int = mark.id or 0) -> m.Event | None:
                with db.read() as s:
                    return s.exec(select(m.Event).where(m.Event.run_id == rid,
                                                        col(m.Event.id) > after)
                                  .order_by(col(m.Event.id))).first()

            wait(lambda: next_event() is not None, timeout=10)
            resumed = next_event()
            assert resumed is not None
            latencies.append((resumed.ts - decided.decided_at).total_seconds())
            kinds.append(gate.kind)
        print(f"  run {run_id}: {run_row(db, run_id).status} after gates {kinds}")
    figures("gate decision -> resumed", latencies)


def bench_cord_latency(db: Database, repo: Path, specs: Path, samples: int) -> None:
    from andon.engine.service.cord import pull, release

    print("cord release -> resumed:")
    latencies = []
    for i in range(samples):
        spec = trivial_spec(specs, f"cord{i}", repo)
        script = spec.with_name(f"cord{i}.script.yaml")
        script.write_text(script.read_text().replace("  - text: adding",
                                                     "  - delay: 0.5\n    text: adding"))
        run_id = submit(db, spec).id or 0
        wait(lambda rid=run_id: run_row(db, rid).stage == "implement")
        pull(db, "bench", user="bench")
        wait(lambda rid=run_id: run_row(db, rid).status == m.HELD, timeout=10)
        with db.read() as s:
            last = s.exec(select(func_max_event_id(run_id))).one() or 0
        released_at = utcnow()
        release(db, user="bench")

        def resumed(rid: int = run_id, after: int = last) -> m.Event | None:
            with db.read() as s:
                return s.exec(select(m.Event).where(m.Event.run_id == rid,
                                                    col(m.Event.id) > after)
                              .order_by(col(m.Event.id))).first()

        wait(lambda: resumed() is not None, timeout=10)
        event = resumed()
        assert event is not None
        latencies.append((event.ts - released_at).total_seconds())
        wait(lambda rid=run_id: run_row(db, rid).status in m.TERMINAL_STATUSES)
    figures("cord release -> resumed", latencies)


def func_max_event_id(run_id: int):
    from sqlmodel import func

    return select(func.max(m.Event.id)).where(m.Event.run_id == run_id).scalar_subquery()


def bench_throughput(base: Path, runs: int, concurrency: int, *, empty: bool) -> None:
    home, db, repo = setup(base, concurrency)
    specs = base / "specs"
    ids = [submit(db, trivial_spec(specs, f"t{i}", repo)).id or 0 for i in range(runs)]

    def nothing(home: Home, db: Database, run_id: int, control: RunControl) -> str:
        control.boundary()
        with db.write() as s:
            run = s.get(m.Run, run_id)
            assert run is not None
            run.status, run.finished_at, run.reason = m.MERGED, utcnow(), "empty body"
            s.add(m.Event(run_id=run_id, kind="run.merged", message="empty body"))
        return m.MERGED

    settings = home.config.engine
    engine = Engine(home, db, settings=settings, executor=nothing if empty else None)
    done = threading.Event()
    t0 = time.perf_counter()
    engine.start()

    def finished() -> bool:
        with db.read() as s:
            left = s.exec(select(m.Run.id).where(col(m.Run.status).notin_(
                m.TERMINAL_STATUSES)).limit(1)).first()
        return left is None

    wait(finished, timeout=1800, step=0.05)
    wall = time.perf_counter() - t0
    done.set()
    engine.stop(timeout=10)
    with db.read() as s:
        rows = [s.get(m.Run, i) for i in ids]
    statuses = [r.status for r in rows if r is not None]
    st = engine.stats
    merged = statuses.count(m.MERGED)
    others = sorted({f"{r.status}: {r.reason}" for r in rows
                     if r is not None and r.status != m.MERGED})
    what = "empty run body (the engine alone)" if empty else "real pipeline, scripted model"
    print(f"{runs} trivial runs at concurrency {concurrency}, {what}:")
    print(f"  total {wall:.1f} s ({runs / wall:.1f} runs/s), {merged} merged, "
          f"{runs - merged} other")
    for other in others[:5]:
        print(f"    {other[:150]}")
    print(f"  engine's own work: {st.dispatch_passes} dispatch passes, "
          f"{st.dispatch_cpu:.2f} s CPU ({st.dispatch_cpu / wall * 100:.1f}% of the wall "
          f"time, {st.dispatch_cpu / max(1, st.claimed) * 1000:.1f} ms per run); "
          f"{st.dispatch_seconds:.2f} s wall inside the passes")
    if not empty:
        print(f"  inside the pipeline: {st.run_seconds:.1f} s summed over runs "
              f"({st.run_seconds / runs:.2f} s per run; {st.run_seconds / wall:.2f} runs "
              "busy on average)")
    db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--gated-runs", type=int, default=3)
    args = parser.parse_args()
    os.environ.update(GIT_ENV)
    with tempfile.TemporaryDirectory(prefix="andon-bench-") as tmp:
        base = Path(tmp)
        home, db, repo = setup(base / "latency", args.concurrency)
        daemon = Daemon(home)
        try:
            specs = base / "latency" / "specs"
            bench_start_latency(home, db, repo, specs, args.samples)
            bench_gate_latency(db, repo, specs, args.gated_runs)
            bench_cord_latency(db, repo, specs, max(3, args.samples // 4))
            bench_idle(daemon)
        finally:
            daemon.stop()
            db.close()
        bench_throughput(base / "pipeline", args.runs, args.concurrency, empty=False)
        bench_throughput(base / "empty", args.runs, args.concurrency, empty=True)


if __name__ == "__main__":
    main()
