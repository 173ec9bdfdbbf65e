"""The board's diff of a live worktree (the review gate's, engine.workspace.changes)
never reads an agent's symlink through: one out of the worktree (made after the last
sweep, say by a background process) shows as a link to its target."""

from __future__ import annotations

from pathlib import Path

from andon.store import models as m
from andon.tui.data import load_diff
from tests.conftest import git, make_repo


def test_untracked_files_are_read_confined(tmp_path: Path, outside_tmp: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "andon/1", str(wt), "main")
    secret = outside_tmp / "id_ed25519"
    secret.write_text("HOST-SECRET-77\n")
    (wt / "leak.txt").symlink_to(secret)
    (wt / "new.txt").write_text("hello\n")
    run = m.Run(id=1, spec_id=1, category="docs", status=m.RUNNING, worktree=str(wt),
                repo_path=str(repo), base_commit=git(repo, "rev-parse", "main"))
    shown = {f.path: f for f in load_diff(run).files}
    assert "+hello" in shown["new.txt"].text
    assert "HOST-SECRET" not in "".join(f.text for f in shown.values())
    assert shown["leak.txt"].status == "link"  # shown as where it points, not read through
    assert f"+{secret}" in shown["leak.txt"].text
