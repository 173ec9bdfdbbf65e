"""Scripted runs on real repositories, gated by their category's level: level 2 asks a
person for the plan, every edit and command, and the merge; level 3 only for the review
(and the plan when plan_gate is set); level 4 for nothing unless a rule trips. A rejected
action reaches the agent with the comment and it carries on; the cord holds a running run
at its next boundary; dark runs that keep escalating demote their category."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlmodel import col, select

from andon.engine.factory.home import Home
from andon.engine.gates.gate import decide_gate, list_gates
from andon.engine.pipeline.stages import Pipeline
from andon.engine.run.queue import claim_next, submit
from andon.engine.service.cord import pull, release
from andon.policies.level import Level
from andon.policies.stored import load_policy, save_policies, set_level
from andon.store import models as m
from andon.store.db import Database
from tests.conftest import git, requires, write_spec

DEADLINE = 60.0  # seconds; a run that takes longer is stuck at a gate nobody answers

CHECK = f"{sys.executable} -m pytest -q -p no:cacheprovider"
QUICK_CHECK = f"{sys.executable} -c 'import sample.text'"  # for runs that add no test

FEATURE_SCRIPT = f"""\
plan: |
  1. Add whisper() next to shout() in sample/text.py
  2. Test it in tests/test_whisper.py and run the checks
turns:
  - text: Reading the module first.
    tool_use:
      - name: str_replace_based_edit_tool
        input: {{command: view, path: sample/text.py}}
  - text: Adding whisper().
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
  - text: Clearing old test output first.
    tool_use:
      - name: bash
        input: {{command: "rm -rf tests"}}
  - text: Understood, the tests stay. Adding a test for whisper().
    tool_use:
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
        input: {{command: "{CHECK} 2>&1 | tail -n 2"}}
  - text: whisper() is in sample/text.py and tested.
"""

README_SCRIPT = """\
turns:
  - text: Documenting shout().
    tool_use:
      - name: str_replace_based_edit_tool
        input:
          command: str_replace
          path: README.md
          old_str: "A tiny package the factory works on."
          new_str: "A tiny package the factory works on. `shout('hi')` returns `HI!`."
  - text: The README documents shout().
"""

CODE_SCRIPT = """\
turns:
  - text: Documenting shout() in its docstring.
    tool_use:
      - name: str_replace_based_edit_tool
        input:
          command: str_replace
          path: sample/text.py
          old_str: '\"\"\"Text helpers.\"\"\"'
          new_str: '\"\"\"Text helpers: shout() makes text loud.\"\"\"'
  - text: Documented.
