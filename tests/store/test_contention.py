"""Lock contention costs time, never a run: another process holding SQLite's write lock
past busy_timeout makes writers wait and try again."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from andon.engine.factory.home import Home
from andon.engine.pipeline.stages import Pipeline
from andon.store import models as m
from andon.store.db import Database
from tests.engine.pipeline.test_stages import configure, edit, queue, run_row, script, set_policy

HOLD = ("import sqlite3, sys; db = sqlite3.connect(sys.argv[1], isolation_level=None);"
        "db.execute('BEGIN IMMEDIATE'); print('locked', flush=True); sys.stdin.readline();"
        "db.execute('COMMIT')")


@contextmanager
def write_lock_held(path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the database's write lock until the block ends."""
    with subprocess.Popen([sys.executable, "-c", HOLD, str(path)], text=True,
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE) as holder:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        try:
            yield holder
        finally:
            assert holder.stdin is not None
            holder.stdin.close()
            holder.wait(30)


def wait_for(condition: object, what: str, deadline: float = 240.0) -> None:
    end = time.monotonic() + deadline
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.mark.timeout(900)
def test_a_run_waits_out_a_write_lock_held_past_busy_timeout(
        tmp_path: Path, home: Home, sample_repo: Path) -> None:
    configure(home, sample_repo)
    setup = home.open()
    set_policy(setup, level=4)
    run_id = queue(setup, tmp_path / "specs", "patient", script(
        [{"text": "Adding.", "tool_use": [edit("greet.txt", "hello\n")]}, {"text": "Done."}]))
    setup.close()
    db = Database(home.db_path, busy_timeout=0.2)  # so the test need not wait 30 s
    outcome: dict[str, object] = {}

    def execute() -> None:
        try:
            outcome["status"] = Pipeline(home, db, run_id).execute()
        except BaseException as exc:  # the assertion below names it
            outcome["error"] = exc

    try:
        with write_lock_held(home.db_path):
            worker = threading.Thread(target=execute)
            worker.start()
            # several busy_timeouts pass while the lock is held
            wait_for(lambda: db.lock_waits >= 3 or not worker.is_alive(),
                     "the run to wait for the write lock")
        worker.join(600)
        assert outcome.get("status") == m.MERGED, (outcome, run_row(db, run_id).reason)
        assert db.lock_waits >= 3
    finally:
        db.close()
