"""Recovery of runs whose engine died: requeued to resume, finished as merged when the
merge already happened (never merged twice), failed when resuming is pointless; runs of
live processes are left alone; events written before the crash all stay."""

from __future__ import annotations

import socket
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from andon.engine.run.identity import home_id
from andon.engine.service import recovery
from andon.store import models as m
from andon.store.clock import utcnow
from andon.store.db import Database
from tests.conftest import git
from tests.support.rows import add_run

HOST = socket.gethostname()


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _run(db: Database, **fields: Any) -> int:
    with db.write() as s:
        run = add_run(s, **fields)
        s.add(m.Event(run_id=run.id, kind="stage", stage=fields.get("stage"),
                      message="before the crash"))
        return run.id or 0


def _get(db: Database, run_id: int) -> m.Run:
    with db.read() as s:
        run = s.get(m.Run, run_id)
        assert run is not None
        return run


def _kinds(db: Database, run_id: int) -> list[str]:
    with db.read() as s:
        return [e.kind for e in s.exec(select(m.Event).where(m.Event.run_id == run_id)
                                       .order_by(col(m.Event.id))).all()]


def test_orphans_are_resumed_and_live_claims_left_alone(db: Database) -> None:
    gone = f"{dead_pid()}@{HOST}"
    orphan = _run(db, status=m.RUNNING, stage="implement", claimed_by=gone)
    held = _run(db, status=m.HELD, stage="implement", claimed_by=gone)
    with subprocess.Popen(["sleep", "30"]) as alive:
        try:
            live = _run(db, status=m.RUNNING, stage="implement",
                        claimed_by=f"{alive.pid}@{HOST}")
            remote_fresh = _run(db, status=m.WAITING, stage="review",
                                claimed_by="77@elsewhere", heartbeat_at=utcnow())
            remote_stale = _run(db, status=m.RUNNING, stage="implement",
                                claimed_by="77@elsewhere",
                                heartbeat_at=utcnow() - timedelta(minutes=30))
            done = recovery.recover(db, own="1@me", stale_after=300)
        finally:
            alive.kill()

    assert {d.run_id: d.action for d in done} == {orphan: "resumed", held: "resumed",
                                                  remote_stale: "resumed"}
    run = _get(db, orphan)
    assert run.status == m.QUEUED and run.claimed_by is None
    assert run.data["resumes"] == 1 and run.stage == "implement"
    assert "stage implement" in (run.reason or "")
    assert _kinds(db, orphan) == ["stage", "run.interrupted", "run.resumed"]
    assert _get(db, live).status == m.RUNNING
    assert _get(db, remote_fresh).status == m.WAITING


def test_a_run_merged_before_the_crash_is_finished_not_merged_again(
        db: Database, sample_repo: Path) -> None:
    gone = f"{dead_pid()}@{HOST}"
    # Run 12's merge commit is on main; run 1 must not mistake it for its own.
    other = _run(db, status=m.MERGED)
    started, home = git(sample_repo, "rev-parse", "HEAD"), home_id(db)
    run_id = _run(db, status=m.RUNNING, stage="merge", claimed_by=gone,
                  repo_path=str(sample_repo), base="main", base_commit=started)
    git(sample_repo, "commit", "-q", "--allow-empty", "-m",
        f"Merge andon run {run_id}\n\nAndon-Run: {run_id}\nAndon-Home: {home}")
    merge = git(sample_repo, "rev-parse", "HEAD")
    git(sample_repo, "commit", "-q", "--allow-empty", "-m",
        f"Merge andon run {other}{other}\n\nAndon-Run: {other}{other}\nAndon-Home: {home}")
    lonely = _run(db, status=m.RUNNING, stage="merge", claimed_by=gone,
                  repo_path=str(sample_repo), base="main", base_commit=started)

    done = {d.run_id: d for d in recovery.recover(db, own="1@me")}

    assert done[run_id].action == "merged"
    run = _get(db, run_id)
    assert run.status == m.MERGED and run.merge_commit == merge
    assert run.finished_at is not None and merge[:10] in (run.reason or "")
    assert _kinds(db, run_id)[-1] == "run.merged"
    assert done[lonely].action == "resumed"  # nothing of its own on main: resume


def test_too_many_interruptions_fail_with_the_reason(db: Database) -> None:
    run_id = _run(db, status=m.RUNNING, stage="validate",
                  claimed_by=f"{dead_pid()}@{HOST}", data={"resumes": 3})
    [item] = recovery.recover(db, own="1@me", max_resumes=3)
    assert item.action == "failed"
    run = _get(db, run_id)
    assert run.status == m.FAILED
    assert "interrupted 4 times" in (run.reason or "")
    assert "max_resumes" in (run.reason or "")


def test_runs_left_interrupted_by_a_graceful_stop_are_resumed(db: Database) -> None:
    run_id = _run(db, status=m.INTERRUPTED, stage="implement", claimed_by="5@elsewhere")
    [item] = recovery.recover(db, own="1@me")
    assert item.action == "resumed" and _get(db, run_id).status == m.QUEUED


def test_own_pid_from_a_previous_life_is_an_orphan_but_active_runs_are_not(
        db: Database) -> None:
    own = f"4242@{HOST}"
    mine = _run(db, status=m.RUNNING, stage="implement", claimed_by=own)
    also = _run(db, status=m.RUNNING, stage="implement", claimed_by=own)
    done = recovery.recover(db, own=own, active={mine})
    assert [d.run_id for d in done] == [also]
    assert _get(db, mine).status == m.RUNNING


def test_a_run_merged_before_its_post_merge_watch_is_resumed_to_watch(
        db: Database, sample_repo: Path) -> None:
    gone = f"{dead_pid()}@{HOST}"
    with db.write() as s:
        spec = m.Spec(path="/specs/checked.md", title="Checked", category="feature",
                      repo="r", checks=["python -m pytest -q"])
        s.add(spec)
        s.flush()
        spec_id = spec.id
    merge = git(sample_repo, "rev-parse", "HEAD")
    with db.write() as s:
        run = m.Run(spec_id=spec_id or 0, title="Checked", category="feature",
                    status=m.RUNNING, stage="post-merge", claimed_by=gone,
                    repo_path=str(sample_repo), base="main", merge_commit=merge,
                    data={"pipeline": {"merged": merge}})
        s.add(run)
        s.flush()
        run_id = run.id or 0

    done = {d.run_id: d for d in recovery.recover(db, own="1@me")}

    assert done[run_id].action == "resumed"
    row = _get(db, run_id)
    assert row.status == m.QUEUED and "post-merge watch" in (row.reason or "")
