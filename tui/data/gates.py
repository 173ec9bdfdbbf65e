"""The gates inbox's read model: pending gates with the runs they hold, oldest first."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select

from andon.store import models as m
from andon.store.db import Database


@dataclass(frozen=True)
class GateItem:
    """A pending gate with the run it holds (what the inbox lists)."""

    gate: m.Gate
    run: m.Run

    @property
    def id(self) -> int:
        return self.gate.id or 0


MAX_GATES = 500


def pending_gates(db: Database, limit: int = MAX_GATES) -> list[GateItem]:
    """Pending gates with their runs, oldest first (index ix_gates_status_created)."""
    query = (select(m.Gate, m.Run).join(m.Run, col(m.Run.id) == col(m.Gate.run_id))
             .where(m.Gate.status == m.PENDING)
             .order_by(col(m.Gate.created_at), col(m.Gate.id)).limit(limit))
    with db.read() as s:
        return [GateItem(gate, run) for gate, run in s.exec(query).all()]
