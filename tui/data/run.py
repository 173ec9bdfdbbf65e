"""One run's read model: the run, its spec, its open gate, its stage timeline, checks
and scenarios."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from andon.engine.gates.shadow import describe, shadow_decisions, shown_shadow
from andon.engine.llm.pricing import is_simulated
from andon.engine.run.control import CORD_KEY
from andon.store import models as m
from andon.store import queries as q
from andon.store.clock import as_utc
from andon.store.db import Database

StepRow = q.StepRow  # a check's or scenario's step, as widgets show it

# -- one run ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StageInfo:
    name: str
    state: str  # done, current, failed, waiting, held, skipped, pending
    started_at: datetime | None = None
    ended_at: datetime | None = None


@dataclass
class RunDetail:
    run: m.Run
    spec_path: str | None
    gate: m.Gate | None
    stages: list[StageInfo]
    checks: list[q.StepRow]
    scenarios: list[q.StepRow]
    now: datetime
    reviews: list[str] = field(default_factory=list)  # level 4's verdict beside the person's
    cord: dict[str, Any] | None = None  # the cord's state while pulled (by, reason, at)

    @property
    def simulated(self) -> bool:
        return is_simulated(self.run.model)


def stage_timeline(run: m.Run, entered: list[tuple[str, datetime]],
                   now: datetime) -> list[StageInfo]:
    """Each pipeline stage's state from the run's "stage" events (the last entry wins)."""
    first: dict[str, datetime] = {}
    last: dict[str, datetime] = {}
    order: list[str] = []
    for name, ts in entered:
        first.setdefault(name, ts)
        last[name] = ts
        order.append(name)
    current = run.stage if run.stage in m.STAGES else (order[-1] if order else None)
    ends: dict[str, datetime | None] = {}
    for i, (name, _ts) in enumerate(entered):
        ends[name] = entered[i + 1][1] if i + 1 < len(entered) else None
    finished = run.status in m.TERMINAL_STATUSES
    out = []
    current_index = m.STAGES.index(current) if current in m.STAGES else -1
    for index, name in enumerate(m.STAGES):
        if name == current:
            if run.status == m.MERGED or run.status == m.REVERTED:
                state = "done"
            elif finished:
                state = "cancelled" if run.status in (m.CANCELLED, m.UNCHANGED) else "failed"
            elif run.status in (m.WAITING, m.HELD, m.QUEUED):
                state = run.status
            else:
                state = "current"
            end = as_utc(run.finished_at) if finished else None
            out.append(StageInfo(name, state, first.get(name), end))
        elif name in first:
            out.append(StageInfo(name, "done", first[name], ends.get(name)))
        elif index < current_index:
            out.append(StageInfo(name, "skipped"))
        else:
            out.append(StageInfo(name, "pending"))
    return out


def load_run(db: Database, run_id: int, *, now: datetime) -> RunDetail | None:
    with db.read() as s:
        run = s.get(m.Run, run_id)
        if run is None:
            return None
        spec = s.get(m.Spec, run.spec_id)
        cord = s.get(m.Setting, CORD_KEY)
    events = q.run_events(db, run_id, kinds=("stage",), limit=100)
    steps = q.run_steps(db, run_id, kinds=("check", "scenario"), preview=20_000)
    return RunDetail(
        run=run, spec_path=spec.path if spec else None, gate=q.pending_gate_of(db, run_id),
        stages=stage_timeline(run, [(e.stage or e.message.split()[0], e.ts) for e in events],
                              now),
        checks=[st for st in steps if st.kind == "check"],
        scenarios=[st for st in steps if st.kind == "scenario"], now=now,
        reviews=[describe(shown) for row, gate in shadow_decisions(db, run_id)
                 if (shown := shown_shadow(row, gate)) is not None],
        cord=dict(cord.value) if cord is not None and cord.value else None)
