"""Submitting specs and claiming queued runs.

A spec is parsed and validated before anything is written, so a malformed one never
touches the queue. Claiming happens inside one write transaction (SQLite's BEGIN
IMMEDIATE, PostgreSQL's writers' lock, the row taken FOR UPDATE SKIP LOCKED), so two
engines never take the same run, and a category's limit counts every engine's runs.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Collection, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, func, select

from andon.engine.errors import NotFound
from andon.engine.run.status import transition
from andon.engine.spec.specfile import Spec, parse_spec, spec_fields
from andon.store import models as m
from andon.store.clock import utcnow
from andon.store.db import Database


def owner_id() -> str:
    return f"{os.getpid()}@{socket.gethostname()}"


def upsert_spec(db: Database, spec: Spec) -> m.Spec:
    fields = spec_fields(spec)
    with db.write() as s:
        row = s.exec(select(m.Spec).where(m.Spec.path == fields["path"])).first()
        if row is None:
            row = m.Spec(**fields)
        else:
            for key, value in fields.items():
                setattr(row, key, value)
            row.updated_at = utcnow()
            row.active = True
        s.add(row)
        s.flush()
        return row


def enqueue(db: Database, spec_row: m.Spec, *, level: int | None = None,
            reason: str = "submitted") -> m.Run:
    """Queue a run of a stored spec. The level is the category's level at dispatch time."""
    with db.write() as s:
        return queue_in(s, spec_row, level=level, reason=reason)


def queue_in(s: Session, spec_row: m.Spec, *, level: int | None = None,
             reason: str = "submitted", tick: datetime | None = None) -> m.Run:
    """`enqueue` inside the caller's write transaction; `tick`, a recurring spec's cron
    time, is unique per spec (a second run for it fails the insert)."""
    policy = s.get(m.PolicyRow, spec_row.category)
    run = m.Run(
        spec_id=spec_row.id or 0,
        title=spec_row.title,
        category=spec_row.category,
        level=level or (policy.level if policy else 2),
        priority=spec_row.priority,
        model=spec_row.model or "",
        tick=tick,
    )
    s.add(run)
    s.flush()
    s.add(m.Event(run_id=run.id, kind="run.queued",
                  message=f"queued: {spec_row.title} ({reason})"))
    return run


def submit(db: Database, path: Path | str) -> m.Run:
    spec = parse_spec(path)  # raises SpecError before anything is written
    return enqueue(db, upsert_spec(db, spec))


def claim_next(db: Database, owner: str | None = None, *,
               exclude_categories: Collection[str] = (),
               limits: Mapping[str, int] | None = None) -> m.Run | None:
    """Take the highest-priority, oldest queued run and mark it running.

    Runs of `exclude_categories` (at their concurrency limit, or out of today's budget)
    are passed over and stay queued, as are those of a category whose `limits` entry is
    reached by the runs every engine of the factory has going (counted in the claim's
    own transaction).
    """
    with db.write() as s:
        excluded = set(exclude_categories) | _full(s, limits or {})
        query = select(m.Run).where(m.Run.status == m.QUEUED)
        if excluded:
            query = query.where(col(m.Run.category).notin_(sorted(excluded)))
        run = s.exec(
            query.order_by(col(m.Run.priority).desc(), col(m.Run.id)).limit(1)
            .with_for_update(skip_locked=True)  # (SQLite has no row locks: not rendered)
        ).first()
        if run is None:
            return None
        now, claimed_by = utcnow(), owner or owner_id()
        fields: dict[str, Any] = {"claimed_by": claimed_by, "heartbeat_at": now,
                                     "started_at": run.started_at or now}
        if run.reason and run.reason.startswith("waiting:"):
            fields["reason"] = None  # why it waited (a budget, a limit) is over
        return transition(s, run, m.RUNNING, f"claimed by {claimed_by}",
                          event="run.started", **fields)


GOING = (m.RUNNING, m.WAITING)  # claimed and not ended: what a category's limit counts


def _full(s: Session, limits: Mapping[str, int]) -> set[str]:
    """Categories whose runs going, on any engine, reach their limit."""
    if not limits:
        return set()
    counts = dict(s.exec(
        select(m.Run.category, func.count())
        .where(col(m.Run.status).in_(GOING), col(m.Run.category).in_(sorted(limits)))
        .group_by(m.Run.category)).all())
    return {cat for cat, limit in limits.items() if counts.get(cat, 0) >= limit}


def get_run(db: Database, run_id: int) -> m.Run:
    with db.read() as s:
        run = s.get(m.Run, run_id)
        if run is None:
            raise NotFound(f"no run {run_id}")
        return run
