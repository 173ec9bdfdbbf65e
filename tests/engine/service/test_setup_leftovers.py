"""A setup command runs outside the sandbox, in its own session, so it outlives a kill -9
of its engine. Recovery ends it (and everything it spawned) before the run resumes:
the setup never runs twice at once."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from andon.engine.factory.home import Home
from andon.engine.run.queue import owner_id, submit
from andon.engine.service import recovery
from andon.policies.stored import set_level
from andon.store import models as m
from tests.conftest import make_repo, write_spec
from tests.engine.service.test_daemon import CONFIG, Daemon, run_row


def wait_for(condition: Callable[[], object], what: str, deadline: float = 240.0) -> None:
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.timeout(900)
def test_recovery_ends_the_setup_a_killed_engine_left_before_the_run_resumes(
        tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    pids = tmp_path / "setup.pids"
    # the shell, and a child it starts in the background (as an installer would)
    setup = f"echo $$ >> {pids}; sleep 600 & echo $! >> {pids}; wait"
    home = Home(tmp_path / "home")
    db = home.init()
    home.config_path.write_text(CONFIG + f'\n[repos.sample]\npath = "{repo}"\n'
                                f'setup = ["{setup}"]\n')
    set_level(db, "docs", 4, user="tester")
    spec = write_spec(tmp_path / "specs", "slow", "title: Slow setup\ncategory: docs\n"
                      "repo: sample\nmodel: scripted\n", script="[]")
    daemon = Daemon(home)
    daemon.wait_for("andon daemon serving", timeout=240)  # slow to start when loaded
    try:
        run_id = submit(db, spec).id or 0
        wait_for(lambda: pids.exists() and len(pids.read_text().split()) == 2,
                 "the setup command to start")
        os.kill(daemon.proc.pid, signal.SIGKILL)
        daemon.proc.wait(30)
    finally:
        daemon.stop()
    left = [int(p) for p in pids.read_text().split()]
    try:
        assert all(recovery.pid_alive(p) for p in left)  # kill -9 did not reach them
        assert run_row(db, run_id).status == m.RUNNING

        done = recovery.recover(db, own=owner_id())  # what the next engine does first
        assert [r.action for r in done] == ["resumed"]
        wait_for(lambda: not any(recovery.pid_alive(p) for p in left),
                 "the left-over setup processes to end")
        run = run_row(db, run_id)
        assert run.status == m.QUEUED
        assert "ended 2 process(es) left by its setup command" in (run.reason or "")
    finally:
        for pid in left:
            if recovery.pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        db.close()
