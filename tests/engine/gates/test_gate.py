"""Gates against a real SQLite store: a run waits on a gate until a person decides (from
this process or another), as the category's policy says; decisions are audited and
approvers enforced; timeouts never approve; a cancel voids the gate."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from andon.engine.agent.preview import preview as agent_preview
from andon.engine.agent.tools.editor import EditorTool
from andon.engine.errors import NotFound, UserError
from andon.engine.factory.home import Home
from andon.engine.gates.gate import (
    PolicyGatekeeper,
    decide_gate,
    expire_gates,
    list_gates,
    open_gate,
    wait_for_gate,
)
from andon.engine.gates.gatekeeper import Decision, ReviewDetail
from andon.engine.run.control import Cancelled, RunControl, Stopping
from andon.policies.level import Level
from andon.policies.policy import Policy
from andon.policies.stored import load_policy, save_policies
from andon.store import models as m
from andon.store.clock import utcnow
from andon.store.db import Database
from tests.conftest import git, make_repo

WAIT = 30.0  # seconds a test waits for something that should take milliseconds


def make_run(db: Database, category: str = "feature", level: int = 2,
             title: str = "Add whisper()") -> int:
    with db.write() as s:
        spec = m.Spec(path=f"/specs/{category}-{utcnow().timestamp()}.md", title=title,
                      category=category, repo="sample",
                      body="# Intent\nAdd whisper().\n\n## Acceptance criteria\n- it works\n")
        s.add(spec)
        s.flush()
        run = m.Run(spec_id=spec.id or 0, title=title, category=category, level=level,
                    status=m.RUNNING, stage="implement")
        s.add(run)
        s.flush()
        return run.id or 0


class Waiter:
    """Calls a gatekeeper method in a thread, as the pipeline's run thread would."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.returned_at: float | None = None
        self.thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self.thread.start()

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            self.result = call()
        except BaseException as exc:
            self.error = exc
        finally:
            self.returned_at = time.monotonic()

    def join(self) -> Any:
        self.thread.join(WAIT)
        assert not self.thread.is_alive(), "the run is still waiting"
        if self.error is not None:
            raise self.error
        return self.result


def pending_gate(db: Database, run_id: int) -> m.Gate:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        gates = list_gates(db, run_id=run_id)
        if gates:
            return gates[0]
        time.sleep(0.01)
    raise AssertionError(f"no gate opened on run {run_id}")


def run_row(db: Database, run_id: int) -> m.Run:
    with db.read() as s:
        run = s.get(m.Run, run_id)
        assert run is not None
        return run


def events(db: Database, run_id: int | None = None) -> list[m.Event]:
    with db.read() as s:
        query = select(m.Event).order_by(col(m.Event.id))
        if run_id is not None:
            query = query.where(m.Event.run_id == run_id)
        return list(s.exec(query).all())


def keeper(db: Database, run_id: int, category: str = "feature", level: int = 2,
           **fields: Any) -> PolicyGatekeeper:
    policy = Policy.model_validate({"category": category, "level": level, **fields})
    return PolicyGatekeeper(db, run_id, policy, poll=0.01)


# -- waiting and deciding ---------------------------------------------------------------


def test_a_run_waits_at_a_gate_until_a_person_approves(db: Database) -> None:
    run_id = make_run(db)
    gk = keeper(db, run_id)
    waiter = Waiter(lambda: gk.action("bash", {"command": "python -m pytest -q"}, ""))
    gate = pending_gate(db, run_id)
    assert (gate.kind, gate.title) == ("action", "run: python -m pytest -q")
    assert gate.detail["command"] == "python -m pytest -q"
    assert run_row(db, run_id).status == m.WAITING
    time.sleep(0.1)
    assert waiter.thread.is_alive()

    decided = decide_gate(db, gate.id or 0, "approve", user="alice")
    decision = waiter.join()
    assert decision == Decision("approved", "", "alice")
    assert (decided.status, decided.decided_by) == (m.APPROVED, "alice")
    assert decided.decided_at is not None
    run = run_row(db, run_id)
    assert run.status == m.RUNNING and run.human_touched
    kinds = [e.kind for e in events(db, run_id)]
    assert kinds == ["gate.opened", "gate.decided"]
    assert events(db, run_id)[-1].data == {"gate": gate.id, "kind": "action",
                                           "verdict": "approved", "by": "alice",
                                           "host": socket.gethostname(), "uid": os.getuid(),
                                           "comment": None}


