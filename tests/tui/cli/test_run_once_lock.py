"""`andon run-once` is an engine too: it takes the home's engine lock, so it never
executes runs beside a daemon (or a TUI's engine) of the same home."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from andon.engine.factory.home import Home
from andon.engine.run.queue import submit
from andon.store import models as m
from andon.store.db import Database
from tests.conftest import write_spec

HOLD = ("import sys; from pathlib import Path; from andon.engine.service.lock import EngineLock;"
        "lock = EngineLock(Path(sys.argv[1]), 'daemon'); lock.acquire();"
        "print('held', flush=True); sys.stdin.readline()")


def test_run_once_refuses_while_a_daemon_holds_the_home_naming_its_pid(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    home.config_path.write_text(f'[engine]\nprovider = "scripted"\n\n'
                                f'[repos.sample]\npath = "{sample_repo}"\n')
    spec = write_spec(tmp_path / "specs", "idle", "title: idle\ncategory: docs\n"
                      "repo: sample\nmodel: scripted\n", script="[]")
    run_id = submit(db, spec).id
    with subprocess.Popen([sys.executable, "-c", HOLD, str(home.root)], text=True,
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE) as holder:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        try:
            done = subprocess.run([sys.executable, "-m", "andon.tui", "--home", str(home.root),
                                   "run-once"], capture_output=True, text=True, timeout=120)
        finally:
            assert holder.stdin is not None
            holder.stdin.close()
            holder.wait(30)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"pid {holder.pid}" in done.stderr and "already running" in done.stderr
    with db.read() as s:
        run = s.get(m.Run, run_id)
        assert run is not None and run.status == m.QUEUED and run.started_at is None
