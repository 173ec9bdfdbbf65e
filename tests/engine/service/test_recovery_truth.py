"""Recovery tells the truth: a clean stop or a wait is not an interruption, an ended run
leaves no open gate, a run is merged only by its own merge (never another home's), a
reverted run is recorded reverted, and steps a dead engine left running are closed."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from andon.engine.errors import UserError
from andon.engine.gates.gate import decide_gate
from andon.engine.run.identity import home_id, trailers
from andon.engine.service import recovery
from andon.engine.workspace import merge as merging
from andon.engine.workspace import worktree as workspace
from andon.store import models as m
from andon.store.clock import utcnow
from andon.store.db import Database
from tests.conftest import git

HOST = socket.gethostname()


def _gone() -> str:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return f"{proc.pid}@{HOST}"


def _run(db: Database, checks: list[str] | None = None, **fields: Any) -> int:
    with db.write() as s:
        spec = m.Spec(path=f"/specs/{utcnow().timestamp()}.md", title="Greet",
                      category="feature", repo="r", checks=checks or [])
        s.add(spec)
        s.flush()
        run = m.Run(spec_id=spec.id or 0, title="Greet", category="feature", **fields)
        s.add(run)
        s.flush()
        return run.id or 0


def _get(db: Database, run_id: int) -> m.Run:
    with db.read() as s:
        run = s.get(m.Run, run_id)
        assert run is not None
        return run


def _gate(db: Database, run_id: int, kind: str = "review") -> int:
    with db.write() as s:
        gate = m.Gate(run_id=run_id, kind=kind, stage="review", title=f"{kind} it")
        s.add(gate)
        s.flush()
        return gate.id or 0


def test_a_wait_at_a_gate_or_a_clean_stop_is_not_an_interruption(db: Database) -> None:
    used_up = {"resumes": 3}
    waiting = _run(db, status=m.WAITING, stage="review", claimed_by=_gone(), data=used_up)
    working = _run(db, status=m.RUNNING, stage="implement", claimed_by=_gone(),
                   data=used_up)
    stopped = _run(db, status=m.RUNNING, stage="implement", claimed_by=_gone(),
                   data=used_up)
    held = _run(db, status=m.HELD, stage="merge", claimed_by=_gone(), data=used_up)
    # Its own (live) engine let it go when recording its end failed: a full disk.
    released = _run(db, status=m.RUNNING, stage="implement", claimed_by="1@me",
                    data=used_up)
    assert recovery.interrupt(db, stopped, "the engine stopped at a step boundary")

    done = {d.run_id: d.action for d in recovery.recover(db, own="1@me", max_resumes=3)}

    assert done == {waiting: "resumed", stopped: "resumed", working: "failed",
                    held: "resumed", released: "resumed"}
    for run_id in (waiting, stopped, held, released):
        run = _get(db, run_id)
        assert run.status == m.QUEUED and run.data["resumes"] == 3
        assert "not counted against max_resumes" in (run.reason or "")
    assert "interrupted 4 times" in (_get(db, working).reason or "")


def test_a_run_that_ends_voids_its_open_gates_and_a_late_decision_says_why(
        db: Database) -> None:
    run_id = _run(db, status=m.RUNNING, stage="review", claimed_by=_gone(),
                  data={"resumes": 3})
    review = _gate(db, run_id)
    notice = _gate(db, run_id, kind="post-merge")

    [item] = recovery.recover(db, own="1@me", max_resumes=3)

    assert item.action == "failed"
    with db.read() as s:
        gates = {g.id: g for g in s.exec(select(m.Gate).where(m.Gate.run_id == run_id))}
    assert gates[review].status == m.VOIDED
    assert gates[notice].status == m.PENDING  # a notice is for a person to read
    with pytest.raises(UserError, match=r"is closed: voided \(the run failed: interrupted"):
        decide_gate(db, review, "approve", user="ann")
    assert _get(db, run_id).status == m.FAILED


def _merge(repo: Path, trees: Path, home: str, run_id: int) -> str:
    """Run `run_id` of home `home` merged into main, as the pipeline does it."""
    ws = workspace.prepare(repo, "main", trees, run_id)
    (ws.path / f"{home}-{run_id}.txt").write_text("work\n")
    workspace.commit_all(ws, f"andon: attempt 1 for run {run_id}",
                         {"Andon-Run": str(run_id), "Andon-Home": home})
    result = merging.merge_run(ws, run_id, f"Merge andon run {run_id}\n\n"
                               f"{trailers(home, run_id)}", home=home)
    assert result.status == "merged" and result.commit
    workspace.remove(ws, delete_branch=True)
    return result.commit


def test_recovery_never_takes_another_homes_run_for_its_own(
        tmp_path: Path, db: Database, sample_repo: Path) -> None:
    other = Database(tmp_path / "other-home" / "andon.db")  # a second home, same repo
    try:
        started = git(sample_repo, "rev-parse", "main")
        theirs = _merge(sample_repo, tmp_path / "their-trees", home_id(other), 1)
        later = git(sample_repo, "rev-parse", "main")
        before = _run(db, status=m.RUNNING, stage="merge", claimed_by=_gone(),
                      repo_path=str(sample_repo), base="main", base_commit=started)
        after = _run(db, status=m.RUNNING, stage="merge", claimed_by=_gone(),
                     repo_path=str(sample_repo), base="main", base_commit=later)
        assert before == 1  # the same number as the other home's merged run

        done = {d.run_id: d.action for d in recovery.recover(db, own="1@me")}

        assert done == {before: "resumed", after: "resumed"}
        assert _get(db, before).merge_commit is None
        # Its own merge, once made, is found.
        ours = _merge(sample_repo, tmp_path / "our-trees", home_id(db), before)
        with db.write() as s:
            run = s.get(m.Run, before)
            assert run is not None
            run.status, run.claimed_by = m.RUNNING, _gone()
            s.add(run)
        done = {d.run_id: d.action for d in recovery.recover(db, own="1@me")}
        assert done[before] == "merged"
        assert _get(db, before).merge_commit == ours != theirs
    finally:
        other.close()


def test_a_reverted_run_is_recorded_reverted_whatever_the_resume_count(
        tmp_path: Path, db: Database, sample_repo: Path) -> None:
    started = git(sample_repo, "rev-parse", "main")
    run_id = _run(db, checks=["false"], status=m.RUNNING, stage="post-merge",
                  claimed_by=_gone(), repo_path=str(sample_repo), base="main",
                  base_commit=started)
    home = home_id(db)
    merged = _merge(sample_repo, tmp_path / "trees", home, run_id)
    git(sample_repo, "revert", "--no-edit", "-m", "1", merged)
    git(sample_repo, "commit", "--amend", "-q", "-m", f"Revert andon run {run_id}\n\n"
        f"Andon-Reverts: {run_id}\nAndon-Home: {home}")
    revert = git(sample_repo, "rev-parse", "main")
    with db.write() as s:
        run = s.get(m.Run, run_id)
        assert run is not None
        run.data = {"pipeline": {"merged": merged, "previous": started}}
        s.add(run)

    [item] = recovery.recover(db, own="1@me", max_resumes=0)

    assert item.action == "reverted"
    run = _get(db, run_id)
    assert run.status == m.REVERTED and run.merge_commit == merged
    assert revert[:10] in (run.reason or "")
    with db.read() as s:
        [notice] = s.exec(select(m.Gate).where(m.Gate.run_id == run_id)).all()
    assert notice.kind == "post-merge" and notice.status == m.PENDING
    assert notice.detail["revert_commit"] == revert


def test_steps_a_dead_engine_left_running_are_closed_as_interrupted(db: Database) -> None:
    run_id = _run(db, status=m.RUNNING, stage="merge", claimed_by=_gone())
    with db.write() as s:
        for name, status in (("main", "running"), ("main", "running"), ("commit", "ok")):
            s.add(m.Step(run_id=run_id, stage="merge", kind="merge", name=name,
                         status=status))

    recovery.recover(db, own="1@me")

    with db.read() as s:
        steps = s.exec(select(m.Step).where(m.Step.run_id == run_id)
                       .order_by(col(m.Step.id))).all()
    assert [step.status for step in steps] == ["interrupted", "interrupted", "ok"]
    assert all(step.finished_at is not None for step in steps[:2])