def test_a_rejected_action_comes_back_with_the_comment(db: Database) -> None:
    run_id = make_run(db)
    gk = keeper(db, run_id)
    waiter = Waiter(lambda: gk.action("bash", {"command": "rm -rf build"}, ""))
    gate = pending_gate(db, run_id)
    with pytest.raises(UserError, match="needs a comment"):
        decide_gate(db, gate.id or 0, "reject", "  ", user="alice")
    decide_gate(db, gate.id or 0, "reject", "do not delete the build folder", user="alice")
    assert waiter.join() == Decision("rejected", "do not delete the build folder", "alice")


def test_an_edit_gate_shows_the_file_diff(db: Database, sample_repo: Path) -> None:
    run_id = make_run(db)
    gk = keeper(db, run_id)
    edit = {"command": "str_replace", "path": "sample/text.py",
            "old_str": 'return text.upper() + "!"', "new_str": 'return text.upper() + "!!"'}
    shown = agent_preview(EditorTool(sample_repo), edit)  # what the agent loop hands the gate
    waiter = Waiter(lambda: gk.action("str_replace_based_edit_tool", edit, shown))
    gate = pending_gate(db, run_id)
    assert gate.title == "edit sample/text.py"
    preview = gate.detail["preview"]
    assert '-    return text.upper() + "!"' in preview
    assert '+    return text.upper() + "!!"' in preview
    assert "+++ b/sample/text.py" in preview
    decide_gate(db, gate.id or 0, "approve", user="alice")
    assert waiter.join().approved


