"""Recovery: what becomes of runs whose engine died under them.

A run is orphaned when it is running, waiting at a gate or held, and the process that
claimed it (`claimed_by` = "pid@host") is gone: on this host its pid no longer exists
(or is this very process, which cannot have claimed it before starting); on another
host its heartbeat is older than `stale_after` seconds. Runs an engine stopped on
purpose are already "interrupted".

Each orphan is marked interrupted (an event says why), then:

* merged already (its merge commit is recorded, or the base branch has a commit with
  the trailer `Andon-Run: <id>`): never merged again. When its spec has checks that
  have not yet run on the merged base, it is queued to resume, and the pipeline goes
  straight on to the post-merge watch; otherwise it is finished as merged;
* interrupted too often (`max_resumes`), or its spec is gone: it fails, saying why;
* otherwise it is queued again to resume: the pipeline picks it up from its worktree
  and last checkpoint.

Before any of that, what the dead engine started outside the sandbox (a setup command
and all it spawned, found by the token in their environment: engine.workspace.processes) is
ended, so a resumed run never runs its setup twice at once.

Events are never rewritten: everything a run said before the crash stays.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from andon.engine.gates.gate import breaker_after, open_gate
from andon.engine.run.identity import home_id
from andon.engine.run.state import PipelineState
from andon.engine.run.status import LOST_WORK, StatusConflict, transition
from andon.engine.workspace import processes
from andon.engine.workspace.git import GitError
from andon.engine.workspace.merge import already_merged, reverted
from andon.store import models as m
from andon.store.clock import as_utc, utcnow
from andon.store.db import Database

log = logging.getLogger("andon.recovery")

ORPHAN_STATUSES = (m.RUNNING, m.WAITING, m.HELD)
INTERRUPTED_STEP = "interrupted"  # a step its dead engine left running
DEFAULT_MAX_RESUMES = 3
DEFAULT_STALE_AFTER = 300.0


@dataclass(frozen=True)
class Recovered:
    run_id: int
    action: str  # "resumed", "merged", "failed"
    reason: str


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) is gone for our purposes.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            state = fh.read().rsplit(")", 1)[-1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return True


def claim_alive(run: m.Run, *, own: str, active: Collection[int],
                stale_after: float) -> bool:
    """Is the engine that claimed this run still working on it?"""
    claimed = run.claimed_by or ""
    if claimed == own:
        return (run.id or 0) in active
    pid_text, _, host = claimed.partition("@")
    if host == socket.gethostname():
        try:
            return pid_alive(int(pid_text))
        except ValueError:
            return False
    if not host:
        return False
    beat = as_utc(run.heartbeat_at) if run.heartbeat_at else None
    return beat is not None and utcnow() - beat < timedelta(seconds=stale_after)


def orphans(db: Database, *, own: str, active: Collection[int] = (),
            stale_after: float = DEFAULT_STALE_AFTER) -> list[m.Run]:
    with db.read() as s:
        rows = s.exec(select(m.Run).where(col(m.Run.status).in_(ORPHAN_STATUSES))
                      .order_by(col(m.Run.id))).all()
    return [r for r in rows if not claim_alive(r, own=own, active=active,
                                               stale_after=stale_after)]


def _mark_interrupted(db: Database, run_id: int, why: str, *, lost_work: bool) -> bool:
    with db.write() as s:
        run = s.get(m.Run, run_id)
        if run is None or run.status not in ORPHAN_STATUSES:
            return False
        transition(s, run, m.INTERRUPTED, why, reason=why,
                   data={**(run.data or {}), LOST_WORK: lost_work},
                   detail={"claimed_by": run.claimed_by, LOST_WORK: lost_work})
        return True


def merged_commit(run: m.Run, home: str | None) -> str | None:
    """The commit that merged this run (of home `home`) into its base, if the merge
    already happened: its own merge, found among what the base gained since the run
    started, never another home's run of the same number."""
    if run.merge_commit:
        return run.merge_commit
    if not (run.repo_path and run.base_commit and Path(run.repo_path).exists()):
        return None
    try:
        return already_merged(run.repo_path, run.base or "main", run.id or 0,
                              run.base_commit, home)
    except (GitError, OSError):
        return None


def _revert_of(run: m.Run, commit: str, home: str | None) -> str | None:
    if not run.repo_path:
        return None
    try:
        return reverted(run.repo_path, run.base or "main", run.id or 0, commit, home)
    except (GitError, OSError):
        return None


def end_leftovers(run: m.Run) -> str:
    """End what the run's dead engine started outside the sandbox (a setup command and
    everything it spawned), so a resumed run never runs it twice at once; says what."""
    record = (run.data or {}).get(processes.RUN_KEY)
    if not isinstance(record, dict) or not record.get("token"):
        return ""
    command = record.get("command", "?")
    if record.get("host") != socket.gethostname():
        return (f"; its setup command `{command}` may still run on {record.get('host')}, "
                "where its engine ran")
    killed = processes.end_all(str(record["token"]))
    if not killed:
        return ""
    log.warning("run %s: ended %d process(es) left by its setup command `%s`", run.id,
                len(killed), command)
    return f"; ended {len(killed)} process(es) left by its setup command `{command}`"


