"""A run's level: it takes the category's level when it starts, and a level-4 run does not
start without the sandbox unless its policy allows an unsandboxed shell."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from sqlmodel import select

from andon.engine.factory.home import Home
from andon.engine.gates.gate import list_gates
from andon.policies.stored import load_policy, save_policies, set_level
from andon.store import models as m
from andon.store.db import Database
from andon.tui.data import RunRow
from andon.tui.widgets.runs_table import cells
from tests.conftest import git, write_spec
from tests.engine.pipeline.test_gates_pipeline import README_SCRIPT, Line, approve_all, queue_run


def test_a_run_takes_the_categorys_level_when_it_starts(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    script = "plan: |\n  1. Document shout() in the README\n" + README_SCRIPT
    run_id = queue_run(db, tmp_path / "specs", "readme", "feature", sample_repo, script)
    with db.read() as s:
        queued = s.get(m.Run, run_id)
        assert queued is not None and queued.level == 2
    set_level(db, "feature", 3, user="alice", reason="trusted since it was queued")
    line = Line(home, db, run_id)
    gates = line.answer(approve_all)
    assert line.finish() == m.MERGED, line.run().reason
    assert line.run().level == 3
    # Level 3 (feature keeps plan_gate = true): the plan and the review, no edit or command.
    assert [g.kind for g in gates] == ["plan", "review"]


def _path_without_bwrap(tmp_path: Path) -> str:
    """A PATH with git and bash but no bubblewrap."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for name in ("git", "bash", "sh", "tail", "env", "cat"):
        found = shutil.which(name)
        if found:
            (tools / name).symlink_to(found)
    return str(tools)


def _run_once(home: Home, path: str, *codes: int) -> list[dict[str, object]]:
    """`andon run-once --json`; its exit status must be one of `codes` (0: ended well,
    1: a run failed, 3: a run waits for a person)."""
    done = subprocess.run([sys.executable, "-m", "andon.tui", "--home", str(home.root), "run-once",
                           "--json"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PATH": path})
    assert done.returncode in (codes or (0,)), done.stdout + done.stderr
    return json.loads(done.stdout)


def test_a_dark_run_refuses_to_start_without_the_sandbox(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    assert load_policy(db, "docs").level == 4 and not load_policy(db, "docs").allow_unsandboxed
    base = git(sample_repo, "rev-parse", "main")
    spec = write_spec(tmp_path / "specs", "readme", f"""
        title: Document shout()
        category: docs
        repo: {sample_repo}
        model: scripted
        """, script=README_SCRIPT)
    from andon.engine.run.queue import submit

    run = submit(db, spec)
    done = _run_once(home, _path_without_bwrap(tmp_path), 1)
    assert done[0]["id"] == run.id and done[0]["status"] == "failed"
    reason = str(done[0]["reason"])
    assert "commands need the sandbox" in reason and "bwrap" in reason
    assert "allow_unsandboxed = true in the 'docs' policy" in reason
    assert git(sample_repo, "rev-parse", "main") == base
    assert list_gates(db, pending_only=False) == []


def test_a_dark_run_may_go_unsandboxed_when_its_policy_allows_it(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    policy = load_policy(db, "docs").model_copy(update={"allow_unsandboxed": True})
    save_policies(db, [policy], user="alice", reason="this host has no user namespaces")
    spec = write_spec(tmp_path / "specs", "readme", f"""
        title: Document shout()
        category: docs
        repo: {sample_repo}
        model: scripted
        checks: ["{sys.executable} -c 'print(1)'"]
        """, script=README_SCRIPT)
    from andon.engine.run.queue import submit

    submit(db, spec)
    done = _run_once(home, _path_without_bwrap(tmp_path))
    assert done[0]["status"] == "merged", done[0]["reason"]
    assert "`shout('hi')`" in git(sample_repo, "show", "main:README.md")


def test_below_level_4_there_are_no_commands_without_the_sandbox_unless_allowed(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path,
        outside_tmp: Path) -> None:
    """A level-3 agent without bubblewrap printed a holdout scenario and wrote outside
    its worktree: no run starts without the sandbox unless its policy allows it."""
    assert load_policy(db, "bugfix").level == 3
    holdout = home.scenarios / "shout"
    holdout.mkdir(parents=True)
    (holdout / "secret.md").write_text("HOLDOUT-b2: shout('') returns '!'\n")
    script = f"""\
turns:
  - text: Looking around.
    tool_use:
      - name: bash
        input: {{command: "cat {holdout}/secret.md; echo out > {outside_tmp}/pwned"}}
  - text: Done.
"""
    spec = write_spec(tmp_path / "specs", "look", f"""
        title: Look around
        category: bugfix
        repo: {sample_repo}
        model: scripted
        checks: ["{sys.executable} -c 'print(1)'"]
        """, script=script)
    from andon.engine.run.queue import submit

    refused = submit(db, spec)
    no_bwrap = _path_without_bwrap(tmp_path)
    done = _run_once(home, no_bwrap, 1)
    assert done[0]["id"] == refused.id and done[0]["status"] == "failed"
    assert "allow_unsandboxed = true in the 'bugfix' policy" in str(done[0]["reason"])
    assert not (outside_tmp / "pwned").exists()
    with db.read() as s:
        assert s.exec(select(m.Step).where(m.Step.run_id == refused.id,
                                           m.Step.kind == "tool")).all() == []

    # Allowed: it runs, and the board says so on the run's row.
    policy = load_policy(db, "bugfix").model_copy(update={"allow_unsandboxed": True})
    save_policies(db, [policy], user="alice", reason="no user namespaces here")
    allowed = submit(db, spec)
    _run_once(home, no_bwrap, 1)  # it ran its commands, unsandboxed, and changed nothing
    with db.read() as s:
        run = s.get(m.Run, allowed.id)
        assert run is not None and run.data.get("unsandboxed") is True
    row = RunRow.of(run)
    assert row.unsandboxed
    title = cells(row, run.created_at)[4]
    assert title.plain.startswith("unsandboxed ")
