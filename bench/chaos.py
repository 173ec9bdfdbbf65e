"""Chaos: SIGKILL the whole daemon again and again, then count what the runs became.

    .venv/bin/python bench/chaos.py [--kills 60] [--runs 24] [--seed 1] [--concurrency 2]
    .venv/bin/python bench/chaos.py --smoke          # 6 kills, a handful of runs (CI)

A script, not a test. It builds a factory in a temporary folder: a git repository (with
a setup command, which runs outside the sandbox in a session of its own), a level-4
category, and scripted specs that each add a file, pass their check and merge, then
watch the merged base. A real `andon serve` runs in a process group of its own; this
script kills that whole group with SIGKILL, restarts the daemon, and again, at:

    random       a random moment after the daemon says it is serving
    before-move  a run is about to merge (its base has not moved yet)
    after-move   the run's merge is on the base, not yet recorded in the store

The merge phases are reached by a wrapper around the engine's real merge function (in
the daemon process this script starts with --serve): when armed, it says which run
stopped there and waits to be killed. Nothing in the engine is changed. More runs are
queued whenever fewer than the workers are left, so a kill always has work to cut.

Then a last daemon finishes everything, and the script prints: runs merged exactly
once (merge commits per run on the base, by its Andon-Run and Andon-Home trailers), runs
merged more than once, runs recorded merged whose change is not on the base (must be 0),
runs stuck (not ended), orphan processes (anything still running that mentions the
factory's folder), steps left running, and `PRAGMA integrity_check`; with the medians of
the restart time and of each run's working time. It exits 1 when a figure that must be
zero is not (or the database is not intact), so CI can run the smoke size.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PHASES = ("before-move", "after-move")
SETTLE_SECONDS = 900.0  # the last daemon's time to finish every run, on a loaded machine

CONFIG = """
[engine]
concurrency = {concurrency}
dispatch_interval = 30
watch_interval = 0.1
heartbeat_interval = 0.5
housekeeping_interval = 2
inbox_interval = 60
drain_timeout = 5
max_resumes = 1000         # the merges are counted here, not the crash-loop guard
keep_worktrees = "never"

[repos.chaos]
path = "{repo}"
base = "main"
setup = ["sleep 0.3"]
"""

SCRIPT = """
turns:
  - delay: 0.3
    text: starting
    tool_use:
      - name: str_replace_based_edit_tool
        input: {{command: create, path: chaos/{name}.txt, file_text: "{name}\\n"}}
  - delay: 0.3
    text: more
    tool_use:
      - name: str_replace_based_edit_tool
        input: {{command: create, path: chaos/{name}.more, file_text: "more\\n"}}
  - text: done
