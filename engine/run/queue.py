"""Submitting specs and claiming queued runs.

A spec is parsed and validated before anything is written, so a malformed one never
touches the queue. Claiming happens inside one BEGIN IMMEDIATE transaction, so two
engines never take the same run.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Collection
from pathlib import Path
from typing import Any

from sqlmodel import col, select

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
        policy = s.get(m.PolicyRow, spec_row.category)
        run = m.Run(
            spec_id=spec_row.id or 0,
            title=spec_row.title,
            category=spec_row.category,
            level=level or (policy.level if policy else 2),
            priority=spec_row.priority,
            model=spec_row.model or "",
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
               exclude_categories: Collection[str] = ()) -> m.Run | None:
    """Take the highest-priority, oldest queued run and mark it running.

    Runs of `exclude_categories` (at their concurrency limit, or out of today's budget)
    are passed over and stay queued.
    """
    with db.write() as s:
        query = select(m.Run).where(m.Run.status == m.QUEUED)
        if exclude_categories:
            query = query.where(col(m.Run.category).notin_(list(exclude_categories)))
        run = s.exec(
            query.order_by(col(m.Run.priority).desc(), col(m.Run.id)).limit(1)
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


def get_run(db: Database, run_id: int) -> m.Run:
    with db.read() as s:
        run = s.get(m.Run, run_id)
        if run is None:
            raise NotFound(f"no run {run_id}")
        return run
