"""A run's status, and the one function that changes it.

Every change of a run's status goes through `transition`. It checks the move against
`ALLOWED`, writes the new status (with the caller's other run fields) in one
compare-and-set UPDATE (`... WHERE status = <the status the caller saw>`) and appends
the event that says so, all inside the caller's write transaction: a gate decision and
the status change it causes commit together or not at all, and a writer that acted on
a stale view of the run loses cleanly (`StatusConflict`) instead of overwriting what
another writer decided.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlmodel import Session, col, select

from andon.policies.stored import ANDON
from andon.store import models as m
from andon.store.clock import utcnow

# Where a run may go from each status. A run merges only from "running" (its pipeline)
# or "interrupted" (recovery finding its merge on the base); ended runs stay ended,
# except that a person may revert a merged one.
_ENDED_EARLY = frozenset({m.FAILED, m.STUCK, m.REJECTED, m.CANCELLED})
ALLOWED: Mapping[str, frozenset[str]] = {
    m.QUEUED: frozenset({m.RUNNING, m.CANCELLED}),
    m.RUNNING: frozenset({m.WAITING, m.HELD, m.INTERRUPTED, *m.TERMINAL_STATUSES}),
    # Waiting again (another gate) or held again (the cord, then the model service) says
    # why anew without the run having moved.
    m.WAITING: frozenset({m.WAITING, m.RUNNING, m.INTERRUPTED, *_ENDED_EARLY}),
    m.HELD: frozenset({m.HELD, m.RUNNING, m.INTERRUPTED, *_ENDED_EARLY}),
    m.INTERRUPTED: frozenset({m.QUEUED, m.RUNNING, m.MERGED, m.REVERTED, m.FAILED,
                              m.CANCELLED}),
    m.MERGED: frozenset({m.REVERTED}),
}


#: Kept in run.data while a run is interrupted: did the interruption cost work (a crash
#: mid-step) or not (a clean stop at a step boundary, a wait at a gate)? Only the first
#: kind counts against max_resumes.
LOST_WORK = "lost_work"


class IllegalTransition(RuntimeError):
    """A move the table does not allow: a bug in the caller, never a person's mistake."""


class StatusConflict(RuntimeError):
    """Another writer moved the run first; nothing of this transition was written."""

    def __init__(self, run_id: int, expected: str, found: str | None) -> None:
        self.run_id, self.expected, self.found = run_id, expected, found
        super().__init__(f"run {run_id} is {found or 'gone'}, not {expected}: another "
                         f"writer moved it first")


def allowed(old: str, new: str) -> bool:
    return new in ALLOWED.get(old, frozenset())


def transition(session: Session, run: m.Run, to: str, why: str, *,
               event: str | None = None, detail: dict[str, Any] | None = None,
               **fields: Any) -> m.Run:
    """Move `run` from the status it has (as the caller read it) to `to`, in the
    caller's write transaction: the status, `fields` (other run columns: reason,
    claimed_by, ...) and an event (`event`, default "run.<to>", message `why`, data
    `detail`).
    An ended run gets `finished_at`, a merged one `merged_at` (unless given), and its
    open gates are voided: nobody can answer for a run that is over.
    Returns the run as now stored. Raises IllegalTransition for a move `ALLOWED` does not
    list, StatusConflict when the stored status is no longer the caller's."""
    if "status" in fields:
        raise TypeError("the new status is the `to` argument")
    old, run_id = run.status, run.id
    if run_id is None:
        raise IllegalTransition("a run that is not stored yet has no status to change")
    if not allowed(old, to):
        raise IllegalTransition(f"run {run_id}: {old} -> {to} is not an allowed transition")
    now = utcnow()
    values: dict[str, Any] = {**fields, "status": to}
    if to in m.TERMINAL_STATUSES:
        values.setdefault("finished_at", now)
    if to == m.MERGED and run.merged_at is None:
        values.setdefault("merged_at", now)
    moved = cast(CursorResult[Any], session.execute(
        update(m.Run).where(col(m.Run.id) == run_id, col(m.Run.status) == old)
        .values(**values).execution_options(synchronize_session=False)))
    if moved.rowcount != 1:
        stored = session.get(m.Run, run_id, populate_existing=True)
        raise StatusConflict(run_id, old, stored.status if stored else None)
    stored = session.get(m.Run, run_id, populate_existing=True)
    assert stored is not None
    session.add(m.Event(run_id=run_id, kind=event or f"run.{to}", stage=stored.stage,
                        message=why, data=detail or None))
    if to in m.TERMINAL_STATUSES:
        void_open_gates(session, run_id, f"the run {to}: {why}")
    return stored


def void_open_gates(session: Session, run_id: int, reason: str) -> list[int]:
    """Close a run's open gates (notices stay for a person to read); `reason` is what a
    person deciding one later is told."""
    now, voided = utcnow(), []
    for gate in session.exec(select(m.Gate).where(m.Gate.run_id == run_id,
                                                  m.Gate.status == m.PENDING)).all():
        if gate.kind in m.NOTICE_KINDS:
            continue
        gate.status, gate.decided_at, gate.decided_by = m.VOIDED, now, ANDON
        gate.comment = reason
        session.add(gate)
        session.add(m.Event(run_id=run_id, kind="gate.voided", stage=gate.stage,
                            message=f"gate {gate.id} voided: {reason}",
                            data={"gate": gate.id, "kind": gate.kind}))
        voided.append(gate.id or 0)
    return voided
