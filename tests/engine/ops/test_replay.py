"""`andon replay RUN`: a recorded run replayed offline makes the same tree; a tampered
recording does not."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from andon.engine.agent.tools.editor import EditorTool
from andon.engine.agent.tools.shell import BashTool
from andon.engine.errors import UserError
from andon.engine.factory.home import Home
from andon.engine.gates.gatekeeper import Decision, Gatekeeper
from andon.engine.llm.scripted import ScriptedModel
from andon.engine.ops.replay import replay
from andon.engine.workspace.sandbox import SandboxConfig
from andon.store import models as m
from andon.store.db import Database
from tests.conftest import git, make_repo, requires
from tests.support.agentkit import START, Kit, make_run


def andon(home: Home, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "andon.tui", "--home", str(home.root), *args],
                          capture_output=True, text=True, timeout=60)


def script(worktree: Path) -> dict[str, Any]:
    return {"attempts": [
        [
            {"text": "Reading.", "tool_use": [
                # an absolute path into the run's worktree: the replay rewrites it
                {"name": "str_replace_based_edit_tool",
                 "input": {"command": "view", "path": f"{worktree}/sample/text.py"}}]},
            {"text": "Editing.", "tool_use": [
                {"name": "str_replace_based_edit_tool", "input": {
                    "command": "str_replace", "path": f"{worktree}/sample/text.py",
                    "old_str": 'return text.upper() + "!"',
                    "new_str": 'return text.upper() + "!!"'}},
                {"name": "bash", "input": {"command": "seq 3 > counted.txt"}},
                {"name": "bash", "input": {"command": "rm README.md"}}]},
            {"text": "First attempt done."},
        ],
        [
            {"text": "Fixing after the check.", "tool_use": [
                {"name": "str_replace_based_edit_tool",
                 "input": {"command": "create", "path": "NOTES.md", "file_text": "fixed\n"}}]},
            {"text": "Second attempt done."},
        ],
    ]}


class RefuseRm(Gatekeeper):
    def action(self, tool_name: str, tool_input: dict[str, Any], preview: str) -> Decision:
        if preview.startswith("rm "):
            return Decision("rejected", "keep the README", by="bob")
        return Decision()


def recorded_run(db: Database, tmp_path: Path) -> tuple[int, Path]:
    """A run made by the agent loop in a worktree of its own, over two attempts, with
    one call refused at a gate, committed as the pipeline would."""
    repo = make_repo(tmp_path / "repo")
    worktree = tmp_path / "worktrees" / "run-1"
    git(repo, "worktree", "add", "-q", "-b", "andon/1", str(worktree), "main")
    kit = Kit(db, worktree, make_run(db, repo))
    base = git(repo, "rev-parse", "main")
    kit.log.update(repo_path=str(repo), worktree=str(worktree), base_commit=base)
    model = ScriptedModel(script(worktree))
    try:
        agent = kit.agent(model.client(), gatekeeper=RefuseRm())
        first = agent.run(START, attempt=1)
        assert first.status == "done"
        follow = [*first.messages, {"role": "user", "content": "A check failed; fix it."}]
        assert agent.run(follow, attempt=2).status == "done"
    finally:
        kit.close()
    assert (worktree / "README.md").exists()  # the refused rm did not run
    git(worktree, "add", "--all")
    git(worktree, "commit", "-q", "-m", "andon: implement")
    kit.log.update(head_commit=git(worktree, "rev-parse", "HEAD"))
    git(repo, "worktree", "remove", "--force", str(worktree))  # as after a merge
    return kit.run_id, repo


@requires("bwrap")  # the replay's commands run behind the run's walls
def test_a_recorded_run_replays_offline_to_the_same_tree(
        home: Home, db: Database, tmp_path: Path) -> None:
    run_id, repo = recorded_run(db, tmp_path)
    done = andon(home, "replay", str(run_id), "--json")
    assert done.returncode == 0, done.stderr + done.stdout
    report = json.loads(done.stdout)
    assert report["matched"] is True
    assert report["attempts"] == 2 and report["served"] == report["replies"] == 5
    assert report["status"] == "done" and report["reason"] == "Second attempt done."
    head = git(repo, "log", "-1", "--format=%H", "andon/1")
    assert report["original_tree"] == git(repo, "rev-parse", f"{head}^{{tree}}")
    # the replay left nothing behind: no extra worktree, the factory's records untouched
    assert git(repo, "worktree", "list").count("\n") == 0
    with db.read() as s:
        assert len(s.exec(select(m.Run)).all()) == 1


@requires("bwrap")
def test_a_tampered_recording_does_not_match(home: Home, db: Database,
                                             tmp_path: Path) -> None:
    run_id, _ = recorded_run(db, tmp_path)
    with db.write() as s:
        rows = s.exec(select(m.Exchange).where(m.Exchange.run_id == run_id)
                      .order_by(col(m.Exchange.id))).all()
        tampered = rows[3]  # attempt 2's first reply: create NOTES.md
        response = json.loads(json.dumps(tampered.response))
        response["message"]["content"][1]["input"]["file_text"] = "tampered\n"
        tampered.response = response
        s.add(tampered)
    report = replay(home, db, run_id)
    assert report.matched is False
    assert report.replay_tree != report.original_tree
    assert "NOTES.md" in report.diff and report.served == 5
    text = andon(home, "replay", str(run_id))
    assert text.returncode == 1, text.stderr
    assert "does NOT match" in text.stdout and "NOTES.md" in text.stdout


def test_a_run_without_a_recording_says_so(home: Home, db: Database, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    run_id = make_run(db, repo)
    with pytest.raises(UserError, match=f"run {run_id} cannot be replayed"):
        replay(home, db, run_id)
    with pytest.raises(UserError, match="no run 999"):
        replay(home, db, 999)


@requires("bwrap")
def test_a_replay_runs_behind_the_same_walls_as_the_run(outside_tmp: Path) -> None:
    """The replay re-runs whatever the agent's commands did: its sandbox hides the
    factory's scenarios and database as the run's did (a home outside /tmp: the
    sandbox's private /tmp would hide one under it anyway)."""
    home = Home(outside_tmp / "home")
    db = home.init()
    try:
        holdout = home.scenarios / "shout"
        holdout.mkdir(parents=True)
        (holdout / "secret.md").write_text("HOLDOUT-c9: shout('') returns '!'\n")
        repo = make_repo(outside_tmp / "repo")
        worktree = home.worktrees / "run-1"
        git(repo, "worktree", "add", "-q", "-b", "andon/1", str(worktree), "main")
        run_id = make_run(db, repo)
        kit = Kit(db, worktree, run_id)
        kit.log.update(repo_path=str(repo), worktree=str(worktree),
                       base_commit=git(repo, "rev-parse", "main"))
        peek = (f"cat {holdout}/secret.md > peek.txt 2>&1; "
                f"head -c 15 {home.db_path} >> peek.txt 2>&1; true")
        model = ScriptedModel({"turns": [
            {"text": "Peeking.", "tool_use": [{"name": "bash", "input": {"command": peek}}]},
            {"text": "Done."}]})
        sandbox = SandboxConfig(root=worktree, hide=home.private())
        tools = [EditorTool(worktree), BashTool(worktree, sandbox, timeout=30)]
        try:
            assert kit.agent(model.client(), tools=tools).run(START).status == "done"
        finally:
            for tool in tools:
                tool.close()
        peeked = (worktree / "peek.txt").read_text()
        assert "HOLDOUT" not in peeked and "SQLite" not in peeked
        git(worktree, "add", "--all")
        git(worktree, "commit", "-q", "-m", "andon: implement")
        kit.log.update(head_commit=git(worktree, "rev-parse", "HEAD"))
        git(repo, "worktree", "remove", "--force", str(worktree))

        report = replay(home, db, run_id, keep=True)
        assert report.kept is not None
        replayed = (Path(report.kept) / "peek.txt").read_text()
        assert "HOLDOUT" not in replayed and "SQLite" not in replayed, replayed
        assert report.matched, report.diff
    finally:
        db.close()


def test_a_replay_without_the_sandbox_runs_nothing_unless_the_policy_allows(
        home: Home, db: Database, tmp_path: Path) -> None:
    run_id, _ = recorded_run(db, tmp_path)
    tools = tmp_path / "bin"
    tools.mkdir()
    for name in ("git", "bash", "sh", "env", "cat"):
        found = shutil.which(name)
        if found:
            (tools / name).symlink_to(found)
    done = subprocess.run([sys.executable, "-m", "andon.tui", "--home", str(home.root), "replay",
                           str(run_id)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PATH": str(tools)})
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"run {run_id} cannot be replayed here" in done.stderr
    assert "allow_unsandboxed" in done.stderr