"""


# -- the daemon side: the real `andon serve`, its merge wrapped ------------------------

def serve(home: str, chaos: Path) -> None:
    """`andon serve` with a pause before and after each merge, when armed."""
    from andon.engine.workspace import merge as merging

    real = merging.merge_run

    def pause(phase: str, run_id: int) -> None:
        if not (chaos / f"arm-{phase}").exists():
            return
        mark = chaos / f"at-{phase}"
        tmp = mark.with_suffix(f".{os.getpid()}.{run_id}")
        tmp.write_text(str(run_id))
        tmp.rename(mark)
        deadline = time.monotonic() + 600  # the controller kills us long before
        while time.monotonic() < deadline and (chaos / f"arm-{phase}").exists():
            time.sleep(0.01)

    def merge_run(ws: Any, run_id: int, *args: Any, **kwargs: Any) -> Any:
        pause("before-move", run_id)
        result = real(ws, run_id, *args, **kwargs)
        if result.status == "merged":
            pause("after-move", run_id)
        return result

    merging.merge_run = merge_run  # type: ignore[assignment]  # the stages call it so
    from andon.tui.cli import app, hoist_home

    app(args=hoist_home(["--home", home, "serve"]))


# -- the controller side ------------------------------------------------------------

def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Chaos", "GIT_AUTHOR_EMAIL": "chaos@example.com",
           "GIT_COMMITTER_NAME": "Chaos", "GIT_COMMITTER_EMAIL": "chaos@example.com"}
    return subprocess.run(["git", "-c", "core.hooksPath=/dev/null", *args], cwd=cwd,
                          check=True, capture_output=True, text=True, env=env).stdout.strip()


class Factory:
    def __init__(self, base: Path, concurrency: int) -> None:
        from andon.engine.factory.home import Home
        from andon.policies.stored import set_level

        self.base, self.repo = base, base / "repo"
        self.repo.mkdir(parents=True)
        git(self.repo, "init", "-q", "-b", "main")
        (self.repo / "README.md").write_text("# chaos\n")
        git(self.repo, "add", "-A")
        git(self.repo, "commit", "-q", "-m", "initial")
        self.start = git(self.repo, "rev-parse", "main")
        self.home = Home(base / "home")
        self.db = self.home.init()
        self.home.config_path.write_text(CONFIG.format(concurrency=concurrency,
                                                       repo=self.repo))
        set_level(self.db, "docs", 4, user="chaos")  # dark: merge on green, nobody asked
        self.chaos = base / "chaos"
        self.chaos.mkdir()
        self.log = base / "daemon.out"
        self.specs = base / "specs"
        self.specs.mkdir()
        self.made = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts: list[float] = []

    # runs

    def submit(self, count: int) -> None:
        from andon.engine.run.queue import submit

        for _ in range(count):
            self.made += 1
            name = f"run{self.made:03d}"
            spec = self.specs / f"{name}.md"
            spec.write_text(f"---\ntitle: Add {name}\ncategory: docs\nrepo: chaos\n"
                            f"model: scripted\nchecks:\n  - test -f chaos/{name}.txt\n---\n"
                            f"# Intent\nAdd chaos/{name}.txt.\n")
            (self.specs / f"{name}.script.yaml").write_text(
                textwrap.dedent(SCRIPT.format(name=name)))
            submit(self.db, spec)

    def runs(self) -> list[Any]:
        from sqlmodel import col, select

        from andon.store import models as m

        with self.db.read() as s:
            return list(s.exec(select(m.Run).order_by(col(m.Run.id))).all())

    def open_runs(self) -> int:
        from andon.store import models as m

        return sum(1 for r in self.runs() if r.status not in m.TERMINAL_STATUSES)

    def top_up(self, workers: int) -> None:
        left = self.open_runs()
        if left <= workers:
            self.submit(workers + 2 - left)

    # the daemon

    def serving(self) -> int:
        return self.log.read_text().count("andon daemon serving") if self.log.exists() else 0

    def up(self) -> None:
        seen, t0 = self.serving(), time.monotonic()
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, __file__, "--serve", str(self.home.root), str(self.chaos)],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        wait(lambda: self.serving() > seen, 120, self._alive)
        self.restarts.append(time.monotonic() - t0)

    def _alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"the daemon exited ({self.proc.returncode}):\n"
                               + self.log.read_text()[-3000:])

    def kill(self) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # the whole group, all at once
        self.proc.wait(30)
        self.proc = None

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(120)
        self.proc = None


def wait(check: Any, timeout: float, also: Any = None) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if also is not None:
            also()
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def kill_at_phase(f: Factory, phase: str, workers: int) -> bool:
    """Arm the pause, wait for a run to reach it, kill. False when none came in time."""
    arm, at = f.chaos / f"arm-{phase}", f.chaos / f"at-{phase}"
    arm.touch()
    try:
        reached = wait(lambda: at.exists(), 180, lambda: (f._alive(), f.top_up(workers)))
        f.kill()
    finally:
        arm.unlink(missing_ok=True)
        at.unlink(missing_ok=True)
    return reached


# -- what the runs became ---------------------------------------------------------------

def merges_on_base(f: Factory, home_id: str) -> Counter[int]:
    """Merge commits per run on main's first-parent line since the start, by trailers."""
    out = git(f.repo, "log", "--first-parent", "--format=%H%x00%B%x01",
              f"{f.start}..main")
    found: Counter[int] = Counter()
    for entry in out.split("\x01"):
        if "\x00" not in entry:
            continue
        _, body = entry.split("\x00", 1)
        lines = {line.strip() for line in body.splitlines()}
        if f"Andon-Home: {home_id}" not in lines:
            continue
        for line in lines:
            if line.startswith("Andon-Run: "):
                found[int(line.split(": ", 1)[1])] += 1
    return found


