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
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from andon.engine.run.state import PipelineState
from andon.engine.run.status import StatusConflict, transition
from andon.engine.workspace import processes
from andon.engine.workspace.git import GitError, try_git
from andon.store import models as m
from andon.store.clock import as_utc, utcnow
from andon.store.db import Database

log = logging.getLogger("andon.recovery")

ORPHAN_STATUSES = (m.RUNNING, m.WAITING, m.HELD)
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


def _mark_interrupted(db: Database, run_id: int, why: str) -> bool:
    with db.write() as s:
        run = s.get(m.Run, run_id)
        if run is None or run.status not in ORPHAN_STATUSES:
            return False
        transition(s, run, m.INTERRUPTED, why, reason=why,
                   detail={"claimed_by": run.claimed_by})
        return True


def merged_commit(run: m.Run) -> str | None:
    """The commit that merged this run into its base, if the merge already happened."""
    if run.merge_commit:
        return run.merge_commit
    if not run.repo_path or not Path(run.repo_path).exists():
        return None
    base = run.base or "main"
    try:
        status, out, _ = try_git(run.repo_path, "log", "--max-count=1", "--format=%H",
                                 "--fixed-strings", f"--grep=Andon-Run: {run.id}",
                                 f"refs/heads/{base}")
    except (GitError, OSError):
        return None
    if status != 0 or not out.strip():
        return None
    # The grep may match "Andon-Run: 12" inside "Andon-Run: 123": check the trailer.
    sha = out.strip().splitlines()[0]
    status, body, _ = try_git(run.repo_path, "log", "-1", "--format=%B", sha)
    lines = {line.strip() for line in body.splitlines()}
    return sha if f"Andon-Run: {run.id}" in lines else None


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
    """Decide what an interrupted run becomes: merged, failed or queued to resume."""
    with db.read() as s:
        run = s.get(m.Run, run_id)
        assert run is not None
        spec = s.get(m.Spec, run.spec_id)
    if run.status != m.INTERRUPTED:  # someone else settled it meanwhile
        return Recovered(run_id, "none", f"already {run.status}")
    ended = end_leftovers(run)
    now = utcnow()
    late = run.stage in ("merge", "post-merge") or bool(run.merge_commit)
    commit = merged_commit(run) if late else None
    resumes = int((run.data or {}).get("resumes", 0))
    watched = PipelineState.of(run).watched
    if commit and (watched or spec is None or not spec.checks or resumes >= max_resumes):
        action, status = "merged", m.MERGED
        reason = f"merged into {run.base or 'main'} as {commit[:10]} before its engine stopped"
    elif commit:
        # Merged, but its checks have not run on the merged base yet: resume, and the
        # pipeline (which never merges twice) goes on to the post-merge watch.
        action, status = "resumed", m.QUEUED
        reason = (f"merged into {run.base or 'main'} as {commit[:10]} before its engine "
                  f"stopped; queued to run its post-merge watch")
    elif spec is None:
        action, status = "failed", m.FAILED
        reason = "cannot resume: its spec is no longer stored"
    elif resumes >= max_resumes:
        action, status = "failed", m.FAILED
        reason = (f"interrupted {resumes + 1} times (last in stage {run.stage or '-'}); "
                  f"not resuming again (max_resumes = {max_resumes})")
    else:
        action, status = "resumed", m.QUEUED
        reason = (f"queued to resume from its last checkpoint (stage {run.stage or '-'}, "
                  f"resume {resumes + 1} of {max_resumes})")
    reason += ended
    data = {k: v for k, v in (run.data or {}).items() if k != processes.RUN_KEY}
    fields: dict[str, Any] = {"reason": reason, "claimed_by": None, "data": data}
    if status == m.QUEUED:
        fields["data"] = {**data, "resumes": resumes + 1, "resume": True}
    elif status == m.MERGED:
        fields.update(merge_commit=commit, merged_at=run.merged_at or now)
    try:
        with db.write() as s:  # compare-and-set: unless someone else settled it meanwhile
            transition(s, run, status, reason,
                       event="run.resumed" if status == m.QUEUED else None, **fields)
    except StatusConflict as lost:
        return Recovered(run_id, "none", f"already {lost.found}")
    log.info("run %s: %s", run_id, reason)
    return Recovered(run_id, action, reason)


def recover(db: Database, *, own: str, active: Collection[int] = (),
            stale_after: float = DEFAULT_STALE_AFTER,
            max_resumes: int = DEFAULT_MAX_RESUMES) -> list[Recovered]:
    """Mark orphaned runs interrupted, then settle every interrupted run."""
    for run in orphans(db, own=own, active=active, stale_after=stale_after):
        who = run.claimed_by or "no engine"
        why = (f"its engine ({who}) stopped while it was {run.status} in stage "
               f"{run.stage or '-'}")
        _mark_interrupted(db, run.id or 0, why)
    with db.read() as s:
        ids = [r.id or 0 for r in s.exec(select(m.Run).where(m.Run.status == m.INTERRUPTED)
                                          .order_by(col(m.Run.id))).all()]
    return [settle(db, run_id, max_resumes=max_resumes) for run_id in ids
            if run_id not in active]


def interrupt(db: Database, run_id: int, why: str) -> bool:
    """Mark a run this engine is leaving (a graceful stop) as interrupted."""
    return _mark_interrupted(db, run_id, why)