def settle(db: Database, run_id: int, *, max_resumes: int = DEFAULT_MAX_RESUMES) -> Recovered:
    """Decide what an interrupted run becomes: merged (or reverted), failed or queued to
    resume. What the base holds decides, whatever the count of resumes."""
    with db.read() as s:
        run = s.get(m.Run, run_id)
        assert run is not None
        spec = s.get(m.Spec, run.spec_id)
    if run.status != m.INTERRUPTED:  # someone else settled it meanwhile
        return Recovered(run_id, "none", f"already {run.status}")
    ended = end_leftovers(run)
    now, base, home = utcnow(), run.base or "main", home_id(db)
    late = run.stage in ("merge", "post-merge") or bool(run.merge_commit)
    commit = merged_commit(run, home) if late else None
    revert = _revert_of(run, commit, home) if commit else None
    data = {k: v for k, v in (run.data or {}).items() if k != processes.RUN_KEY}
    counted = bool(data.pop(LOST_WORK, True))  # a clean stop or a wait costs nothing
    resumes = int(data.get("resumes", 0))
    spent = counted and resumes >= max_resumes
    watched = PipelineState.of(run).watched
    if commit and revert:
        action, status = "reverted", m.REVERTED
        reason = (f"reverted on {base} as {revert[:10]} after its merge {commit[:10]}: the "
                  f"checks failed after the merge (found when its engine stopped)")
    elif commit and (watched or spec is None or not spec.checks or spent):
        action, status = "merged", m.MERGED
        reason = f"merged into {base} as {commit[:10]} before its engine stopped"
    elif commit:
        # Merged, but its checks have not run on the merged base yet: resume, and the
        # pipeline (which never merges twice) goes on to the post-merge watch.
        action, status = "resumed", m.QUEUED
        reason = (f"merged into {base} as {commit[:10]} before its engine "
                  f"stopped; queued to run its post-merge watch")
    elif spec is None:
        action, status = "failed", m.FAILED
        reason = "cannot resume: its spec is no longer stored"
    elif spent:
        action, status = "failed", m.FAILED
        reason = (f"interrupted {resumes + 1} times (last in stage {run.stage or '-'}); "
                  f"not resuming again (max_resumes = {max_resumes})")
    elif counted:
        action, status = "resumed", m.QUEUED
        reason = (f"queued to resume from its last checkpoint (stage {run.stage or '-'}, "
                  f"resume {resumes + 1} of {max_resumes})")
    else:
        action, status = "resumed", m.QUEUED
        reason = (f"queued to resume from its last checkpoint (stage {run.stage or '-'}; "
                  f"a clean stop, not counted against max_resumes)")
    reason += ended
    fields: dict[str, Any] = {"reason": reason, "claimed_by": None, "data": data}
    if status == m.QUEUED:
        fields["data"] = {**data, "resumes": resumes + int(counted), "resume": True}
    if status in (m.MERGED, m.REVERTED):
        fields.update(merge_commit=commit, merged_at=run.merged_at or now)
    try:
        with db.write() as s:  # compare-and-set: unless someone else settled it meanwhile
            transition(s, run, status, reason,
                       event="run.resumed" if status == m.QUEUED else None, **fields)
            _close_steps(s, run_id, now)
    except StatusConflict as lost:
        return Recovered(run_id, "none", f"already {lost.found}")
    if status == m.REVERTED:  # what the post-merge watch would have said and done
        open_gate(db, run_id, "post-merge", f"reverted after merge: {run.title}",
                  {"base": base, "merge_commit": commit, "revert_commit": revert,
                   "failures": [], "spec": run.title})
        breaker_after(db, run_id)
    log.info("run %s: %s", run_id, reason)
    return Recovered(run_id, action, reason)


def _close_steps(s: Session, run_id: int, now: datetime) -> None:
    """Steps its dead engine left "running" did not finish: say so."""
    for step in s.exec(select(m.Step).where(m.Step.run_id == run_id,
                                            m.Step.status == "running")).all():
        step.status, step.finished_at = INTERRUPTED_STEP, now
        s.add(step)


def recover(db: Database, *, own: str, active: Collection[int] = (),
            stale_after: float = DEFAULT_STALE_AFTER,
            max_resumes: int = DEFAULT_MAX_RESUMES) -> list[Recovered]:
    """Mark orphaned runs interrupted, then settle every interrupted run."""
    for run in orphans(db, own=own, active=active, stale_after=stale_after):
        who = run.claimed_by or "no engine"
        if who == own:  # this engine let it go: recording its end failed (a full disk)
            why = (f"held: its engine could not record how it went on in stage "
                   f"{run.stage or '-'} (a failed write); it resumes now")
        else:
            why = (f"its engine ({who}) stopped while it was {run.status} in stage "
                   f"{run.stage or '-'}")
        # Only a crash mid-work costs work: a run waiting at a gate or held lost none,
        # nor one its own engine let go after a failed write.
        lost = run.status == m.RUNNING and who != own
        _mark_interrupted(db, run.id or 0, why, lost_work=lost)
    with db.read() as s:
        ids = [r.id or 0 for r in s.exec(select(m.Run).where(m.Run.status == m.INTERRUPTED)
                                          .order_by(col(m.Run.id))).all()]
    return [settle(db, run_id, max_resumes=max_resumes) for run_id in ids
            if run_id not in active]


def interrupt(db: Database, run_id: int, why: str, *, lost_work: bool = False) -> bool:
    """Mark a run this engine is leaving as interrupted. A stop (a drain, even one cut
    short by its timeout, which a person or the service manager asked for) is not a
    crash: it never counts against max_resumes unless `lost_work` says so."""
    return _mark_interrupted(db, run_id, why, lost_work=lost_work)
