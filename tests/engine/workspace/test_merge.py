"""Merging into the base on real repositories: merge and rebase modes, conflicts,
idempotency by trailer, compare-and-swap, reverts, and pushing to a bare remote."""

from __future__ import annotations

from pathlib import Path

import pytest

from andon.engine.factory.home import Home
from andon.engine.pipeline.stages import Pipeline
from andon.engine.workspace import merge as merging
from andon.engine.workspace import worktree as workspace
from andon.engine.workspace.git import GitError, move_branch
from andon.store import models as m
from andon.store.db import Database
from tests.conftest import git, make_repo
from tests.engine.pipeline.test_stages import (
    commit_to_base,
    configure,
    edit,
    queue,
    rows,
    run_row,
    script,
    set_policy,
)


def worked(repo: Path, trees: Path, run_id: int, name: str = "greet.txt",
           text: str = "hello\n") -> workspace.Workspace:
    ws = workspace.prepare(repo, "main", trees, run_id)
    (ws.path / name).write_text(text)
    workspace.commit_all(ws, f"andon: attempt 1 for run {run_id}", {"Andon-Run": str(run_id)})
    return ws


def message(run_id: int) -> str:
    return f"Merge andon run {run_id}: greet\n\nAndon-Run: {run_id}"


def test_merge_mode_makes_one_merge_commit_naming_the_run(
        tmp_path: Path, sample_repo: Path) -> None:
    ws = worked(sample_repo, tmp_path / "wt", 1)
    moved = commit_to_base(sample_repo, "other.txt", "x\n")
    result = merging.merge_run(ws, 1, message(1))
    assert result.status == "merged" and result.previous == moved
    assert git(sample_repo, "rev-parse", "main") == result.commit
    assert git(sample_repo, "rev-parse", "main^1") == moved
    assert git(sample_repo, "log", "-1", "--format=%B", "main").endswith("Andon-Run: 1")
    assert (sample_repo / "greet.txt").read_text() == "hello\n"  # checkout followed


def test_rebase_mode_keeps_history_linear(tmp_path: Path, sample_repo: Path) -> None:
    ws = worked(sample_repo, tmp_path / "wt", 2)
    moved = commit_to_base(sample_repo, "other.txt", "x\n")
    result = merging.merge_run(ws, 2, message(2), mode="rebase")
    assert result.status == "merged"
    assert git(sample_repo, "rev-parse", "main~1") == moved
    assert git(sample_repo, "rev-list", "--merges", "main") == ""
    assert "Andon-Run: 2" in git(sample_repo, "log", "-1", "--format=%B", "main")
    again = merging.merge_run(ws, 2, message(2), mode="rebase")
    assert (again.status, again.commit, again.previous) == ("already", result.commit, moved)


@pytest.mark.parametrize("mode", ["merge", "rebase"])
def test_a_conflict_names_the_files_and_leaves_everything_clean(
        tmp_path: Path, sample_repo: Path, mode: str) -> None:
    ws = worked(sample_repo, tmp_path / "wt", 3, "README.md", "# mine\n")
    moved = commit_to_base(sample_repo, "README.md", "# theirs\n")
    head = ws.head()
    result = merging.merge_run(ws, 3, message(3), mode=mode)
    assert result.status == "conflict" and result.files == ["README.md"]
    assert "conflicts with the run in README.md" in result.detail
    assert git(sample_repo, "rev-parse", "main") == moved
    assert ws.head() == head and git(ws.path, "status", "--porcelain") == ""

    # Sent back to the agent: the base is merged in with markers to resolve.
    assert merging.conflict_markers(ws) == ["README.md"]
    assert "<<<<<<<" in (ws.path / "README.md").read_text()
    (ws.path / "README.md").write_text("# mine and theirs\n")
    workspace.commit_all(ws, "resolved")  # concludes the merge
    assert git(ws.path, "rev-list", "--parents", "-1", "HEAD").count(" ") == 2
    assert merging.merge_run(ws, 3, message(3), mode=mode).status == "merged"
    assert git(sample_repo, "show", "main:README.md") == "# mine and theirs"


