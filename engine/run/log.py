"""How a run tells the store what it is doing: events, steps and run fields.

Each call is its own short write transaction, so a crash never loses what was already
said, and the board (reading in another process) sees progress as it happens.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from andon.engine.run.status import transition
from andon.engine.textcap import cap
from andon.store import models as m
from andon.store.clock import utcnow
from andon.store.db import Database

STEP_OUTPUT_LIMIT = 64_000


@dataclass
class StepHandle:
    """A step being recorded; set fields on it inside the `with` block."""

    id: int
    status: str = "ok"
    output: str | None = None
    exit_code: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


class RunLog:
    def __init__(self, db: Database, run_id: int) -> None:
        self.db = db
        self.run_id = run_id
        self.stage: str | None = None

    def event(self, kind: str, message: str = "", *, stage: str | None = None,
              **data: Any) -> None:
        with self.db.write() as s:
            s.add(m.Event(run_id=self.run_id, kind=kind, stage=stage or self.stage,
                          message=message, data=data or None))

    def enter(self, stage: str) -> None:
        """Move the run to a stage, and say so."""
        self.stage = stage
        with self.db.write() as s:
            run = s.get(m.Run, self.run_id)
            assert run is not None
            run.stage = stage
            run.heartbeat_at = utcnow()
            s.add(m.Event(run_id=self.run_id, kind="stage", stage=stage,
                          message=f"{stage} started"))

    def update(self, **fields: Any) -> m.Run:
        """Write run fields other than its status (that is `transition`'s)."""
        if "status" in fields:
            raise TypeError("a run's status changes through RunLog.transition")
        with self.db.write() as s:
            run = s.get(m.Run, self.run_id)
            assert run is not None
            for key, value in fields.items():
                setattr(run, key, value)
            run.heartbeat_at = utcnow()
            s.add(run)
        return run

    def transition(self, to: str, why: str, *, event: str | None = None,
                   detail: dict[str, Any] | None = None, **fields: Any) -> m.Run:
        """Move the run from the status it has now to `to` (see `andon.engine.run.status`),
        in a write transaction of its own."""
        with self.db.write() as s:
            run = s.get(m.Run, self.run_id)
            assert run is not None
            return transition(s, run, to, why, event=event, detail=detail,
                              **{"heartbeat_at": utcnow(), **fields})

    def run(self) -> m.Run:
        with self.db.read() as s:
            run = s.get(m.Run, self.run_id)
            assert run is not None
            return run

    @contextmanager
    def step(self, kind: str, name: str = "", *, input: Any = None,
             stage: str | None = None) -> Iterator[StepHandle]:
        with self.db.write() as s:
            new = m.Step(run_id=self.run_id, stage=stage or self.stage or "", kind=kind,
                         name=name, input=input)
            s.add(new)
            s.flush()
            handle = StepHandle(id=new.id or 0)
        try:
            yield handle
        except BaseException as exc:
            handle.status = "error"
            handle.output = (handle.output or "") + f"\n{type(exc).__name__}: {exc}"
            raise
        finally:
            with self.db.write() as s:
                step = s.get(m.Step, handle.id)
                if step is not None:
                    step.status = handle.status
                    step.output = cap(handle.output, STEP_OUTPUT_LIMIT) if handle.output else None
                    step.exit_code = handle.exit_code
                    step.data = handle.data
                    step.finished_at = utcnow()
