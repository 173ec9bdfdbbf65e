"""Reads shared by the CLI, the board and the engine. Every one is an indexed query."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, func, select

from store import models as m
from store.db import Database


def list_runs(db: Database, *, limit: int = 50, offset: int = 0,
              statuses: Sequence[str] | None = None,
              category: str | None = None) -> list[m.Run]:
    query = select(m.Run)
    if statuses:
        query = query.where(col(m.Run.status).in_(statuses))
    if category:
        query = query.where(m.Run.category == category)
    query = query.order_by(col(m.Run.id).desc()).offset(offset).limit(limit)
    with db.read() as s:
        return list(s.exec(query).all())


def count_runs(db: Database, statuses: Sequence[str] | None = None) -> int:
    query = select(func.count()).select_from(m.Run)
    if statuses:
        query = query.where(col(m.Run.status).in_(statuses))
    with db.read() as s:
        return int(s.exec(query).one())


def steps_of(db: Database, run_id: int) -> list[m.Step]:
    with db.read() as s:
        return list(s.exec(select(m.Step).where(m.Step.run_id == run_id)
                           .order_by(col(m.Step.id))).all())


def events_of(db: Database, run_id: int, *, after_id: int = 0,
              limit: int | None = None) -> list[m.Event]:
    query = (select(m.Event).where(m.Event.run_id == run_id, col(m.Event.id) > after_id)
             .order_by(col(m.Event.id)))
    if limit:
        query = query.limit(limit)
    with db.read() as s:
        return list(s.exec(query).all())


def spec_of(db: Database, run: m.Run) -> m.Spec | None:
    with db.read() as s:
        return s.get(m.Spec, run.spec_id)
