"""`andon serve` as a real subprocess running the real pipeline on a scripted spec: kill -9
in the middle of a run and a restart (the run resumes, every committed event is still
there, one merge); SIGTERM drains to a resumable run and exits 0; a second daemon is
refused naming the first; SIGHUP reloads andon.toml; the inbox queues a dropped spec and
rejects a bad one; the home stays private."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from andon.engine.factory.home import Home
from andon.engine.run.queue import submit
from andon.engine.service.daemon import running_daemon
from andon.policies.stored import set_level
from andon.store import models as m
from andon.store.db import Database
from tests.conftest import git, make_repo, write_spec

# Whole factories in subprocesses: minutes on a loaded machine, not the suite's 120 s.
pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[3]

CONFIG = """
[engine]
concurrency = 2
dispatch_interval = 30     # wake-ups, not this tick, must start runs
watch_interval = 0.1
heartbeat_interval = 0.5
inbox_interval = 0.2
drain_timeout = 5
"""

SCRIPT = """
turns:
  - delay: 0.25
    text: one
    tool_use:
      - name: str_replace_based_edit_tool
        input: {command: create, path: one.txt, file_text: "1\\n"}
  - delay: 0.25
    text: two
    tool_use:
      - name: str_replace_based_edit_tool
        input: {command: create, path: two.txt, file_text: "2\\n"}
  - delay: 0.25
    text: three
    tool_use:
      - name: str_replace_based_edit_tool
        input: {command: create, path: three.txt, file_text: "3\\n"}
  - text: done
"""


class Daemon:
    """A running `andon serve`, its output collected by a thread."""

    def __init__(self, home: Home) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "andon.tui", "--home", str(home.root), "serve"], cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} from the daemon:\n{self.output}")
            time.sleep(0.02)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(15)
        self.reader.join(5)
        return code


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[tuple[Home, Database, Path, Path]]:
    repo = make_repo(tmp_path / "repo")
    home = Home(tmp_path / "home")
    db = home.init()
    home.config_path.write_text(CONFIG)
    set_level(db, "docs", 4, user="tester")  # dark: no gates, so nothing waits for a person
    spec = write_spec(tmp_path / "specs", "slow", f"""
        title: Three files
        category: docs
        repo: {repo}
        model: scripted
        """, script=textwrap.dedent(SCRIPT))
    daemons: list[Daemon] = []
    yield home, db, repo, spec
    for d in daemons:
        d.stop()
    db.close()


def start(home: Home) -> Daemon:
    daemon = Daemon(home)
    daemon.wait_for("andon daemon serving")
    return daemon


def events(db: Database, run_id: int) -> list[tuple[int, str, str]]:
    with db.read() as s:
        rows = s.exec(select(m.Event).where(m.Event.run_id == run_id)
                      .order_by(col(m.Event.id))).all()
    return [(e.id or 0, e.kind, e.message) for e in rows]


def run_row(db: Database, run_id: int) -> m.Run:
    with db.read() as s:
        run = s.get(m.Run, run_id)
        assert run is not None
        return run


def until(check, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s")
        time.sleep(0.05)


def test_kill_9_mid_run_then_restart_resumes_with_every_event_and_one_merge(
        factory: tuple[Home, Database, Path, Path]) -> None:
    home, db, repo, spec = factory
    daemon = start(home)
    try:
        run_id = submit(db, spec).id or 0  # from this process: the daemon wakes up
        until(lambda: any(k == "tool" for _, k, _ in events(db, run_id)))
        run = run_row(db, run_id)
        assert run.started_at is not None
        # Woken by the commit, not by the 5 s dispatch tick (the latency itself is
        # measured by bench/daemon_latency.py, not asserted here).
        assert (run.started_at - run.created_at).total_seconds() < 4.0
        before = events(db, run_id)
        os.kill(daemon.proc.pid, signal.SIGKILL)
        daemon.proc.wait(5)
    finally:
        daemon.stop()
    assert run_row(db, run_id).status == m.RUNNING  # nobody told the store
    assert running_daemon(home) is None  # the lock died with the process

    again = start(home)
    try:
        until(lambda: run_row(db, run_id).status in m.TERMINAL_STATUSES)
    finally:
        assert again.stop() == 0
    run = run_row(db, run_id)
    after = events(db, run_id)
    assert after[: len(before)] == before  # everything committed before the kill
    kinds = [k for _, k, _ in after[len(before):]]
    assert kinds[:2] == ["run.interrupted", "run.resumed"]
    assert run.status == m.MERGED, run.reason
    merges = git(repo, "log", "--format=%H", "--grep", f"Andon-Run: {run_id}", "--merges",
                 "main").split()
    assert len(merges) == 1
    for name in ("one.txt", "two.txt", "three.txt"):
        assert (repo / name).exists()
    assert f"recovered run {run_id}" in again.output


def test_sigterm_drains_an_inbox_run_to_a_resumable_state_and_exits_0(
        factory: tuple[Home, Database, Path, Path]) -> None:
    home, db, _repo, spec = factory
    daemon = start(home)
    try:
        second = subprocess.run(
            [sys.executable, "-m", "andon.tui", "--home", str(home.root), "serve"], cwd=ROOT,
            capture_output=True, text=True, timeout=90)
        assert second.returncode == 2
        assert f"pid {daemon.proc.pid}" in second.stderr
        assert "already running" in second.stderr

        info = running_daemon(home)
        assert info is not None and info.pid == daemon.proc.pid and info.mode == "daemon"

        home.config_path.write_text(CONFIG.replace("concurrency = 2", "concurrency = 3"))
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for("configuration reloaded")

        # The run comes through the inbox; a bad file beside it is rejected.
        (home.inbox / "bad.md").write_text("---\ntitle: [unclosed\n---\n")
        for path in (spec, spec.with_name("slow.script.yaml")):
            path.rename(home.inbox / path.name)
        until(lambda: (home.inbox / "rejected" / "bad.md.error").exists())

        def queued() -> bool:  # a fresh read each time: one session keeps one snapshot
            with db.read() as s:
                return s.exec(select(m.Run)).first() is not None

        until(queued)
        with db.read() as s:
            run_id = s.exec(select(m.Run)).one().id or 0
        until(lambda: any(k == "tool" for _, k, _ in events(db, run_id)))
        t0 = time.monotonic()
        daemon.proc.send_signal(signal.SIGTERM)
        code = daemon.proc.wait(120)  # the slow script would take minutes
        took = time.monotonic() - t0
    finally:
        daemon.stop()
    assert code == 0
    assert took < 120
    run = run_row(db, run_id)
    assert run.status in (m.INTERRUPTED, m.QUEUED), run.status
    assert "drain timeout" not in (run.reason or "")  # it stopped at a step boundary
    assert "not valid YAML" in (home.inbox / "rejected" / "bad.md.error").read_text()
    assert (home.inbox / "accepted" / "slow.md").exists()
    assert f"inbox: queued run {run_id} from slow.md" in daemon.output
    assert "SIGTERM received" in daemon.output and "daemon stopped" in daemon.output
    assert running_daemon(home) is None

    # Private: folders 0700, the log 0600.
    log = home.logs / "andon.log"
    assert "SIGTERM received" in log.read_text()
    assert log.stat().st_mode & 0o777 == 0o600
    assert home.logs.stat().st_mode & 0o777 == 0o700
    assert home.root.stat().st_mode & 0o777 == 0o700
    assert home.db_path.stat().st_mode & 0o777 == 0o600
