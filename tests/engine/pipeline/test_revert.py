"""A person reverts a merged run: a revert commit on the base, the run marked, the
breaker told (a reverted dark merge demotes its category)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from andon.engine.factory.home import Home
from andon.engine.pipeline.stages import Pipeline
from andon.policies.stored import load_policy
from andon.store import models as m
from andon.store.db import Database
from tests.conftest import git
from tests.engine.pipeline.test_stages import (
    CATEGORY,
    configure,
    edit,
    queue,
    run_row,
    script,
    set_policy,
)


def test_a_person_reverts_a_dark_merge_and_the_category_is_demoted(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    configure(home, sample_repo)
    set_policy(db, level=4, demote_after=3)
    run_id = queue(db, tmp_path / "specs", "notes",
                   script([{"text": "Adding notes.", "tool_use": [edit("NOTES.md", "notes\n")]},
                           {"text": "Done."}]))
    assert Pipeline(home, db, run_id).execute() == m.MERGED
    merged = git(sample_repo, "rev-parse", "main")
    assert (sample_repo / "NOTES.md").exists()

    out = subprocess.run([sys.executable, "-m", "andon.tui", "--home", str(home.root), "revert",
                          str(run_id), "--reason", "wrong file"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr

    assert git(sample_repo, "rev-parse", "main^") == merged
    assert not (sample_repo / "NOTES.md").exists()  # the checkout followed the revert
    assert f"Andon-Reverts: {run_id}" in git(sample_repo, "log", "-1", "--format=%B")
    run = run_row(db, run_id)
    assert run.status == m.REVERTED and "wrong file" in (run.reason or "")
    assert load_policy(db, CATEGORY).level == 3  # the breaker: a dark merge was reverted

    again = subprocess.run([sys.executable, "-m", "andon.tui", "--home", str(home.root), "revert",
                            str(run_id)], capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "only a merged run can be reverted" in again.stderr