"""


def queue_run(db: Database, folder: Path, name: str, category: str, repo: Path,
              script: str, extra: str = "", check: str = QUICK_CHECK) -> int:
    spec = write_spec(folder, name, f"""
        title: {name}
        category: {category}
        repo: {repo}
        model: scripted
        checks: ["{check}"]
        {extra}
        """, script=script)
    run = submit(db, spec)
    claimed = claim_next(db)
    assert claimed is not None and claimed.id == run.id
    return run.id or 0


class Line:
    """One run executing in its own thread, as the engine runs it."""

    def __init__(self, home: Home, db: Database, run_id: int) -> None:
        self.db, self.run_id = db, run_id
        self.status: str | None = None
        self.thread = threading.Thread(
            target=lambda: setattr(self, "status", Pipeline(home, db, run_id).execute()),
            daemon=True)
        self.thread.start()

    def answer(self, decide: Callable[[m.Gate], tuple[str, str | None]]) -> list[m.Gate]:
        """Answer each gate as it opens until the run ends; the gates, in order."""
        seen: list[m.Gate] = []
        deadline = time.monotonic() + DEADLINE
        while self.thread.is_alive():
            assert time.monotonic() < deadline, f"run still going; gates so far: " \
                f"{[(g.kind, g.title) for g in seen]}"
            for gate in list_gates(self.db, run_id=self.run_id):
                verdict, comment = decide(gate)
                decide_gate(self.db, gate.id or 0, verdict, comment, user="alice")
                seen.append(gate)
            time.sleep(0.01)
        return seen

    def finish(self) -> str:
        self.thread.join(DEADLINE)
        assert not self.thread.is_alive()
        assert self.status is not None
        return self.status

    def run(self) -> m.Run:
        with self.db.read() as s:
            run = s.get(m.Run, self.run_id)
            assert run is not None
            return run

    def steps(self, kind: str) -> list[m.Step]:
        with self.db.read() as s:
            return list(s.exec(select(m.Step).where(m.Step.run_id == self.run_id,
                                                    m.Step.kind == kind)
                               .order_by(col(m.Step.id))).all())


def approve_all(gate: m.Gate) -> tuple[str, str | None]:
    return "approve", None


@contextmanager
def approving(home: Home, user: str = "tester") -> Iterator[list[m.Gate]]:
    """A person who approves every gate of the factory as it opens (from this process;
    the run may execute in another one). Yields the gates approved, in order."""
    db = Database(home.db_path)
    approved: list[m.Gate] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.02):
            for gate in list_gates(db):
                decide_gate(db, gate.id or 0, "approve", user=user)
                approved.append(gate)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield approved
    finally:
        stop.set()
        thread.join(5)
        db.close()


def test_level_2_gates_the_plan_every_edit_and_command_and_the_merge(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    assert load_policy(db, "feature").level == Level.SUPERVISED
    run_id = queue_run(db, tmp_path / "specs", "whisper", "feature", sample_repo,
                       FEATURE_SCRIPT, check=CHECK)
    line = Line(home, db, run_id)

    def decide(gate: m.Gate) -> tuple[str, str | None]:
        if gate.title == "run: rm -rf tests":
            return "reject", "keep the tests; they are the spec's safety net"
        return "approve", None

    gates = line.answer(decide)
    assert line.finish() == m.MERGED, line.run().reason
    assert [(g.kind, g.title) for g in gates] == [
        ("plan", "plan for: whisper"),
        ("action", "edit sample/text.py"),
        ("action", "run: rm -rf tests"),
        ("action", "create tests/test_whisper.py"),
        ("action", f"run: {CHECK} 2>&1 | tail -n 2"),
        ("review", "review: whisper"),
    ]
    plan, edit = gates[0], gates[1]
    assert "Add whisper() next to shout()" in plan.detail["plan"]
    assert "+def whisper(text: str) -> str:" in edit.detail["preview"]
    review = gates[-1]
    assert "+def whisper(text: str) -> str:" in review.detail["diff"]
    assert review.detail["checks"][0]["passed"] is True

    # The rejected command never ran; the agent was told why and carried on.
    refused = next(s for s in line.steps("tool") if s.name == "bash")
    assert refused.status == "refused"
    assert "keep the tests; they are the spec's safety net" in (refused.output or "")
    assert "def test_whisper" in git(sample_repo, "show", "main:tests/test_whisper.py")
    assert "def whisper" in git(sample_repo, "show", "main:sample/text.py")
    run = line.run()
    assert run.human_touched and run.level == 2
    with db.read() as s:
        decided = s.exec(select(m.Event).where(m.Event.run_id == run_id,
                                               m.Event.kind == "gate.decided")).all()
    assert len(decided) == 6 and all(e.data["by"] == "alice" for e in decided)


def test_level_3_gates_only_the_review_decided_from_another_process(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    assert load_policy(db, "bugfix").level == Level.SPEC_DRIVEN
    run_id = queue_run(db, tmp_path / "specs", "readme", "bugfix", sample_repo,
                       README_SCRIPT)
    line = Line(home, db, run_id)
    deadline = time.monotonic() + DEADLINE
    while not list_gates(db, run_id=run_id):
        assert line.thread.is_alive() and time.monotonic() < deadline, line.run().reason
        time.sleep(0.01)
    gate = list_gates(db, run_id=run_id)[0]
    assert gate.kind == "review"
    assert line.run().status == m.WAITING
    done = subprocess.run([sys.executable, "-m", "andon.tui", "--home", str(home.root),
                           "approve", str(gate.id)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert line.finish() == m.MERGED, line.run().reason
    assert [g.kind for g in list_gates(db, pending_only=False, run_id=run_id)] == ["review"]
    assert "`shout('hi')`" in git(sample_repo, "show", "main:README.md")


def test_level_3_with_plan_gate_asks_for_the_plan_too(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    policy = load_policy(db, "bugfix").model_copy(update={"plan_gate": True})
    save_policies(db, [policy], user="alice", reason="plans first")
    script = "plan: |\n  1. Document shout() in the README\n" + README_SCRIPT
    run_id = queue_run(db, tmp_path / "specs", "readme", "bugfix", sample_repo, script)
    line = Line(home, db, run_id)
    gates = line.answer(approve_all)
    assert line.finish() == m.MERGED, line.run().reason
    assert [g.kind for g in gates] == ["plan", "review"]


@requires("bwrap")
def test_level_4_gates_nothing_when_no_rule_trips(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    assert load_policy(db, "docs").level == Level.DARK
    run_id = queue_run(db, tmp_path / "specs", "readme", "docs", sample_repo,
                       README_SCRIPT)
    line = Line(home, db, run_id)
    assert line.answer(approve_all) == []
    assert line.finish() == m.MERGED, line.run().reason
    run = line.run()
    assert not run.escalated and not run.human_touched and run.level == 4
    assert list_gates(db, pending_only=False, run_id=run_id) == []


@requires("bwrap")
def test_dark_runs_touching_protected_paths_escalate_and_the_breaker_demotes(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    policy = load_policy(db, "docs")
    assert (policy.level, policy.demote_after) == (Level.DARK, 2)
    base = git(sample_repo, "rev-parse", "main")
    for attempt in (1, 2):
        run_id = queue_run(db, tmp_path / f"specs{attempt}", f"docstring{attempt}", "docs",
                           sample_repo, CODE_SCRIPT)
        line = Line(home, db, run_id)
        gates = line.answer(lambda g: ("reject", "docs runs leave the code alone"))
        assert line.finish() == m.REJECTED
        assert [g.kind for g in gates] == ["escalation"]
        assert gates[0].detail["rules"][0]["rule"] == "protected_path"
        assert "sample/text.py" in gates[0].detail["rules"][0]["detail"]
        run = line.run()
        assert run.escalated and "docs runs leave the code alone" in (run.reason or "")
        with db.read() as s:
            escalated = s.exec(select(m.Event).where(m.Event.run_id == run_id,
                                                     m.Event.kind == "run.escalated")).all()
        assert len(escalated) == 1 and "protected_path" in escalated[0].message
        expected = Level.DARK if attempt == 1 else Level.SPEC_DRIVEN
        assert load_policy(db, "docs").level == expected
    assert git(sample_repo, "rev-parse", "main") == base
    with db.read() as s:
        demoted = s.exec(select(m.Event).where(m.Event.kind == "policy.demoted")).all()
        change = s.exec(select(m.PolicyChange).where(m.PolicyChange.category == "docs")
                        .order_by(col(m.PolicyChange.id).desc())).first()
    assert len(demoted) == 1 and "circuit breaker" in demoted[0].message
    assert change is not None and (change.user, change.old, change.new) == ("andon", 4, 3)


def test_the_cord_holds_a_running_run_and_release_resumes_it(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    set_level(db, "bugfix", 2, user="alice", reason="watch it closely")
    script = "plan: |\n  1. Document shout()\n" + README_SCRIPT
    run_id = queue_run(db, tmp_path / "specs", "readme", "bugfix", sample_repo, script)
    line = Line(home, db, run_id)
    deadline = time.monotonic() + DEADLINE
    while not list_gates(db, run_id=run_id):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    plan_gate = list_gates(db, run_id=run_id)[0]
    assert plan_gate.kind == "plan"
    pull(db, "the base is broken; nobody merges", user="bob")
    decide_gate(db, plan_gate.id or 0, "approve", user="alice")
    while line.run().status != m.HELD:  # the next step boundary holds it
        assert line.thread.is_alive() and time.monotonic() < deadline, line.run().reason
        time.sleep(0.01)
    time.sleep(0.3)
    assert line.run().status == m.HELD
    assert list_gates(db, run_id=run_id) == []  # held before the next edit was proposed
    release(db, user="bob")
    gates = line.answer(approve_all)
    assert line.finish() == m.MERGED, line.run().reason
    assert [g.kind for g in gates] == ["action", "review"]


def test_a_budget_breach_asks_a_person_and_approval_carries_on(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    assert load_policy(db, "bugfix").on_budget == "gate"
    run_id = queue_run(db, tmp_path / "specs", "readme", "bugfix", sample_repo,
                       README_SCRIPT, extra="budget: {turns: 1}")
    line = Line(home, db, run_id)
    gates = line.answer(approve_all)
    assert line.finish() == m.MERGED, line.run().reason
    # More than 80% of the budget was spent: the review is an escalation, saying so.
    assert [g.kind for g in gates] == ["budget", "escalation"]
    assert "turn" in gates[0].title
    assert [r["rule"] for r in gates[1].detail["rules"]] == ["budget_spent"]


@requires("bwrap")
def test_a_dark_run_over_budget_fails_with_the_reason(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    assert load_policy(db, "docs").on_budget == "fail"
    run_id = queue_run(db, tmp_path / "specs", "readme", "docs", sample_repo,
                       README_SCRIPT, extra="budget: {turns: 1}")
    line = Line(home, db, run_id)
    assert line.answer(approve_all) == []
    assert line.finish() == m.FAILED
    assert "budget spent: 1 of 1 turns" in (line.run().reason or ""), line.run().reason
