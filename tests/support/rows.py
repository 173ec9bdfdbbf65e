"""Store rows for tests that need a run and nothing around it."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from andon.store import models as m


def add_run(s: Session, **fields: Any) -> m.Run:
    """A run (category feature unless told) on the store's first spec (made when there
    is none), flushed."""
    spec = s.exec(select(m.Spec)).first()
    if spec is None:
        spec = m.Spec(path="/specs/x.md", title="X", category="feature", repo="r")
        s.add(spec)
        s.flush()
    run = m.Run(**{"spec_id": spec.id or 0, "title": "X", "category": "feature", **fields})
    s.add(run)
    s.flush()
    return run
