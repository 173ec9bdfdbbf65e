"""Runs that finish together merge together: the engine's runs share one repository."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from andon.engine.workspace import worktree as workspace
from andon.engine.workspace.merge import merge_run
from tests.conftest import git


def test_parallel_runs_prepare_and_merge_into_one_checkout(tmp_path: Path,
                                                           sample_repo: Path) -> None:
    worktrees = tmp_path / "worktrees"

    def one_run(run_id: int) -> str:
        ws = workspace.prepare(sample_repo, "main", worktrees, run_id)
        (ws.path / f"note_{run_id}.txt").write_text(f"run {run_id}\n")
        workspace.commit_all(ws, f"run {run_id}", {"Andon-Run": str(run_id)})
        result = merge_run(ws, run_id, f"Merge run {run_id}\n\nAndon-Run: {run_id}")
        workspace.remove(ws)
        return result.status

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(one_run, range(1, 9)))

    assert statuses == ["merged"] * 8
    tracked = git(sample_repo, "ls-files").splitlines()
    assert {f"note_{i}.txt" for i in range(1, 9)} <= set(tracked)
    assert git(sample_repo, "status", "--porcelain") == ""  # the checkout followed cleanly
    assert git(sample_repo, "worktree", "list").count("\n") == 0  # all removed
