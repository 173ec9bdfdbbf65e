"""Worktrees on real repositories: prepare and reuse, setup commands, commits with
trailers, disk usage, removal and retention, and no leftover git processes."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from andon.engine.errors import UserError
from andon.engine.factory.config import validate
from andon.engine.factory.home import Home
from andon.engine.pipeline.stages import Pipeline
from andon.engine.workspace import merge as merging
from andon.engine.workspace import worktree as workspace
from andon.store import models as m
from andon.store.clock import utcnow
from andon.store.db import Database
from tests.conftest import git
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

ONE_EDIT = script([{"text": "Adding.", "tool_use": [edit("greet.txt", "hello\n")]},
                   {"text": "Done."}])


def one_edit(name: str) -> str:
    return script([{"text": "Adding.", "tool_use": [edit(f"{name}.txt", "hello\n")]},
                   {"text": "Done."}])


def refs(repo: Path) -> dict[str, str]:
    out = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    return dict(line.split() for line in out.splitlines())


def objects(repo: Path) -> set[str]:
    out = git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)")
    return set(out.split())


def test_prepare_cuts_a_worktree_and_reuses_it_when_resuming(
        tmp_path: Path, sample_repo: Path) -> None:
    trees = tmp_path / "worktrees"
    start = git(sample_repo, "rev-parse", "main")
    ws = workspace.prepare(sample_repo, "main", trees, 7)
    assert (ws.path, ws.branch, ws.base_commit) == (trees / "run-7", "andon/7", start)
    assert git(ws.path, "rev-parse", "--abbrev-ref", "HEAD") == "andon/7"
    (ws.path / "work.txt").write_text("in progress\n")

    commit_to_base(sample_repo, "other.txt", "moved\n")
    again = workspace.prepare(sample_repo, "main", trees, 7, base_commit=ws.base_commit)
    assert again.path == ws.path and again.base_commit == start
    assert (again.path / "work.txt").read_text() == "in progress\n"  # not recreated
    assert workspace.prepare(sample_repo, "main", trees, 7).base_commit == start

    with pytest.raises(UserError, match="base branch 'nope' does not exist"):
        workspace.prepare(sample_repo, "nope", trees, 8)
    with pytest.raises(UserError, match="is not a git repository"):
        workspace.prepare(tmp_path, "main", trees, 9)


def test_a_removed_worktree_comes_back_from_the_runs_branch(
        tmp_path: Path, sample_repo: Path) -> None:
    trees = tmp_path / "worktrees"
    ws = workspace.prepare(sample_repo, "main", trees, 3)
    (ws.path / "kept.txt").write_text("work\n")
    commit = workspace.commit_all(ws, "work", {"Andon-Run": "3"})
    workspace.remove(ws, delete_branch=True)  # not merged: the branch stays
    assert not ws.path.exists() and git(sample_repo, "rev-parse", "andon/3") == commit

    back = workspace.prepare(sample_repo, "main", trees, 3, base_commit=ws.base_commit)
    assert back.head() == commit and (back.path / "kept.txt").exists()


def test_a_run_taken_over_by_another_engine_moves_its_worktree_from_the_dead_ones_home(
        tmp_path: Path, sample_repo: Path) -> None:
    """Engines of one factory on one host share the repository: the branch is checked
    out in the dead engine's home, and the new engine's worktree is cut from it."""
    dead = workspace.prepare(sample_repo, "main", tmp_path / "home-a" / "worktrees", 5)
    (dead.path / "turn1.txt").write_text("committed at a turn\n")
    commit = workspace.commit_all(dead, "turn 1", {"Andon-Run": "5"})
    (dead.path / "half.txt").write_text("a turn the checkpoint does not have\n")

    taken = workspace.prepare(sample_repo, "main", tmp_path / "home-b" / "worktrees", 5,
                              base_commit=dead.base_commit)
    assert taken.head() == commit and (taken.path / "turn1.txt").exists()
    assert not (taken.path / "half.txt").exists() and not dead.path.exists()


def test_commits_carry_trailers_and_leave_setup_artifacts_out(
        tmp_path: Path, sample_repo: Path) -> None:
    ws = workspace.prepare(sample_repo, "main", tmp_path / "wt", 1)
    out = workspace.run_setup(ws.path, "mkdir -p .env/lib && echo x > .env/lib/pkg && "
                                       "echo built > BUILD.txt")
    assert out.passed
    ws.excluded = workspace.untracked(ws)
    assert ws.excluded == [".env", "BUILD.txt"]
    assert workspace.commit_all(ws, "nothing yet") is None

    (ws.path / "feature.txt").write_text("new\n")
    commit = workspace.commit_all(ws, "andon: attempt 1 for run 1", {
        "Andon-Run": "1", "Andon-Spec": "Add a\nfeature", "Andon-Category": "feature",
        "Andon-Level": "3"})
    assert commit == ws.head()
    body = git(ws.path, "log", "-1", "--format=%B")
    assert body.splitlines()[-4:] == ["Andon-Run: 1", "Andon-Spec: Add a feature",
                                      "Andon-Category: feature", "Andon-Level: 3"]
    assert git(ws.path, "show", "--name-only", "--format=", "HEAD") == "feature.txt"
    assert "BUILD.txt" not in workspace.diff(ws)
    assert workspace.diff(ws, stat=True).split() == ["1", "0", "feature.txt"]


def test_setup_commands_run_after_prepare_and_a_failing_one_fails_the_run(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    configure(home, sample_repo, 'setup = ["mkdir -p build && echo made > build/out.txt", '
                                 '"test -d build"]')
    set_policy(db)
    run_id = queue(db, tmp_path / "specs", "setup", ONE_EDIT)
    assert Pipeline(home, db, run_id).execute() == m.MERGED
    steps = [(s.kind, s.name, s.status) for s in rows(db, m.Step, run_id)
             if s.kind == "setup"]
    assert steps == [("setup", "mkdir -p build && echo made > build/out.txt", "ok"),
                     ("setup", "test -d build", "ok")]
    assert git(sample_repo, "ls-tree", "--name-only", "main").split().count("build") == 0
    assert git(sample_repo, "show", "main:greet.txt") == "hello"

    configure(home, sample_repo, 'setup = ["echo broken >&2; exit 7"]')
    failing = queue(db, tmp_path / "specs", "setup2", ONE_EDIT)
    assert Pipeline(home, db, failing).execute() == m.FAILED
    assert run_row(db, failing).reason == "setup command `echo broken >&2; exit 7` failed " \
                                          "(exit 7)"
    (step,) = [s for s in rows(db, m.Step, failing) if s.kind == "setup"]
    assert "broken" in (step.output or "")


def test_repository_settings_are_checked(tmp_path: Path, sample_repo: Path) -> None:
    config = tmp_path / "andon.toml"

    def settings(entry: dict) -> workspace.RepoSettings:
        checked = validate({"repos": {"sample": entry}}, config).repos["sample"]
        return workspace.repo_settings("sample", checked, spec_base="main",
                                       spec_path=tmp_path / "s.md", config_path=config)

    full = settings({"path": str(sample_repo), "base": "trunk", "setup": "make",
                     "merge": "rebase", "push": "origin"})
    assert (full.base, full.setup, full.merge, full.push) == ("trunk", ["make"], "rebase",
                                                               "origin")
    with pytest.raises(UserError, match=r"\[repos.sample\] merge = \"squash\": must be"):
        settings({"path": str(sample_repo), "merge": "squash"})
    with pytest.raises(UserError, match=r"\[repos.sample\] setup\[0\] = 1: must be a string"):
        settings({"path": str(sample_repo), "setup": [1]})
    assert settings({"path": str(sample_repo)}).network is False
    assert settings({"path": str(sample_repo), "network": True}).network is True
    with pytest.raises(UserError, match=r"\[repos.sample\] network = \"yes\": must be true or "
                                         "false; write network = true"):
        settings({"path": str(sample_repo), "network": "yes"})
    with pytest.raises(UserError, match="neither a repository named in"):
        workspace.repo_settings("missing", None, spec_base="main",
                                spec_path=tmp_path / "s.md", config_path=config)


def test_disk_usage_counts_a_worktree_until_it_is_removed(
        tmp_path: Path, sample_repo: Path) -> None:
    ws = workspace.prepare(sample_repo, "main", tmp_path / "wt", 1)
    before = workspace.disk_usage(ws.path)
    assert before and before > 0
    (ws.path / "big.bin").write_bytes(os.urandom(256 * 1024))
    os.link(ws.path / "big.bin", ws.path / "same.bin")  # a hard link is counted once
    grown = workspace.disk_usage(ws.path)
    assert grown is not None and 256 * 1024 <= grown - before < 2 * 256 * 1024
    workspace.remove(ws)
    assert workspace.disk_usage(ws.path) is None and workspace.disk_usage(None) is None


def test_removing_a_worktree_never_touches_objects_or_other_branches(
        tmp_path: Path, sample_repo: Path) -> None:
    git(sample_repo, "branch", "feature-x")
    ws = workspace.prepare(sample_repo, "main", tmp_path / "wt", 5)
    (ws.path / "greet.txt").write_text("hello\n")
    workspace.commit_all(ws, "work")
    merged = merging.merge_run(ws, 5, "Merge andon run 5\n\nAndon-Run: 5")
    assert merged.status == "merged"
    refs_before, objects_before = refs(sample_repo), objects(sample_repo)

    workspace.remove(ws, delete_branch=True)
    assert not ws.path.exists()
    refs_after = refs(sample_repo)
    assert "refs/heads/andon/5" not in refs_after  # merged, so its branch may go
    assert {k: v for k, v in refs_before.items() if k != "refs/heads/andon/5"} == refs_after
    assert objects_before <= objects(sample_repo)
    assert git(sample_repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_retention_settings() -> None:
    assert workspace.retention(None) == workspace.Retention("failed")
    assert workspace.retention("never").keep_now(m.FAILED) is False
    failed = workspace.retention("failed")
    assert failed.keep_now(m.FAILED) and failed.keep_now(m.STUCK)
    assert not failed.keep_now(m.MERGED) and not failed.keep_now(m.REJECTED)
    assert workspace.retention("always").keep_now(m.MERGED)
    hours = workspace.retention(24)
    assert hours == workspace.retention("24h") and hours.keep_now(m.MERGED)
    now = utcnow()
    assert not hours.expired(now - timedelta(hours=23), now)
    assert hours.expired(now - timedelta(hours=25), now)
    for bad in ("sometimes", -1, True):
        with pytest.raises(UserError, match="keep_worktrees"):
            workspace.retention(bad)


def test_worktrees_are_removed_after_the_run_as_retention_says(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    set_policy(db, max_attempts=1, demote_after=10)  # failures must not demote the line
    specs = tmp_path / "specs"

    def run(keep: str, name: str, check: str = "true") -> m.Run:
        configure(home, sample_repo, engine_extra=f"keep_worktrees = {keep}")
        run_id = queue(db, specs, name, one_edit(name), extra=f'checks: ["{check}"]')
        Pipeline(home, db, run_id).execute()
        return run_row(db, run_id)

    merged = run('"failed"', "a")
    assert merged.status == m.MERGED and not Path(merged.worktree or "").exists()
    assert "refs/heads/andon/" + str(merged.id) not in refs(sample_repo)
    failed = run('"failed"', "b", check="false")
    assert failed.status == m.FAILED and Path(failed.worktree or "").exists()

    never = run('"never"', "c", check="false")
    assert never.status == m.FAILED and not Path(never.worktree or "").exists()
    assert f"refs/heads/andon/{never.id}" in refs(sample_repo)  # unmerged work stays
    always = run('"always"', "d")
    assert always.status == m.MERGED and Path(always.worktree or "").exists()

    kept = run("1", "e")
    assert kept.status == m.MERGED and Path(kept.worktree or "").exists()
    keep = workspace.retention(1)
    assert workspace.sweep(db, keep) == []  # not an hour yet
    later = utcnow() + timedelta(hours=2)
    removed = workspace.sweep(db, keep, now=later)
    assert set(removed) == {failed.id, always.id, kept.id}
    assert not any(Path(r.worktree or "").exists() for r in (failed, always, kept))
    assert run_row(db, kept.id or 0).data["worktree_removed_at"]


def _cat_file_children() -> list[str]:
    found = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me and "cat-file" in cmdline:
            found.append(cmdline)
    return found


def test_no_git_cat_file_process_is_left_behind_after_20_runs(
        tmp_path: Path, sample_repo: Path) -> None:
    trees = tmp_path / "worktrees"
    for run_id in range(1, 21):
        ws = workspace.prepare(sample_repo, "main", trees, run_id)
        (ws.path / f"f{run_id}.txt").write_text(f"{run_id}\n")
        workspace.commit_all(ws, f"run {run_id}", {"Andon-Run": str(run_id)})
        assert merging.merge_run(ws, run_id, f"Merge {run_id}\n\nAndon-Run: {run_id}"
                                 ).status == "merged"
        workspace.remove(ws, delete_branch=True)
    assert len(git(sample_repo, "rev-list", "--merges", "main").split()) == 20
    assert _cat_file_children() == []
