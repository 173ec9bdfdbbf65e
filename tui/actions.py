"""What a person can do from the control room, as plain functions over the store.

Each returns a sentence for a notification, or raises `engine.errors.UserError` with one
for the person. They run in thread workers (they write to SQLite and may run git). The
engine picks the writes up: the TUI never executes runs itself.
"""

from __future__ import annotations

from andon.engine.errors import NotFound, UserError
from andon.engine.factory.home import Home
from andon.engine.pipeline.postmerge import revert_merged_run
from andon.engine.run.queue import enqueue, get_run
from andon.engine.run.status import transition
from andon.policies.stored import current_user
from andon.store import models as m
from andon.store.clock import utcnow
from andon.store.db import Database

CANCELLABLE = m.ACTIVE_STATUSES
RETRYABLE = (m.FAILED, m.STUCK, m.REJECTED, m.CANCELLED, m.REVERTED, m.INTERRUPTED)


def decide(db: Database, gate_id: int, verdict: str, comment: str | None = None,
           user: str | None = None) -> str:
    """Approve, reject or revise a gate (engine.gates.gate.decide_gate enforces the rules)."""
    from andon.engine.gates.gate import decide_gate

    gate = decide_gate(db, gate_id, verdict, comment, user or current_user())
    return f"gate {gate_id} {gate.status} by {gate.decided_by}"


def cancel(db: Database, run_id: int, user: str | None = None) -> str:
    """Ask a run to stop. A queued run is cancelled at once (nothing runs it yet); a
    started one stops at its next step boundary (engine.run.control reads cancel_requested)."""
    who = user or current_user()
    now = utcnow()
    with db.write() as s:
        run = s.get(m.Run, run_id)
        if run is None:
            raise NotFound(f"no run {run_id}")
        if run.status not in CANCELLABLE:
            raise UserError(f"run {run_id} is {run.status}: only an active run can be cancelled")
        run.human_touched = True
        if run.status == m.QUEUED:
            transition(s, run, m.CANCELLED, f"cancelled by {who} before it started",
                       reason=f"cancelled by {who}", finished_at=now)
            said = f"run {run_id} cancelled"
        else:
            if run.cancel_requested:
                return f"run {run_id}: cancel already requested"
            run.cancel_requested = True
            s.add(m.Event(run_id=run_id, kind="run.cancel_requested", stage=run.stage,
                          message=f"cancel requested by {who}", data={"by": who}))
            said = f"run {run_id}: cancel requested, it stops at its next step"
        s.add(run)
    return said


def retry(db: Database, run_id: int) -> tuple[str, int]:
    """Queue the run's spec again; returns the sentence and the new run's number."""
    run = get_run(db, run_id)
    if run.status not in RETRYABLE:
        raise UserError(f"run {run_id} is {run.status}: retry a run that ended without merging")
    with db.read() as s:
        spec = s.get(m.Spec, run.spec_id)
    if spec is None:
        raise UserError(f"run {run_id}'s spec is gone from the store")
    new = enqueue(db, spec, reason=f"retry of run {run_id}")
    return f"run {run_id} queued again as run {new.id}", new.id or 0


def revert(home: Home, db: Database, run_id: int, user: str | None = None) -> str:
    """Revert a merged run's change on its base branch (engine.pipeline.postmerge does the git)."""
    run = get_run(db, run_id)
    if run.status != m.MERGED:
        raise UserError(f"run {run_id} is {run.status}: only a merged run can be reverted")
    revert_merged_run(home, db, run_id, user=user or current_user())
    return f"run {run_id} reverted"


def pull_cord(db: Database, reason: str | None, user: str | None = None) -> str:
    from andon.engine.service.cord import pull

    change = pull(db, reason, user)
    return "cord pulled: the line stops" if change.changed else "the cord was already pulled"


def release_cord(db: Database, user: str | None = None) -> str:
    from andon.engine.service.cord import release

    change = release(db, user)
    return "cord released: the line runs" if change.changed else "the cord was not pulled"
