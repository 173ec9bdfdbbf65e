"""Holdout scenarios: run from outside the worktree, never seen by the agent."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from andon.engine.errors import UserError
from andon.engine.factory.home import Home
from andon.engine.llm.scripted import ScriptedModel
from andon.engine.pipeline.scenarios import (
    judge_story,
    load_scenarios,
    run_check,
    satisfaction,
    scenario_folder,
)
from andon.engine.pipeline.stages import Pipeline
from andon.store import models as m
from andon.store.db import Database
from tests.conftest import git, make_repo, requires
from tests.engine.pipeline.test_stages import (
    configure,
    edit,
    queue,
    requests,
    rows,
    run_row,
    script,
    set_policy,
    user_texts,
)

MARKER = "HOLDOUT-7d1f2c"  # appears only in the scenario files


def write_scenarios(home: Home, name: str = "greeting") -> Path:
    folder = home.scenarios / name
    folder.mkdir(parents=True)
    check = folder / "says_hello.sh"
    check.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        # title: the greeting is friendly
        # {MARKER}: the file must say hello
        grep -q hello "$1/greet.txt" && test "$ANDON_WORKTREE" = "$1"
        """))
    check.chmod(0o755)
    (folder / "visitor.md").write_text(
        f"# A visitor feels welcome\n\nWhen someone opens greet.txt ... {MARKER}\n")
    (folder / "notes.txt").write_text("helpers and data are not scenarios\n")
    return folder