def test_merging_is_idempotent_even_from_a_fresh_workspace(
        tmp_path: Path, sample_repo: Path) -> None:
    ws = worked(sample_repo, tmp_path / "wt", 4)
    first = merging.merge_run(ws, 4, message(4))
    commit_to_base(sample_repo, "later.txt", "later\n")
    tip = git(sample_repo, "rev-parse", "main")
    # After a crash nothing is known but the run's id and where it started.
    again = workspace.prepare(sample_repo, "main", tmp_path / "wt", 4,
                              base_commit=ws.base_commit)
    second = merging.merge_run(again, 4, message(4))
    assert (second.status, second.commit) == ("already", first.commit)
    assert second.previous == first.previous  # what a revert would go back to
    assert git(sample_repo, "rev-parse", "main") == tip
    # "Andon-Run: 4" is not "Andon-Run: 40", and a merge from before the run started
    # (a factory set up again, counting from 1 again) is not this run's.
    assert merging.already_merged(sample_repo, "main", 40, ws.base_commit) is None
    assert merging.already_merged(sample_repo, "main", 4, tip) is None


def test_a_run_that_changed_nothing_is_not_merged(tmp_path: Path, sample_repo: Path) -> None:
    ws = workspace.prepare(sample_repo, "main", tmp_path / "wt", 5)
    before = git(sample_repo, "rev-parse", "main")
    assert merging.merge_run(ws, 5, message(5)).status == "empty"
    assert git(sample_repo, "rev-parse", "main") == before


def test_the_base_moves_only_from_where_the_engine_saw_it(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "other", {"a.txt": "a\n"})
    first = git(repo, "rev-parse", "main")
    git(repo, "checkout", "-q", "-b", "side")  # main is not checked out anywhere now
    (repo / "b.txt").write_text("b\n")
    git(repo, "add", "b.txt")
    git(repo, "commit", "-q", "-m", "b")
    second = git(repo, "rev-parse", "side")
    with pytest.raises(GitError):  # main is not where the caller thinks it is
        move_branch(repo, "main", second, second)
    assert git(repo, "rev-parse", "main") == first
    move_branch(repo, "main", second, first)
    assert git(repo, "rev-parse", "main") == second


def test_revert_undoes_the_run_on_the_base_even_after_it_moved(
        tmp_path: Path, sample_repo: Path) -> None:
    ws = worked(sample_repo, tmp_path / "wt", 6, "a.txt", "a\n")
    merged = merging.merge_run(ws, 6, message(6))
    assert merged.commit and merged.previous
    commit_to_base(sample_repo, "b.txt", "b\n")
    with workspace.temporary_worktree(sample_repo, merged.commit, tmp_path / "wt",
                                      "scratch") as scratch:
        revert = merging.revert_run(sample_repo, "main", 6, merged.commit, merged.previous,
                                    scratch, "Revert andon run 6\n\nAndon-Reverts: 6")
        assert revert is not None
        again = merging.revert_run(sample_repo, "main", 6, merged.commit, merged.previous,
                                   scratch, "Revert andon run 6\n\nAndon-Reverts: 6")
    assert again == revert == git(sample_repo, "rev-parse", "main")
    assert git(sample_repo, "ls-tree", "--name-only", "main").split().count("a.txt") == 0
    assert (sample_repo / "b.txt").exists() and not (sample_repo / "a.txt").exists()
    assert not (tmp_path / "wt" / "scratch").exists()


def test_a_merged_run_is_pushed_to_the_configured_remote(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    git(sample_repo, "remote", "add", "origin", str(remote))
    git(sample_repo, "push", "-q", "origin", "main")
    configure(home, sample_repo, 'push = "origin"')
    set_policy(db)
    run_id = queue(db, tmp_path / "specs", "pushed", script(
        [{"text": "Adding.", "tool_use": [edit("greet.txt", "hello\n")]}, {"text": "Done."}]))

    assert Pipeline(home, db, run_id).execute() == m.MERGED
    assert git(remote, "rev-parse", "main") == git(sample_repo, "rev-parse", "main")
    assert git(remote, "show", "main:greet.txt") == "hello"
    (push,) = [s for s in rows(db, m.Step, run_id) if s.kind == "push"]
    assert (push.name, push.status) == ("origin", "ok")


def test_a_failed_push_leaves_the_merge_standing_and_says_so(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    git(sample_repo, "remote", "add", "origin", str(tmp_path / "no-such-remote.git"))
    configure(home, sample_repo, 'push = "origin"')
    set_policy(db)
    run_id = queue(db, tmp_path / "specs", "nopush", script(
        [{"text": "Adding.", "tool_use": [edit("greet.txt", "hello\n")]}, {"text": "Done."}]))
    assert Pipeline(home, db, run_id).execute() == m.MERGED
    assert run_row(db, run_id).reason == "merged into main (push to origin failed)"
    assert git(sample_repo, "show", "main:greet.txt") == "hello"
