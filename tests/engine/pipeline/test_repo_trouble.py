"""Git trouble on the base's checkout never fails finished work: a stale index.lock or
an untracked file the merge would overwrite holds the run at the merge, naming the file
and the fix, tells a person, and the run merges (once) when the repository is fixed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from andon.engine.factory.home import Home
from andon.engine.pipeline.stages import Pipeline
from andon.store import models as m
from andon.store.db import Database
from tests.conftest import git
from tests.engine.pipeline.test_stages import (
    configure,
    edit,
    queue,
    rows,
    run_row,
    script,
    set_policy,
)


def wait_for(condition: Callable[[], object], what: str, deadline: float = 240.0) -> None:
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("trouble", ["stale index.lock", "untracked file in the way"])
def test_trouble_in_the_base_checkout_holds_the_run_until_it_is_fixed(
        trouble: str, tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    configure(home, sample_repo, engine_extra="repo_retry = 0.2")
    set_policy(db, level=4)
    run_id = queue(db, tmp_path / "specs", "greet", script(
        [{"text": "Adding.", "tool_use": [edit("greet.txt", "hello\n")]}, {"text": "Done."}]))
    if trouble == "stale index.lock":
        in_the_way = sample_repo / ".git" / "index.lock"
        in_the_way.write_text("")  # what a crashed git leaves behind
        fix = f"if no git command is running in {sample_repo}, delete {in_the_way}"
    else:
        in_the_way = sample_repo / "greet.txt"
        in_the_way.write_text("a person's scratch file\n")
        fix = f"move or delete them from {sample_repo}"
    before = git(sample_repo, "rev-parse", "main")
    outcome: dict[str, str] = {}
    worker = threading.Thread(target=lambda: outcome.setdefault(
        "status", Pipeline(home, db, run_id).execute()))
    worker.start()
    try:
        wait_for(lambda: run_row(db, run_id).status == m.HELD or not worker.is_alive(),
                 "the run to be held at the merge")
        held = run_row(db, run_id)
        assert held.status == m.HELD, (held.status, held.reason)
        assert str(in_the_way) in (held.reason or "") and fix in (held.reason or "")
        told = [e for e in rows(db, m.Event, run_id) if e.kind == "repo.blocked"]
        assert len(told) == 1 and fix in told[0].message
        assert git(sample_repo, "rev-parse", "main") == before  # nothing moved meanwhile
    finally:
        in_the_way.unlink()  # a person fixes the repository
        worker.join(600)
    assert outcome.get("status") == m.MERGED, run_row(db, run_id).reason
    merges = git(sample_repo, "log", "--format=%H", "--merges", "--grep",
                 f"Andon-Run: {run_id}", "main").split()
    assert len(merges) == 1
    assert (sample_repo / "greet.txt").read_text() == "hello\n"
    assert git(sample_repo, "status", "--porcelain") == ""  # the checkout followed