def orphans(root: Path) -> list[str]:
    """Processes (not this one) whose command line, environment or folder names the
    factory: what the killed daemons left behind."""
    mine, needle, left = os.getpid(), str(root).encode(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == mine:
            continue
        try:
            cmd = (entry / "cmdline").read_bytes()
            env = (entry / "environ").read_bytes()
            cwd = os.readlink(entry / "cwd").encode()
        except OSError:
            continue
        if needle in cmd or needle in env or cwd.startswith(needle):
            shown = cmd.replace(b"\0", b" ").decode(errors="replace")
            left.append(f"{entry.name}: {shown}")
    return left


def report(f: Factory, kills: Counter[str], missed: int, wall: float) -> bool:
    """Print the figures; True when every must-be-zero figure is zero."""
    from sqlmodel import func, select

    from andon.engine.run.identity import home_id
    from andon.store import models as m

    runs = f.runs()
    merges = merges_on_base(f, home_id(f.db))
    tip_files = set(git(f.repo, "ls-tree", "-r", "--name-only", "main").splitlines())
    statuses = Counter(r.status for r in runs)
    recorded = [r for r in runs if r.status == m.MERGED]
    once = sum(1 for r in recorded if merges[r.id or 0] == 1)
    twice = sum(1 for r in runs if merges[r.id or 0] > 1)
    on_base_unrecorded = [r.id for r in runs if merges[r.id or 0] and r.status not in (
        m.MERGED, m.REVERTED)]
    missing, why = [], []
    for r in recorded:
        name = f"chaos/run{_spec_number(f, r):03d}.txt"
        ancestor = subprocess.run(["git", "merge-base", "--is-ancestor", r.merge_commit or "-",
                                   "main"], cwd=f.repo, capture_output=True).returncode == 0
        if not ancestor or name not in tip_files:
            missing.append(r.id)
            why.append(f"  run {r.id}: merge_commit {(r.merge_commit or '-')[:10]} "
                       + ("on" if ancestor else "not on") + f" main, {name} "
                       + ("in" if name in tip_files else "not in") + " main's tree")
    stuck = [r.id for r in runs if r.status not in m.TERMINAL_STATUSES]
    with f.db.read() as s:
        running_steps = s.exec(select(func.count()).select_from(m.Step)
                               .where(m.Step.status == "running")).one()
    with sqlite3.connect(f.home.db_path) as con:
        integrity = ", ".join(row[0] for row in con.execute("PRAGMA integrity_check"))
    left = orphans(f.base)
    worked = [(r.finished_at - r.started_at).total_seconds() for r in runs
              if r.finished_at and r.started_at]

    by_kind = ", ".join(f"{k} {v}" for k, v in sorted(kills.items()))
    by_status = ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
    print(f"kill points: {sum(kills.values())} ({by_kind})"
          + (f"; {missed} armed phase(s) no run reached in time" if missed else ""))
    print(f"runs: {len(runs)} ({by_status})")
    print(f"runs merged exactly once: {once} of {len(recorded)} recorded merged")
    print(f"runs merged more than once: {twice}")
    print(f"runs recorded merged whose change is not on the base: {len(missing)}"
          + (f" {missing}" if missing else ""))
    for line in why:
        print(line)
    print(f"runs merged on the base but recorded otherwise: {len(on_base_unrecorded)}"
          + (f" {on_base_unrecorded}" if on_base_unrecorded else ""))
    print(f"runs stuck (not ended): {len(stuck)}" + (f" {stuck}" if stuck else ""))
    print(f"orphan processes: {len(left)}")
    for line in left[:10]:
        print(f"  {line[:160]}")
    print(f"steps left running: {running_steps}")
    print(f"PRAGMA integrity_check: {integrity}")
    print(f"restart to serving: median {statistics.median(f.restarts):.2f} s over "
          f"{len(f.restarts)} starts; run start to end: median "
          f"{statistics.median(worked) if worked else 0:.1f} s over {len(worked)} runs; "
          f"wall {wall:.0f} s")
    failed = [r for r in runs if r.status not in (m.MERGED, m.QUEUED, m.RUNNING)]
    for r in failed[:10]:
        print(f"  run {r.id} {r.status}: {(r.reason or '')[:150]}")
    return not (twice or missing or on_base_unrecorded or stuck or left or running_steps
                or integrity != "ok")


def _spec_number(f: Factory, run: Any) -> int:
    from andon.store import models as m

    with f.db.read() as s:
        spec = s.get(m.Spec, run.spec_id)
    return int(Path(spec.path).stem.removeprefix("run")) if spec else 0


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(sys.argv[2], Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=60)
    parser.add_argument("--runs", type=int, default=12, help="queued at the start")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--smoke", action="store_true", help="6 kills, 4 runs (for CI)")
    parser.add_argument("--keep", action="store_true", help="keep the factory's folder")
    args = parser.parse_args()
    if args.smoke:
        args.kills, args.runs = 6, 4
    rng = random.Random(args.seed)
    t0 = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="andon-chaos-"))
    f = Factory(folder, args.concurrency)
    kills: Counter[str] = Counter()
    missed = code = 0
    try:
        f.submit(args.runs)
        for i in range(args.kills):
            f.top_up(args.concurrency)
            f.up()
            kind = "random" if i % 3 == 0 else PHASES[i % 3 - 1]
            if kind == "random":
                time.sleep(rng.uniform(0.2, 4.0))
                f.kill()
            elif not kill_at_phase(f, kind, args.concurrency):
                missed += 1
                kind = "random (phase not reached)"
            kills[kind] += 1
            print(f"kill {i + 1}/{args.kills}: {kind}", file=sys.stderr, flush=True)
        f.up()  # the last daemon finishes what is left
        wait(lambda: f.open_runs() == 0, SETTLE_SECONDS, f._alive)
        f.stop()
        print(f"python bench/chaos.py --kills {args.kills} --runs {args.runs} "
              f"--concurrency {args.concurrency} --seed {args.seed}")
        if not report(f, kills, missed, time.monotonic() - t0):
            code = 1
    finally:
        if f.proc is not None:
            f.kill()
        f.db.close()
        if not args.keep:
            subprocess.run(["rm", "-rf", str(folder)], check=False)
        else:
            print(f"factory kept in {folder}")
    sys.exit(code)


if __name__ == "__main__":
    main()
