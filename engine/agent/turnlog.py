"""The agent loop's writes to the store: few transactions, plain INSERT/UPDATE statements.

A turn costs three short write transactions (engine.agent.loop): the reply (its step, usage,
flight recording, events, run totals and checkpoint together; the model call's own records
are engine.llm.usage's), opening a tool call's
step, and the tool's result (its step finished, its event and the checkpoint). These
helpers write inside a session the caller opened with `Database.write()`, with Core
statements rather than ORM objects: the loop runs them every turn, and the board reads
the same rows (`store.models` Step, Event, Usage, Exchange, Run).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlmodel import Session

from andon.engine.run.log import STEP_OUTPUT_LIMIT
from andon.engine.textcap import cap
from andon.store import models as m
from andon.store.clock import utcnow

Said = tuple[str, str, dict[str, Any]]  # an event: kind, message, data


# Statements built once: the loop runs them every turn.
_EVENTS = m.Event.__table__.insert()  # type: ignore[attr-defined]
_STEPS = m.Step.__table__.insert()  # type: ignore[attr-defined]
_step = m.Step.__table__.c  # type: ignore[attr-defined]
_FINISH = update(m.Step.__table__).where(_step.id == bindparam("p_id")).values(  # type: ignore[attr-defined]
    status=bindparam("p_status"), output=bindparam("p_output"),
    exit_code=bindparam("p_exit_code"), finished_at=bindparam("p_finished_at"))
def add_events(s: Session, run_id: int, stage: str | None, events: Sequence[Said]) -> None:
    if events:
        now = utcnow()
        s.connection().execute(_EVENTS, [
            {"run_id": run_id, "ts": now, "kind": kind, "stage": stage, "message": message,
             "data": data or None} for kind, message, data in events])


def step_values(run_id: int, stage: str | None, kind: str, name: str, started: datetime, *,
                status: str = "ok", output: str | None = None, input: Any = None,
                data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"run_id": run_id, "stage": stage or "implement", "kind": kind, "name": name,
            "status": status, "input": input,
            "output": cap(output, STEP_OUTPUT_LIMIT) if output else None,
            "exit_code": None, "started_at": started,
            "finished_at": None if status == "running" else utcnow(), "data": data or {}}


def add_step(s: Session, values: dict[str, Any]) -> int:
    result = s.connection().execute(_STEPS, values)
    key = result.inserted_primary_key
    assert key is not None  # an INSERT always has one
    return int(key[0])


def finish_step(s: Session, step_id: int, *, status: str, output: str | None,
                exit_code: int | None) -> None:
    s.connection().execute(_FINISH, {
        "p_id": step_id, "p_status": status, "p_exit_code": exit_code,
        "p_output": cap(output, STEP_OUTPUT_LIMIT) if output else None,
        "p_finished_at": utcnow()})
