"""The post-merge watch on real repositories: checks on the merged base in a throwaway
worktree, the revert when they fail, and a revert that cannot be made automatically."""

from __future__ import annotations

from pathlib import Path

from andon.engine.factory.home import Home
from andon.engine.pipeline import postmerge
from andon.engine.run.log import RunLog
from andon.engine.workspace import merge as merging
from andon.engine.workspace import worktree as workspace
from andon.engine.workspace.sandbox import SandboxConfig
from andon.store import models as m
from andon.store.db import Database
from tests.conftest import git, requires
from tests.engine.pipeline.test_stages import (
    commit_to_base,
    configure,
    queue,
    rows,
    script,
    set_policy,
)


def merged_run(tmp_path: Path, home: Home, db: Database, repo: Path,
               text: str) -> tuple[int, merging.MergeResult]:
    configure(home, repo)
    set_policy(db)
    run_id = queue(db, tmp_path / "specs", "watched", script([{"text": "x"}]))
    ws = workspace.prepare(repo, "main", home.worktrees, run_id)
    (ws.path / "README.md").write_text(text)
    workspace.commit_all(ws, "change", {"Andon-Run": str(run_id)})
    result = merging.merge_run(ws, run_id, f"Merge andon run {run_id}\n\nAndon-Run: {run_id}")
    workspace.remove(ws)
    return run_id, result


def watch(home: Home, db: Database, repo: Path, run_id: int, result: merging.MergeResult,
          checks: list[str]) -> postmerge.WatchResult:
    assert result.commit and result.previous
    return postmerge.watch(
        RunLog(db, run_id), repo=repo, base="main", run_id=run_id, merged=result.commit,
        previous=result.previous, worktrees=home.worktrees, checks=checks,
        setup=["touch .ready"], sandbox=lambda root: SandboxConfig(root, allow_unsandboxed=True),
        timeout=30, setup_timeout=30,
        revert_message=lambda failures: f"Revert run {run_id}\n\n" + "\n".join(failures)
        + f"\n\nAndon-Reverts: {run_id}")


def test_passing_checks_leave_the_merge_and_no_trace_of_the_watch(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    run_id, result = merged_run(tmp_path, home, db, sample_repo, "# sample\n\nBetter.\n")
    outcome = watch(home, db, sample_repo, run_id, result, ["test -f .ready", "grep -q Better"
                                                            " README.md"])
    assert outcome.passed and outcome.revert is None
    assert git(sample_repo, "rev-parse", "main") == result.commit
    assert not (home.worktrees / f"post-merge-{run_id}").exists()
    assert git(sample_repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    kinds = [(s.kind, s.name, s.status) for s in rows(db, m.Step, run_id)]
    assert kinds == [("setup", "touch .ready", "ok"), ("check", "test -f .ready", "ok"),
                     ("check", "grep -q Better README.md", "ok")]


def test_a_revert_that_conflicts_with_later_work_is_left_to_a_person(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    run_id, result = merged_run(tmp_path, home, db, sample_repo, "# sample\n\nBroken.\n")
    later = commit_to_base(sample_repo, "README.md", "# sample\n\nBroken, then edited.\n")
    outcome = watch(home, db, sample_repo, run_id, result, ["! grep -q Broken README.md"])
    assert not outcome.passed and outcome.revert_failed and outcome.revert is None
    assert outcome.failures == ["`! grep -q Broken README.md` (exit 1)"]
    assert git(sample_repo, "rev-parse", "main") == later  # the base is left as it was
    (revert,) = [s for s in rows(db, m.Step, run_id) if s.kind == "revert"]
    assert revert.status == "failed" and "a person must fix the base" in (revert.output or "")


@requires("bwrap")
def test_setup_on_the_merged_base_runs_in_the_sandbox(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path,
        outside_tmp: Path) -> None:
    """Setup builds code the agent wrote: it runs behind the walls (outside /tmp here,
    so the sandbox's own /tmp is not what stops the write)."""
    run_id, result = merged_run(tmp_path, home, db, sample_repo, "# sample\n\nBetter.\n")
    secret = outside_tmp / "scenarios"
    secret.mkdir()
    (secret / "holdout.md").write_text("HOLDOUT-pm\n")
    assert result.commit and result.previous
    outcome = postmerge.watch(
        RunLog(db, run_id), repo=sample_repo, base="main", run_id=run_id,
        merged=result.commit, previous=result.previous, worktrees=home.worktrees,
        checks=["test -f .ready"],
        setup=[f"echo pwned > {outside_tmp}/pwned; cat {secret}/holdout.md; touch .ready"],
        sandbox=lambda root: SandboxConfig(root, hide=[secret]), timeout=30,
        setup_timeout=30, revert_message=lambda failures: "Revert\n\n" + "\n".join(failures))
    assert outcome.passed  # the worktree itself is writable
    assert not (outside_tmp / "pwned").exists()
    (setup,) = [s for s in rows(db, m.Step, run_id) if s.kind == "setup"]
    assert "HOLDOUT" not in (setup.output or "")
