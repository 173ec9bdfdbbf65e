"""The pipeline in depth, on real repositories: attempts with feedback, stuck runs, the
plan stage, review revisions, moved bases and conflicts, resuming, idempotent merges.

Runs execute in-process (`Pipeline(home, db, run_id).execute()`) against the scripted
model served through the real SDK; gates are decided by a "person" thread through
`engine.gates.gate.decide_gate`, as the CLI or the board would."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from andon.engine.factory.home import Home
from andon.engine.gates.gate import decide_gate, list_gates
from andon.engine.pipeline.stages import Pipeline
from andon.engine.run.control import RunControl
from andon.engine.run.queue import submit
from andon.engine.workspace import worktree as workspace
from andon.policies.policy import Policy
from andon.policies.stored import load_policy, save_policies
from andon.store import models as m
from andon.store.clock import utcnow
from andon.store.db import Database
from tests.conftest import git, write_spec

CATEGORY = "pipe"


def configure(home: Home, repo: Path, repo_extra: str = "", engine_extra: str = "") -> None:
    home.config_path.write_text(
        f'[engine]\nprovider = "scripted"\n{engine_extra}\n\n'
        f'[repos.sample]\npath = "{repo}"\nbase = "main"\n{repo_extra}\n')
    home.reload()


def set_policy(db: Database, level: int = 4, **fields: Any) -> None:
    save_policies(db, [Policy(category=CATEGORY, level=level, **fields)], user="tester")


def queue(db: Database, folder: Path, name: str, script: str, extra: str = "") -> int:
    path = write_spec(folder, name, f"title: {name} change\ncategory: {CATEGORY}\n"
                      f"repo: sample\nmodel: scripted\n{extra}", script=script)
    return submit(db, path).id or 0


def run_row(db: Database, run_id: int) -> m.Run:
    with db.read() as s:
        run = s.get(m.Run, run_id)
        assert run is not None
        return run


def rows(db: Database, model: Any, run_id: int) -> list[Any]:
    with db.read() as s:
        return list(s.exec(select(model).where(model.run_id == run_id)
                           .order_by(col(model.id))).all())


def requests(db: Database, run_id: int) -> list[dict[str, Any]]:
    """Every request body the agent sent to the model, as recorded."""
    return [row.request for row in rows(db, m.Exchange, run_id) if row.purpose == "agent"]


def user_texts(request: dict[str, Any]) -> str:
    """The text of every user message in a request (feedback, tool results)."""
    texts = []
    for msg in request["messages"]:
        if msg["role"] != "user":
            continue
        content = msg["content"]
        blocks = [content] if isinstance(content, str) else content
        for block in blocks:
            if isinstance(block, str):
                texts.append(block)
            elif isinstance(block.get("text"), str):
                texts.append(block["text"])
            elif block.get("type") == "tool_result":
                inner = block.get("content")
                texts.append(inner if isinstance(inner, str) else json.dumps(inner))
    return "\n".join(texts)


def edit(path: str, text: str) -> dict[str, Any]:
    return {"name": "str_replace_based_edit_tool",
            "input": {"command": "create", "path": path, "file_text": text}}


def script(*attempts: list[dict[str, Any]], plan: str | None = None) -> str:
    data: dict[str, Any] = {"attempts": [list(a) for a in attempts]}
    if plan is not None:
        data["plan"] = plan
    return json.dumps(data)  # JSON is YAML


@contextmanager
def person(home: Home, decide: Callable[[m.Gate], tuple[str, str | None]]
           ) -> Iterator[list[m.Gate]]:
    """Someone answering every gate as it opens (`decide` returns verdict, comment)."""
    db = Database(home.db_path)
    seen: list[m.Gate] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(0.02):
            for gate in list_gates(db):
                if gate.kind == "post-merge" or any(g.id == gate.id for g in seen):
                    continue
                seen.append(gate)
                verdict, comment = decide(gate)
                if verdict:
                    decide_gate(db, gate.id or 0, verdict, comment, user="tester")

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(5)
        db.close()


def commit_to_base(repo: Path, name: str, text: str, message: str = "base moved") -> str:
    (repo / name).write_text(text)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "main")


@pytest.fixture
def factory(home: Home, db: Database, sample_repo: Path) -> tuple[Home, Database, Path]:
    configure(home, sample_repo)
    set_policy(db, max_attempts=3)
    return home, db, sample_repo


# -- attempts ------------------------------------------------------------------------------


def test_a_failing_check_goes_back_to_the_agent_and_passes_on_the_second_attempt(
        tmp_path: Path, factory: tuple[Home, Database, Path]) -> None:
    home, db, repo = factory
    run_id = queue(db, tmp_path / "specs", "greet", script(
        [{"text": "Writing it.", "tool_use": [edit("greet.txt", "helo\n")]},
         {"text": "Done."}],
        [{"text": "Fixing the typo.", "tool_use": [edit("greet.txt", "hello\n")]},
         {"text": "Fixed."}],
    ), extra='checks: ["grep -q hello greet.txt"]')

    assert Pipeline(home, db, run_id).execute() == m.MERGED

    run = run_row(db, run_id)
    assert run.attempt == 2 and run.reason == "merged into main"
    assert git(repo, "show", "main:greet.txt") == "hello"
    checks = [s for s in rows(db, m.Step, run_id) if s.kind == "check"]
    assert [(c.stage, c.status) for c in checks] == [
        ("validate", "failed"), ("validate", "ok"), ("post-merge", "ok")]
    # The second attempt continues the conversation with the failure as feedback.
    sent = requests(db, run_id)
    feedback = user_texts(sent[-2])
    assert "grep -q hello greet.txt" in feedback and "exit 1" in feedback
    assert "Attempt 1 of 3" in feedback
    assert "Writing it." in json.dumps(sent[-2]["messages"])  # same conversation
    attempts = [e.message for e in rows(db, m.Event, run_id) if e.kind == "attempt"]
    assert attempts == ["attempt 2 of 3: checks failed: `grep -q hello greet.txt` (exit 1)"]
    # Each turn that changed files is its own commit on the run's branch, with trailers.
    bodies = git(repo, "log", "--format=%B%x00", "main^2").split("\x00")
    agent_commits = [b for b in bodies if b.strip().startswith("andon:")]
    assert [b.strip().splitlines()[0] for b in agent_commits] == [
        f"andon: turn 3 of attempt 2 for run {run_id}",
        f"andon: turn 1 of attempt 1 for run {run_id}"]
    for body in agent_commits:
        for trailer in (f"Andon-Run: {run_id}", "Andon-Spec: greet change",
                        f"Andon-Category: {CATEGORY}", "Andon-Level: 4"):
            assert trailer in body


def test_the_same_failure_twice_in_a_row_stops_the_run_as_stuck(
        tmp_path: Path, factory: tuple[Home, Database, Path]) -> None:
    home, db, repo = factory
    base = git(repo, "rev-parse", "main")
    run_id = queue(db, tmp_path / "specs", "stuck", script(
        [{"text": "Try.", "tool_use": [edit("n.txt", "1\n")]}, {"text": "Done."}],
        [{"text": "Again.", "tool_use": [edit("n.txt", "2\n")]}, {"text": "Done."}],
        [{"text": "Once more.", "tool_use": [edit("n.txt", "3\n")]}, {"text": "Done."}],
    ), extra='checks: ["test -f missing.txt"]')

    assert Pipeline(home, db, run_id).execute() == m.STUCK
    run = run_row(db, run_id)
    assert run.attempt == 2  # not a third time
    assert "the same failure twice in a row" in (run.reason or "")
    assert "`test -f missing.txt` (exit 1)" in (run.reason or "")
    assert git(repo, "rev-parse", "main") == base


def test_different_failures_use_up_max_attempts_and_fail(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    configure(home, sample_repo)
    set_policy(db, max_attempts=2)
    run_id = queue(db, tmp_path / "specs", "codes", script(
        [{"text": "Try.", "tool_use": [edit("code.txt", "4\n")]}, {"text": "Done."}],
        [{"text": "Again.", "tool_use": [edit("code.txt", "5\n")]}, {"text": "Done."}],
    ), extra='checks: ["exit $(cat code.txt)"]')

    assert Pipeline(home, db, run_id).execute() == m.FAILED
    run = run_row(db, run_id)
    assert run.attempt == 2
    assert run.reason == ("checks failed: `exit $(cat code.txt)` (exit 5) after 2 attempts "
                          "(max_attempts 2)")


def test_a_run_started_long_ago_is_judged_by_its_working_minutes(
        tmp_path: Path, factory: tuple[Home, Database, Path]) -> None:
    """Time at gates, the cord or with the engine stopped is not the run's: a level-4 run
    that started 50 minutes ago and worked for seconds has not spent a 10-minute budget."""
    home, db, _ = factory
    run_id = queue(db, tmp_path / "specs", "greet", script(
        [{"text": "Writing it.", "tool_use": [edit("greet.txt", "hello\n")]},
         {"text": "Done."}]), extra="budget: {minutes: 10}")
    with db.write() as s:
        run = s.get(m.Run, run_id)
        assert run is not None
        run.started_at = utcnow() - timedelta(minutes=50)

    assert Pipeline(home, db, run_id).execute() == m.MERGED, run_row(db, run_id).reason
    assert not [g for g in rows(db, m.Gate, run_id) if g.kind == "escalation"]


# -- plan and review ----------------------------------------------------------------------


def test_the_plan_is_written_without_tools_gated_and_given_to_the_agent(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    configure(home, sample_repo)
    set_policy(db, level=3, plan_gate=True)
    plan = "1. Create greet.txt saying hello\n2. Check it with grep"
    run_id = queue(db, tmp_path / "specs", "planned", script(
        [{"text": "Following the plan.", "tool_use": [edit("greet.txt", "hello\n")]},
         {"text": "Done."}], plan=plan), extra='checks: ["grep -q hello greet.txt"]')

    with person(home, lambda gate: ("approve", None)) as gates:
        assert Pipeline(home, db, run_id).execute() == m.MERGED

    assert [g.kind for g in gates] == ["plan", "review"]
    assert gates[0].detail["plan"] == plan
    plan_steps = [s for s in rows(db, m.Step, run_id) if s.kind == "plan"]
    # The scripted model answers with the script's plan only a request without tools.
    assert [(s.stage, s.output) for s in plan_steps] == [("plan", plan)]
    first = requests(db, run_id)[0]
    assert first["tools"] and plan in user_texts(first)
    stages = [e.stage for e in rows(db, m.Event, run_id) if e.kind == "stage"]
    assert stages[:3] == ["prepare", "plan", "implement"]
    # the plan call is accounted like a turn (usage row, recording) without being one
    usage = rows(db, m.Usage, run_id)
    assert [(u.purpose, u.turn) for u in usage] == [("plan", 0), ("agent", 1), ("agent", 2)]
    assert usage[0].cost_usd and usage[0].input_tokens
    exchanges = rows(db, m.Exchange, run_id)
    assert exchanges[0].purpose == "plan" and exchanges[0].response["purpose"] == "plan"
    assert exchanges[0].response["message"]["content"][0]["text"] == plan
    assert "tools" not in exchanges[0].request
    with db.read() as s:
        run = s.get(m.Run, run_id)
    assert run is not None and run.turns == 2
    assert run.cost_usd == pytest.approx(sum(u.cost_usd or 0 for u in usage))


def test_a_rejected_plan_rejects_the_run_before_any_change(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    configure(home, sample_repo)
    set_policy(db, level=3, plan_gate=True)
    run_id = queue(db, tmp_path / "specs", "badplan", script(
        [{"text": "x", "tool_use": [edit("x.txt", "x\n")]}], plan="1. Delete everything"))

    with person(home, lambda gate: ("reject", "too risky")):
        assert Pipeline(home, db, run_id).execute() == m.REJECTED
    assert run_row(db, run_id).reason == "plan rejected by tester: too risky"
    assert requests(db, run_id) == []


def test_a_revised_review_goes_back_to_implement_with_the_comment(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    configure(home, sample_repo)
    set_policy(db, level=3, plan_gate=False)
    run_id = queue(db, tmp_path / "specs", "revise", script(
        [{"text": "Greeting.", "tool_use": [edit("greet.txt", "hello\n")]}, {"text": "Done."}],
        [{"text": "Adding the name.", "tool_use": [edit("greet.txt", "hello, Ada\n")]},
         {"text": "Done."}]))
    answers = iter([("revise", "Greet Ada by name, please."), ("approve", None)])

    with person(home, lambda gate: next(answers)) as gates:
        assert Pipeline(home, db, run_id).execute() == m.MERGED

    assert [g.kind for g in gates] == ["review", "review"]
    run = run_row(db, run_id)
    assert run.attempt == 2  # the revision counted as an attempt
    assert git(sample_repo, "show", "main:greet.txt") == "hello, Ada"
    assert "Greet Ada by name, please." in user_texts(requests(db, run_id)[-2])


# -- merging ----------------------------------------------------------------------------------


def test_a_base_that_moved_is_merged_in_with_a_merge_commit(
        tmp_path: Path, factory: tuple[Home, Database, Path]) -> None:
    home, db, repo = factory
    run_id = queue(db, tmp_path / "specs", "moved", script(
        [{"text": "Adding.", "tool_use": [edit("greet.txt", "hello\n")]}, {"text": "Done."}]))
    line = Pipeline(home, db, run_id)
    line.prepare()  # the worktree is cut ...
    moved = commit_to_base(repo, "other.txt", "someone else\n")  # ... then main moves on

    assert line.execute() == m.MERGED
    assert git(repo, "rev-parse", "main^1") == moved
    message = git(repo, "log", "-1", "--format=%B", "main")
    assert message.startswith(f"Merge andon run {run_id}: moved change")
    assert f"Andon-Run: {run_id}" in message
    assert git(repo, "show", "main:greet.txt") == "hello"
    assert git(repo, "show", "main:other.txt") == "someone else"
    assert (repo / "greet.txt").exists()  # the person's checkout of main followed


def test_rebase_mode_replays_the_run_on_the_moved_base(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    configure(home, sample_repo, 'merge = "rebase"')
    set_policy(db)
    run_id = queue(db, tmp_path / "specs", "rebased", script(
        [{"text": "Adding.", "tool_use": [edit("greet.txt", "hello\n")]}, {"text": "Done."}]))
    line = Pipeline(home, db, run_id)
    line.prepare()
    moved = commit_to_base(sample_repo, "other.txt", "someone else\n")

    assert line.execute() == m.MERGED
    assert git(sample_repo, "rev-list", "--merges", "main") == ""  # linear history
    assert git(sample_repo, "rev-parse", "main~1") == moved
    assert f"Andon-Run: {run_id}" in git(sample_repo, "log", "-1", "--format=%B", "main")
    assert run_row(db, run_id).merge_commit == git(sample_repo, "rev-parse", "main")


def test_a_conflict_at_level_4_fails_the_run_naming_the_files(
        tmp_path: Path, factory: tuple[Home, Database, Path]) -> None:
    home, db, repo = factory
    run_id = queue(db, tmp_path / "specs", "clash", script(
        [{"text": "Editing.", "tool_use": [edit("README.md", "# sample\n\nMine.\n")]},
         {"text": "Done."}]))
    line = Pipeline(home, db, run_id)
    line.prepare()
    moved = commit_to_base(repo, "README.md", "# sample\n\nTheirs.\n")

    assert line.execute() == m.FAILED
    run = run_row(db, run_id)
    assert run.reason == "merge conflict in README.md: main moved since the run started"
    assert git(repo, "rev-parse", "main") == moved
    worktree = Path(run.worktree or "")
    assert git(worktree, "status", "--porcelain") == ""  # no half-done merge left behind
    assert workspace.disk_usage(worktree)  # a failed run's worktree is kept (default)


def test_a_person_can_send_a_conflict_back_to_the_agent_to_resolve(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    configure(home, sample_repo)
    set_policy(db, level=3, plan_gate=False)
    run_id = queue(db, tmp_path / "specs", "resolve", script(
        [{"text": "Editing.", "tool_use": [edit("README.md", "# sample\n\nMine.\n")]},
         {"text": "Done."}],
        [{"text": "Resolving.", "tool_use": [edit("README.md", "# sample\n\nMine.\nTheirs.\n")]},
         {"text": "Resolved."}]))
    line = Pipeline(home, db, run_id)
    line.prepare()
    moved = commit_to_base(sample_repo, "README.md", "# sample\n\nTheirs.\n")

    def decide(gate: m.Gate) -> tuple[str, str | None]:
        if gate.kind == "conflict":
            assert gate.detail["files"] == ["README.md"]
            return "revise", "keep both lines"
        return "approve", None

    with person(home, decide) as gates:
        assert line.execute() == m.MERGED
    assert [g.kind for g in gates] == ["review", "conflict", "review"]
    assert git(sample_repo, "show", "main:README.md") == "# sample\n\nMine.\nTheirs."
    assert git(sample_repo, "merge-base", "--is-ancestor", moved, "main") == ""
    feedback = user_texts(requests(db, run_id)[-2])
    assert "conflict markers in: README.md" in feedback and "keep both lines" in feedback
    for commit in git(sample_repo, "rev-list", "main").split():  # no marker ever committed
        assert "<<<<<<<" not in git(sample_repo, "show", f"{commit}:README.md")


# -- resuming and idempotency ---------------------------------------------------------------


def test_an_interrupted_run_resumes_without_redoing_work_and_merges_once(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    configure(home, sample_repo)
    set_policy(db, level=3, plan_gate=False)
    run_id = queue(db, tmp_path / "specs", "resume", script(
        [{"text": "Adding.", "tool_use": [edit("greet.txt", "hello\n")]}, {"text": "Done."}]),
        extra='checks: ["grep -q hello greet.txt"]')
    stop = threading.Event()

    def stop_at_review(gate: m.Gate) -> tuple[str, str | None]:
        stop.set()  # the engine shuts down while the run waits for its review
        return "", None

    with person(home, stop_at_review):
        status = Pipeline(home, db, run_id, control=RunControl(db, run_id, stop=stop)).execute()
    assert status == m.INTERRUPTED
    run = run_row(db, run_id)
    assert run.stage == "review" and Path(run.worktree or "").exists()
    sent_before = len(requests(db, run_id))

    with person(home, lambda gate: ("approve", None)):
        assert Pipeline(home, db, run_id).execute() == m.MERGED

    assert len(requests(db, run_id)) == sent_before  # the agent was not asked again
    stages = [e.stage for e in rows(db, m.Event, run_id) if e.kind == "stage"]
    assert stages.count("implement") == 1 and stages.count("validate") == 1
    assert stages.count("merge") == 1
    assert any(e.kind == "run.resumed" for e in rows(db, m.Event, run_id))


def test_a_crash_between_merging_and_recording_never_merges_twice(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    configure(home, sample_repo, engine_extra='keep_worktrees = "always"')
    set_policy(db)
    run_id = queue(db, tmp_path / "specs", "once", script(
        [{"text": "Adding.", "tool_use": [edit("greet.txt", "hello\n")]}, {"text": "Done."}]))
    assert Pipeline(home, db, run_id).execute() == m.MERGED
    tip = git(sample_repo, "rev-parse", "main")

    # What the store looks like when the engine died right after moving the base:
    # the merge is not recorded, the run is interrupted in its merge stage.
    with db.write() as s:
        run = s.get(m.Run, run_id)
        assert run is not None
        state = dict(run.data["pipeline"])
        for key in ("merged", "previous", "watched"):
            state.pop(key, None)
        run.data = {**run.data, "pipeline": state}
        run.status, run.stage, run.merge_commit, run.finished_at = (
            m.INTERRUPTED, "merge", None, None)
        s.add(run)

    assert Pipeline(home, db, run_id).execute() == m.MERGED
    assert git(sample_repo, "rev-parse", "main") == tip  # nothing merged again
    assert run_row(db, run_id).merge_commit == tip
    merges = [e.message for e in rows(db, m.Event, run_id) if e.kind == "merge"]
    assert merges[-1] == f"already merged into main as {tip[:10]}"


def test_a_crash_between_noting_the_merge_and_recording_it_keeps_the_merge_commit(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    configure(home, sample_repo, engine_extra='keep_worktrees = "always"')
    set_policy(db)
    run_id = queue(db, tmp_path / "specs", "once", script(
        [{"text": "Adding.", "tool_use": [edit("greet.txt", "hello\n")]}, {"text": "Done."}]))
    assert Pipeline(home, db, run_id).execute() == m.MERGED
    tip = git(sample_repo, "rev-parse", "main")

    # The engine died after the progress noted the merge, before the run row did
    # (found by bench/chaos.py: a run ended merged with no merge commit).
    with db.write() as s:
        run = s.get(m.Run, run_id)
        assert run is not None
        state = {k: v for k, v in run.data["pipeline"].items() if k != "watched"}
        run.data = {**run.data, "pipeline": state}
        run.status, run.stage, run.merge_commit, run.merged_at, run.finished_at = (
            m.INTERRUPTED, "merge", None, None, None)
        s.add(run)

    assert Pipeline(home, db, run_id).execute() == m.MERGED
    assert git(sample_repo, "rev-parse", "main") == tip  # nothing merged again
    run = run_row(db, run_id)
    assert run.merge_commit == tip and run.merged_at is not None


# -- post-merge watch -------------------------------------------------------------------------


def test_a_change_that_breaks_the_merged_base_is_reverted_and_a_person_told(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    configure(home, sample_repo)
    set_policy(db, level=3, plan_gate=False)
    # a.txt and b.txt must never both exist: fine in the worktree, broken once merged.
    run_id = queue(db, tmp_path / "specs", "breaks", script(
        [{"text": "Adding a.", "tool_use": [edit("a.txt", "a\n")]}, {"text": "Done."}]),
        extra="checks: [\"! { test -e a.txt && test -e b.txt; }\"]")

    def move_base_then_approve(gate: m.Gate) -> tuple[str, str | None]:
        commit_to_base(sample_repo, "b.txt", "b\n", "add b")  # while the run waits
        return "approve", None

    with person(home, move_base_then_approve):
        assert Pipeline(home, db, run_id).execute() == m.REVERTED

    run = run_row(db, run_id)
    assert run.reason is not None and run.reason.startswith("reverted: the checks failed")
    assert run.merge_commit and run.merged_at is not None
    tip_message = git(sample_repo, "log", "-1", "--format=%B", "main")
    assert tip_message.startswith(f"Revert andon run {run_id}: breaks change")
    assert f"Andon-Reverts: {run_id}" in tip_message
    assert git(sample_repo, "rev-parse", "main^") == run.merge_commit
    files = git(sample_repo, "ls-tree", "--name-only", "main").split()
    assert "b.txt" in files and "a.txt" not in files
    assert not (sample_repo / "a.txt").exists()  # the checkout followed the revert
    gates = list_gates(db, run_id=run_id)
    assert [g.kind for g in gates] == ["post-merge"]
    assert gates[0].detail["revert_commit"] == git(sample_repo, "rev-parse", "main")
    checks = [s for s in rows(db, m.Step, run_id) if s.kind == "check"]
    assert [(c.stage, c.status) for c in checks] == [("validate", "ok"),
                                                      ("post-merge", "failed")]


def test_a_recurring_spec_with_nothing_to_do_ends_unchanged_and_trips_no_breaker(
        tmp_path: Path, factory: tuple[Home, Database, Path]) -> None:
    home, db, _repo = factory
    set_policy(db, level=4, demote_after=2)
    quiet = script([{"text": "Everything is already up to date."}])
    ids = [queue(db, tmp_path / "specs", f"nightly{i}", quiet, 'schedule: "0 3 * * *"')
           for i in range(3)]
    assert [Pipeline(home, db, i).execute() for i in ids] == [m.UNCHANGED] * 3
    assert "nothing to change this time" in (run_row(db, ids[0]).reason or "")
    assert load_policy(db, CATEGORY).level == 4  # quiet days are not failures

    one_off = queue(db, tmp_path / "specs", "oneoff", quiet)
    assert Pipeline(home, db, one_off).execute() == m.FAILED  # a one-off asked for a change