def test_a_gate_decided_by_another_process_wakes_the_run(
        home: Home, db: Database) -> None:
    run_id = make_run(db)
    gk = keeper(db, run_id)
    waiter = Waiter(lambda: gk.plan("1. add whisper()\n2. test it"))
    gate = pending_gate(db, run_id)
    assert gate.kind == "plan" and "add whisper()" in gate.detail["plan"]
    done = subprocess.run(
        [sys.executable, "-m", "andon.tui", "--home", str(home.root), "approve", str(gate.id),
         "--comment", "looks right"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"gate {gate.id} approved" in done.stdout
    decision = waiter.join()
    # How soon it wakes is bench/daemon_latency.py's to measure, not a test's.
    assert decision.approved and decision.comment == "looks right"


def test_deciding_twice_or_an_unknown_gate_is_a_clear_error(db: Database) -> None:
    run_id = make_run(db)
    gate = open_gate(db, run_id, "review", "review: Add whisper()", {"diff": ""})
    decide_gate(db, gate.id or 0, "approve", user="alice")
    with pytest.raises(UserError, match=rf"gate {gate.id} was already approved by alice"):
        decide_gate(db, gate.id or 0, "reject", "too late", user="bob")
    with pytest.raises(NotFound, match="no gate 999"):
        decide_gate(db, 999, "approve", user="alice")
    with pytest.raises(UserError, match="unknown decision 'maybe'"):
        decide_gate(db, gate.id or 0, "maybe", user="alice")


def test_actions_cannot_be_revised_but_reviews_can(db: Database) -> None:
    run_id = make_run(db)
    action = open_gate(db, run_id, "action", "run: make", {"command": "make"})
    with pytest.raises(UserError, match="is an action gate: only review, plan and conflict"):
        decide_gate(db, action.id or 0, "revise", "use ninja", user="alice")
    decide_gate(db, action.id or 0, "approve", user="alice")

    gk = keeper(db, run_id, level=3)
    waiter = Waiter(lambda: gk.review(ReviewDetail(diff="", numstat="")))
    review = pending_gate(db, run_id)
    assert review.kind == "review"
    with pytest.raises(UserError, match="needs a comment"):
        decide_gate(db, review.id or 0, "revise", "", user="alice")
    decide_gate(db, review.id or 0, "revise", "also handle empty strings", user="alice")
    assert waiter.join() == Decision("revised", "also handle empty strings", "alice")


def test_approvers_are_enforced(db: Database) -> None:
    policy = load_policy(db, "migration").model_copy(update={"approvers": ["alice", "bob"]})
    save_policies(db, [policy], user="alice", reason="only the DBAs")
    run_id = make_run(db, "migration")
    gate = open_gate(db, run_id, "review", "review: add a column", {})
    with pytest.raises(UserError) as refused:
        decide_gate(db, gate.id or 0, "approve", user="mallory")
    assert str(refused.value) == ("mallory may not decide gates of category 'migration': "
                                  "its approvers are alice, bob")
    still = list_gates(db, run_id=run_id)
    assert [g.status for g in still] == [m.PENDING]
    assert not run_row(db, run_id).human_touched
    assert decide_gate(db, gate.id or 0, "approve", user="bob").decided_by == "bob"


# -- the policy decides where gates open ------------------------------------------------


EDIT = {"command": "create", "path": "notes.txt", "file_text": "hi\n"}


@pytest.mark.parametrize("level", [3, 4])
def test_levels_3_and_4_run_edits_and_commands_without_a_gate(db: Database,
                                                              level: int) -> None:
    run_id = make_run(db, level=level)
    gk = keeper(db, run_id, level=level)
    assert gk.action("bash", {"command": "make"}, "").approved
    assert gk.action("str_replace_based_edit_tool", EDIT, "").approved
    assert list_gates(db, pending_only=False, run_id=run_id) == []


@pytest.mark.parametrize(("level", "plan_gate", "gated"), [
    (2, True, True), (3, False, False), (3, True, True), (4, False, False)])
def test_the_plan_is_gated_at_level_2_and_at_3_when_the_policy_asks(
        db: Database, level: int, plan_gate: bool, gated: bool) -> None:
    run_id = make_run(db, level=level)
    gk = keeper(db, run_id, level=level, plan_gate=plan_gate)
    if not gated:
        assert gk.plan("1. do it").approved
        assert list_gates(db, pending_only=False, run_id=run_id) == []
        return
    waiter = Waiter(lambda: gk.plan("1. do it"))
    gate = pending_gate(db, run_id)
    decide_gate(db, gate.id or 0, "reject", "split it in two", user="alice")
    assert waiter.join() == Decision("rejected", "split it in two", "alice")


def _changed_repo(tmp_path: Path, files: dict[str, str]) -> tuple[str, str]:
    repo = make_repo(tmp_path / "repo")
    base = git(repo, "rev-parse", "HEAD")
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "change")
    return (git(repo, "diff", "--no-color", base), git(repo, "diff", "--numstat", base))


def test_level_3_gates_the_review_with_everything_a_person_needs(
        db: Database, tmp_path: Path) -> None:
    diff, numstat = _changed_repo(tmp_path, {"sample/extra.py": "X = 1\n"})
    run_id = make_run(db, level=3)
    gk = keeper(db, run_id, level=3)
    checks = [{"command": "pytest -q", "passed": True, "exit_code": 0}]
    detail = ReviewDetail(diff=diff, numstat=numstat, checks=checks, satisfaction=1.0,
                          spend={"usd": 0.2, "turns": 0.1, "minutes": 0.05})
    waiter = Waiter(lambda: gk.review(detail))
    gate = pending_gate(db, run_id)
    assert gate.kind == "review" and gate.title == "review: Add whisper()"
    assert "+X = 1" in gate.detail["diff"]
    assert gate.detail["checks"] == checks
    assert gate.detail["satisfaction"] == 1.0 and gate.detail["threshold"] == 0.9
    assert "Acceptance criteria" in gate.detail["spec"]["body"]
    decide_gate(db, gate.id or 0, "approve", user="alice")
    assert waiter.join().approved


def test_level_4_merges_without_a_person_when_no_rule_trips(db: Database,
                                                             tmp_path: Path) -> None:
    diff, numstat = _changed_repo(tmp_path, {"docs/guide.md": "# Guide\n"})
    run_id = make_run(db, "docs", level=4)
    gk = keeper(db, run_id, "docs", level=4, protected_paths=["**/*.py"])
    assert gk.review(ReviewDetail(diff=diff, numstat=numstat, satisfaction=1.0)).approved
    assert list_gates(db, pending_only=False, run_id=run_id) == []
    assert not run_row(db, run_id).escalated


def test_level_4_escalates_when_a_protected_path_is_touched(db: Database,
                                                            tmp_path: Path) -> None:
    diff, numstat = _changed_repo(tmp_path, {"docs/guide.md": "# Guide\n",
                                             "sample/conf.py": "DEBUG = True\n"})
    run_id = make_run(db, "docs", level=4)
    gk = keeper(db, run_id, "docs", level=4, protected_paths=["**/*.py"])
    waiter = Waiter(lambda: gk.review(ReviewDetail(diff=diff, numstat=numstat,
                                                   satisfaction=1.0)))
    gate = pending_gate(db, run_id)
    assert gate.kind == "escalation"
    assert "protected_path" in gate.title
    assert gate.detail["rules"] == [{"rule": "protected_path", "detail":
                                     "touches protected path: sample/conf.py (**/*.py)"}]
    assert "+DEBUG = True" in gate.detail["diff"]
    run = run_row(db, run_id)
    assert run.escalated and run.status == m.WAITING
    escalated = [e for e in events(db, run_id) if e.kind == "run.escalated"]
    assert "protected_path" in escalated[0].message
    decide_gate(db, gate.id or 0, "reject", "docs runs do not touch code", user="alice")
    assert not waiter.join().approved


def test_an_escalation_opens_a_gate_at_level_3_too(db: Database, tmp_path: Path) -> None:
    diff, numstat = _changed_repo(tmp_path, {"requirements.txt": "requests\n"})
    run_id = make_run(db, level=3)
    gk = keeper(db, run_id, level=3)
    waiter = Waiter(lambda: gk.review(ReviewDetail(diff=diff, numstat=numstat,
                                                   satisfaction=0.5,
                                                   spend={"usd": 0.85})))
    gate = pending_gate(db, run_id)
    assert gate.kind == "escalation"
    assert [r["rule"] for r in gate.detail["rules"]] == [
        "dependency_changed", "budget_spent", "satisfaction_low"]
    assert not run_row(db, run_id).escalated  # only level 4 runs count as escalated
    decide_gate(db, gate.id or 0, "revise", "no new dependency, please", user="alice")
    assert waiter.join().verdict == "revised"


def test_a_budget_breach_asks_or_fails_as_the_policy_says(db: Database) -> None:
    run_id = make_run(db, level=4)
    failing = keeper(db, run_id, level=4)  # level 4 default: on_budget = "fail"
    decision = failing.budget("turns: 41 of 40")
    assert decision == Decision("rejected", "budget exceeded: turns: 41 of 40", None)
    assert list_gates(db, pending_only=False, run_id=run_id) == []

    asking = keeper(db, run_id, level=4, on_budget="gate")
    waiter = Waiter(lambda: asking.budget("dollars: $2.10 of $2.00"))
    gate = pending_gate(db, run_id)
    assert gate.kind == "budget" and gate.detail["breach"] == "dollars: $2.10 of $2.00"
    assert "one more allotment" in gate.detail["approve_means"]
    decide_gate(db, gate.id or 0, "approve", user="alice")
    assert waiter.join().approved


# -- timeouts and cancels ---------------------------------------------------------------


def _make_overdue(db: Database, gate_id: int) -> None:
    with db.write() as s:
        gate = s.get(m.Gate, gate_id)
        assert gate is not None
        gate.timeout_at = utcnow() - timedelta(seconds=1)
        s.add(gate)


def test_a_reject_timeout_rejects_and_never_approves(db: Database) -> None:
    run_id = make_run(db, "migration")
    gk = keeper(db, run_id, "migration", gate_timeout=30, timeout_decision="reject")
    waiter = Waiter(lambda: gk.action("bash", {"command": "alembic upgrade head"}, ""))
    gate = pending_gate(db, run_id)
    assert gate.detail["timeout"] == {"minutes": 30, "decision": "reject"}
    assert gate.timeout_at is not None
    _make_overdue(db, gate.id or 0)  # half an hour passes with nobody answering
    decision = waiter.join()
    assert decision.verdict == "rejected" and decision.by is None
    assert "no decision after 30 minutes: rejected by policy" in decision.comment
    closed = list_gates(db, pending_only=False, run_id=run_id)[0]
    assert closed.status == m.TIMED_OUT and closed.decided_by == "andon"
    assert not run_row(db, run_id).human_touched
    with pytest.raises(UserError, match="timed out and was rejected by policy"):
        decide_gate(db, gate.id or 0, "approve", user="alice")


def test_a_hold_timeout_keeps_the_gate_open_for_a_person(db: Database) -> None:
    run_id = make_run(db, "bugfix", level=3)
    gk = keeper(db, run_id, "bugfix", level=3, gate_timeout=60, timeout_decision="hold")
    waiter = Waiter(lambda: gk.review(ReviewDetail(diff="", numstat="")))
    gate = pending_gate(db, run_id)
    later = utcnow() + timedelta(minutes=61)
    changed = expire_gates(db, now=later)  # the daemon's housekeeping pass
    assert [g.id for g in changed] == [gate.id]
    assert expire_gates(db, now=later) == []  # marked once
    held = list_gates(db, run_id=run_id)[0]
    assert held.status == m.PENDING
    assert held.detail["timeout"]["expired_at"]
    assert run_row(db, run_id).status == m.WAITING
    timed = [e for e in events(db, run_id) if e.kind == "gate.timed_out"]
    assert len(timed) == 1 and "still open" in timed[0].message
    time.sleep(0.1)
    assert waiter.thread.is_alive()
    decide_gate(db, gate.id or 0, "approve", user="alice")
    assert waiter.join() == Decision("approved", "", "alice")


def test_a_timeout_that_says_approve_holds_instead(db: Database) -> None:
    run_id = make_run(db)
    gate = open_gate(db, run_id, "action", "run: deploy", {}, timeout_minutes=1,
                     timeout_decision="approve")
    assert gate.detail["timeout"]["decision"] == "hold"
    expire_gates(db, now=utcnow() + timedelta(minutes=2))
    assert list_gates(db, run_id=run_id)[0].status == m.PENDING
    with pytest.raises(ValueError, match="never approves"):
        Policy.model_validate({"category": "x", "timeout_decision": "approve"})


def test_a_cancel_voids_the_open_gate(db: Database) -> None:
    run_id = make_run(db)
    gate = open_gate(db, run_id, "action", "run: make", {"command": "make"})
    waiter = Waiter(lambda: wait_for_gate(db, gate.id or 0, poll=0.01))
    with db.write() as s:
        run = s.get(m.Run, run_id)
        assert run is not None
        run.cancel_requested = True
        s.add(run)
    with pytest.raises(Cancelled):
        waiter.join()
    voided = list_gates(db, pending_only=False, run_id=run_id)[0]
    assert voided.status == m.VOIDED
    with pytest.raises(UserError, match="is closed: voided"):
        decide_gate(db, gate.id or 0, "approve", user="alice")


def test_a_resumed_run_waits_on_the_gate_it_had_opened(db: Database) -> None:
    run_id = make_run(db)
    first = open_gate(db, run_id, "plan", "plan for: Add whisper()", {"plan": "a"})
    again = open_gate(db, run_id, "plan", "plan for: Add whisper()", {"plan": "a"})
    assert again.id == first.id
    assert len(list_gates(db, pending_only=False, run_id=run_id)) == 1


def test_a_decision_made_while_the_engine_was_stopped_stands(db: Database) -> None:
    run_id = make_run(db)
    stop = threading.Event()
    gk = PolicyGatekeeper(db, run_id, Policy.default("feature", 2),
                          control=RunControl(db, run_id, stop=stop), poll=0.01)
    waiter = Waiter(lambda: gk.action("bash", {"command": "make"}, ""))
    gate = pending_gate(db, run_id)
    stop.set()  # the engine shuts down while the run waits
    with pytest.raises(Stopping):
        waiter.join()
    decide_gate(db, gate.id or 0, "reject", "use make -j4", user="alice")

    resumed = keeper(db, run_id)  # the engine is back; the run asks the same again
    assert resumed.action("bash", {"command": "make"}, "") == Decision(
        "rejected", "use make -j4", "alice")
    assert len(list_gates(db, pending_only=False, run_id=run_id)) == 1
    # Having taken that answer, the same command later is a new question.
    waiter = Waiter(lambda: resumed.action("bash", {"command": "make"}, ""))
    second = pending_gate(db, run_id)
    assert second.id != gate.id
    decide_gate(db, second.id or 0, "approve", user="alice")
    assert waiter.join().approved


# -- the circuit breaker ----------------------------------------------------------------


def test_the_breaker_demotes_a_dark_category_after_failures_in_a_row(db: Database) -> None:
    assert load_policy(db, "docs").level == Level.DARK  # seeded: demote_after = 2
    first = make_run(db, "docs", level=4)
    _end(db, first, m.FAILED)
    keeper(db, first, "docs", level=4).finished(m.FAILED)
    assert load_policy(db, "docs").level == Level.DARK  # one failure is not a streak

    second = make_run(db, "docs", level=4)
    _end(db, second, m.FAILED)
    keeper(db, second, "docs", level=4).finished(m.FAILED)
    assert load_policy(db, "docs").level == Level.SPEC_DRIVEN
    with db.read() as s:
        change = s.exec(select(m.PolicyChange).where(m.PolicyChange.category == "docs")
                        .order_by(col(m.PolicyChange.id).desc())).first()
    assert change is not None
    assert (change.field, change.old, change.new, change.user) == ("level", 4, 3, "andon")
    assert "circuit breaker" in (change.reason or "")
    told = [e for e in events(db) if e.kind == "policy.demoted"]
    assert len(told) == 1 and told[0].data["category"] == "docs"
    assert "docs demoted from level 4 to level 3" in told[0].message


def _end(db: Database, run_id: int, status: str) -> None:
    with db.write() as s:
        run = s.get(m.Run, run_id)
        assert run is not None
        run.status = status
        run.finished_at = utcnow()
        s.add(run)


def test_a_reverted_dark_merge_tells_a_person_and_demotes_at_once(db: Database) -> None:
    run_id = make_run(db, "docs", level=4, title="Document shout()")
    with db.write() as s:
        run = s.get(m.Run, run_id)
        assert run is not None
        run.status, run.merged_at, run.finished_at = m.REVERTED, utcnow(), utcnow()
        s.add(run)
    gk = keeper(db, run_id, "docs", level=4)
    gk.post_merge({"base": "main", "failures": ["pytest -q (exit 1)"],
                   "revert_commit": "abc123"})
    notice = list_gates(db, run_id=run_id)
    assert [(g.kind, g.title) for g in notice] == [
        ("post-merge", "reverted after merge: Document shout()")]
    assert notice[0].detail["failures"] == ["pytest -q (exit 1)"]
    assert run_row(db, run_id).status == m.REVERTED  # a notice does not make it wait
    assert load_policy(db, "docs").level == Level.SPEC_DRIVEN
    gk.finished(m.REVERTED)  # the run ends: the notice stays, no second demotion
    assert [g.status for g in list_gates(db, run_id=run_id)] == [m.PENDING]
    assert len([e for e in events(db) if e.kind == "policy.demoted"]) == 1
    decide_gate(db, notice[0].id or 0, "approve", "seen; fixing the test", user="alice")
    assert not run_row(db, run_id).human_touched