@requires("bwrap")
def test_a_hidden_scenario_guides_the_agent_by_its_title_only(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    configure(home, sample_repo)
    set_policy(db, max_attempts=3)
    folder = write_scenarios(home)
    peek = (f"cat {folder}/says_hello.sh; ls -la {home.scenarios}; "
            f"grep -r '{MARKER[:8]}''{MARKER[8:]}' {home.root} 2>/dev/null; echo peeked")
    run_id = queue(db, tmp_path / "specs", "greet", script(
        [{"text": "Writing it.", "tool_use": [
            edit("greet.txt", "helo\n"),
            {"name": "bash", "input": {"command": peek}},
            {"name": "str_replace_based_edit_tool",
             "input": {"command": "view", "path": str(folder / "says_hello.sh")}}]},
         {"text": "Done."}],
        [{"text": "Making it friendlier.", "tool_use": [edit("greet.txt", "hello\n")]},
         {"text": "Done."}],
    ), extra="scenarios: greeting")

    assert Pipeline(home, db, run_id).execute() == m.MERGED

    run = run_row(db, run_id)
    assert run.satisfaction == 1.0 and run.attempt == 2
    steps = [s for s in rows(db, m.Step, run_id) if s.kind == "scenario"]
    assert [(s.name, s.status) for s in steps] == [
        ("the greeting is friendly", "failed"), ("A visitor feels welcome", "skipped"),
        ("the greeting is friendly", "ok"), ("A visitor feels welcome", "skipped")]
    assert "scripted provider" in (steps[1].output or "")
    # The agent learnt the failed scenario's title, and nothing else of it.
    sent = requests(db, run_id)
    assert "- the greeting is friendly" in user_texts(sent[-2])
    recorded = json.dumps([[e.request, e.response] for e in rows(db, m.Exchange, run_id)])
    recorded += json.dumps([c.messages for c in rows(db, m.Checkpoint, run_id)])
    recorded += json.dumps([[s.input, s.output] for s in rows(db, m.Step, run_id)
                            if s.kind in ("turn", "tool")])
    assert "peeked" in recorded  # the agent's commands are in there ...
    assert MARKER not in recorded  # ... but no scenario text
    assert "grep -q hello" not in recorded
    # The scenario files never entered the worktree or the base.
    assert "says_hello.sh" not in git(sample_repo, "ls-tree", "-r", "--name-only", "main")


@requires("bwrap")
def test_a_scenario_sees_the_worktree_read_only_and_other_scenarios_not_at_all(
        tmp_path: Path, outside_tmp: Path) -> None:
    # The home outside /tmp: the sandbox's private /tmp would hide one under it anyway,
    # and the test would pass with the hiding removed.
    home = Home(outside_tmp / "home")
    home.init().close()
    worktree = make_repo(tmp_path / "wt", {"greet.txt": "hello\n"})
    other = home.scenarios / "other"
    other.mkdir(parents=True)
    (other / "secret.md").write_text("# other spec's holdout\n")
    folder = home.scenarios / "mine"
    folder.mkdir()
    (folder / "data.txt").write_text("expected: hello\n")
    probe = folder / "probe"
    probe.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        cat "$(dirname "$0")/data.txt"
        touch "$1/written" 2>/dev/null && echo WROTE-WORKTREE
        ls {other} 2>&1 | grep -c secret
        exit 0
        """))
    probe.chmod(0o755)
    (found,) = load_scenarios(folder)
    assert found.kind == "check" and found.title == "probe"

    result = run_check(found, worktree, scenarios_root=home.scenarios, hide=[],
                       allow_unsandboxed=False, timeout=30)
    assert result.status == "ok" and result.trials == 1 and result.passed == 1
    assert "expected: hello" in result.output  # its own folder is readable
    assert "WROTE-WORKTREE" not in result.output and not (worktree / "written").exists()
    assert result.output.strip().endswith("0")  # the other spec's scenarios are hidden


def test_a_failing_or_hanging_scenario_is_not_satisfied(tmp_path: Path, home: Home) -> None:
    worktree = make_repo(tmp_path / "wt", {"a.txt": "a\n"})
    folder = home.scenarios / "s"
    folder.mkdir(parents=True)
    for name, body in (("fails", "exit 4"), ("hangs", "sleep 30")):
        (folder / name).write_text(f"#!/bin/sh\n# scenario: it {name}\n{body}\n")
        (folder / name).chmod(0o755)
    fails, hangs = load_scenarios(folder)
    failed = run_check(fails, worktree, scenarios_root=home.scenarios, hide=[],
                       allow_unsandboxed=True, timeout=30)
    assert (failed.title, failed.status, failed.exit_code) == ("it fails", "failed", 4)
    hung = run_check(hangs, worktree, scenarios_root=home.scenarios, hide=[],
                     allow_unsandboxed=True, timeout=0.5)
    assert hung.status == "failed" and hung.data["timed_out"]
    assert satisfaction([failed, hung]) == 0.0
    assert satisfaction([]) is None


def test_a_story_is_judged_by_the_model_in_independent_trials(tmp_path: Path) -> None:
    story = tmp_path / "welcome.md"
    story.write_text("# A visitor feels welcome\n\nThe greeting says hello.\n")
    (scenario,) = load_scenarios(tmp_path)
    model = ScriptedModel({"plan": [
        json.dumps({"verdict": "PASS", "reason": "It says hello."}),
        json.dumps({"verdict": "FAIL", "reason": "Too curt."}),
        "PASS, I think",  # not the schema's shape: a failed trial that says so
        json.dumps({"verdict": "PASS", "reason": "Fine."})]})
    client = model.client()

    def ask(system: str, text: str) -> str:
        reply = client.messages.create(model="scripted", max_tokens=200, system=system,
                                       messages=[{"role": "user", "content": text}])
        return "".join(b.text for b in reply.content if b.type == "text")

    try:
        result = judge_story(scenario, "+hello\n", 4, ask)
    finally:
        client.close()
    assert (result.title, result.trials, result.passed, result.status) == (
        "A visitor feels welcome", 4, 2, "failed")
    assert satisfaction([result]) == pytest.approx(2 / 4)
    assert result.data["verdicts"] == [True, False, False, True]
    assert result.data["reasons"][:2] == ["It says hello.", "Too curt."]
    assert result.data["reasons"][2] == "no verdict in the judge's reply: 'PASS, I think'"
    assert "trial 2: FAIL: Too curt." in result.output
    assert len(model.requests) == 4
    assert all("tools" not in r and "The greeting says hello." in json.dumps(r)
               for r in model.requests)


def test_a_spec_naming_missing_scenarios_fails_before_any_work(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    configure(home, sample_repo)
    set_policy(db)
    run_id = queue(db, tmp_path / "specs", "nosuch", script([{"text": "x"}]),
                   extra="scenarios: nosuch")
    assert Pipeline(home, db, run_id).execute() == m.FAILED
    assert "scenarios 'nosuch' are not in" in (run_row(db, run_id).reason or "")
    assert requests(db, run_id) == []
    with pytest.raises(UserError):
        scenario_folder(home.scenarios, "..")
    assert os.access(home.scenarios, os.R_OK)
