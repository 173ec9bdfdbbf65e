"""One run end to end: submit, prepare, implement (scripted model, real tools), validate,
review, merge; then `andon runs` and `andon show` tell the story."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from andon.engine.factory.home import Home
from tests.conftest import git, write_spec
from tests.engine.pipeline.test_gates_pipeline import approving

# Whole factories in subprocesses: minutes on a loaded machine, not the suite's 120 s.
pytestmark = pytest.mark.timeout(300)

SCRIPT = """\
plan: |
  1. Add whisper() next to shout() in sample/text.py
  2. Test it in tests/test_whisper.py and run the checks
turns:
  - text: Let me read the module first.
    tool_use:
      - name: str_replace_based_edit_tool
        input: {command: view, path: sample/text.py}
  - text: Adding whisper() next to shout().
    tool_use:
      - name: str_replace_based_edit_tool
        input:
          command: str_replace
          path: sample/text.py
          old_str: |2
                return text.upper() + "!"
          new_str: |2
                return text.upper() + "!"


            def whisper(text: str) -> str:
                return text.lower() + "..."
      - name: str_replace_based_edit_tool
        input:
          command: create
          path: tests/test_whisper.py
          file_text: |
            from sample.text import whisper


            def test_whisper():
                assert whisper("HI") == "hi..."
  - text: Running the tests.
    tool_use:
      - name: bash
        input: {command: "PY -m pytest -q -p no:cacheprovider 2>&1 | tail -n 3"}
  - text: whisper() is in sample/text.py and tested; the checks pass.
"""


def andon(home: Home, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "andon.tui", "--home", str(home.root), *args],
                          capture_output=True, text=True, timeout=120)


def test_a_spec_goes_all_the_way_into_the_base_branch(tmp_path: Path, home: Home,
                                                       sample_repo: Path) -> None:
    check = f"{sys.executable} -m pytest -q -p no:cacheprovider"
    spec = write_spec(
        tmp_path / "specs", "whisper",
        f"""
        title: Add whisper()
        category: feature
        repo: {sample_repo}
        model: scripted
        checks: ["{check}"]
        """,
        "# Intent\nAdd whisper().\n\n## Acceptance criteria\n- whisper('HI') == 'hi...'\n",
        script=SCRIPT.replace("PY", sys.executable),
    )
    base_before = git(sample_repo, "rev-parse", "main")

    submitted = andon(home, "submit", str(spec), "--json")
    assert submitted.returncode == 0, submitted.stderr
    run_id = json.loads(submitted.stdout)[0]["id"]

    # feature is level 2: a person approves the plan, each edit and command, the merge.
    with approving(home) as approved:
        done = andon(home, "run-once", "--wait", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [{"id": run_id, "status": "merged",
                                        "reason": "merged into main"}]
    assert [g.kind for g in approved] == ["plan"] + ["action"] * 3 + ["review"]

    # The base branch has the agent's change, as a merge commit naming the run.
    assert "def whisper" in git(sample_repo, "show", "main:sample/text.py")
    assert git(sample_repo, "rev-parse", "main^1") == base_before
    message = git(sample_repo, "log", "-1", "--format=%B", "main")
    assert f"Andon-Run: {run_id}" in message
    assert (sample_repo / "tests/test_whisper.py").exists()  # the checkout followed
    assert git(sample_repo, "status", "--porcelain") == ""
    agent_commit = git(sample_repo, "log", "-1", "--format=%B", "main^2")
    assert "Andon-Category: feature" in agent_commit

    shown = json.loads(andon(home, "show", str(run_id), "--json").stdout)
    assert shown["run"]["status"] == "merged"
    assert shown["run"]["model"] == "scripted"
    stages = [e["stage"] for e in shown["events"] if e["kind"] == "stage"]
    # Level 2 (feature): the model plans first; after the merge the checks run again
    # on the merged base (post-merge watch).
    assert stages == ["prepare", "plan", "implement", "validate", "review", "merge",
                      "post-merge"]
    plan_step = next(s for s in shown["steps"] if s["kind"] == "plan")
    assert "Add whisper() next to shout()" in plan_step["output"]
    tools = [(s["kind"], s["name"]) for s in shown["steps"] if s["kind"] == "tool"]
    assert tools == [("tool", "str_replace_based_edit_tool")] * 3 + [("tool", "bash")]
    bash_step = next(s for s in shown["steps"] if s["name"] == "bash")
    assert "2 passed" in bash_step["output"]
    check_step = next(s for s in shown["steps"] if s["kind"] == "check")
    assert check_step["status"] == "ok" and check_step["exit_code"] == 0

    listed = andon(home, "runs")
    assert f"{run_id}" in listed.stdout and "merged" in listed.stdout
    text = andon(home, "show", str(run_id)).stdout
    assert "Add whisper()" in text and "merged into main" in text


def test_a_failing_check_fails_the_run_and_leaves_the_base_alone(
        tmp_path: Path, home: Home, sample_repo: Path) -> None:
    spec = write_spec(
        tmp_path / "specs", "broken",
        f"""
        title: Break things
        category: bugfix
        repo: {sample_repo}
        model: scripted
        checks: ["exit 3"]
        """,
        script="turns:\n  - text: Nothing to do.\n",
    )
    base_before = git(sample_repo, "rev-parse", "main")
    assert andon(home, "submit", str(spec)).returncode == 0
    done = json.loads(andon(home, "run-once", "--json").stdout)
    # The agent gets a second attempt with the failure as feedback; the same failure
    # twice in a row stops the run as stuck instead of looping.
    assert done[0]["status"] == "stuck"
    assert "`exit 3` (exit 3)" in done[0]["reason"]
    assert git(sample_repo, "rev-parse", "main") == base_before
