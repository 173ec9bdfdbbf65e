"""The agent loop's writes to the store: few transactions, plain INSERT/UPDATE statements.

A turn costs three short write transactions (engine.agent.loop): the reply (its step, usage,
flight recording, events, run totals and checkpoint together), opening a tool call's
step, and the tool's result (its step finished, its event and the checkpoint). These
helpers write inside a session the caller opened with `Database.write()`, with Core
statements rather than ORM objects: the loop runs them every turn, and the board reads
the same rows (`store.models` Step, Event, Usage, Exchange, Run).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, update
from sqlmodel import Session

from andon.engine.run.log import STEP_OUTPUT_LIMIT
from andon.engine.textcap import cap
from andon.store import models as m
from andon.store.clock import utcnow

Said = tuple[str, str, dict[str, Any]]  # an event: kind, message, data


@dataclass(frozen=True)
class TurnUsage:
    fresh: int  # input_tokens (not from or into the cache)
    output: int
    cache_write: int
    cache_read: int
    cost: float | None  # None: unknown price

    @property
    def tokens(self) -> int:
        return self.fresh + self.output + self.cache_write + self.cache_read


# Statements built once: the loop runs them every turn.
_EVENTS = m.Event.__table__.insert()  # type: ignore[attr-defined]
_STEPS = m.Step.__table__.insert()  # type: ignore[attr-defined]
_USAGE = m.Usage.__table__.insert()  # type: ignore[attr-defined]
_EXCHANGES = m.Exchange.__table__.insert()  # type: ignore[attr-defined]
_step = m.Step.__table__.c  # type: ignore[attr-defined]
_FINISH = update(m.Step.__table__).where(_step.id == bindparam("p_id")).values(  # type: ignore[attr-defined]
    status=bindparam("p_status"), output=bindparam("p_output"),
    exit_code=bindparam("p_exit_code"), finished_at=bindparam("p_finished_at"))
_run = m.Run.__table__.c  # type: ignore[attr-defined]
_totals = {
    "turns": _run.turns + 1,
    "tokens_in": _run.tokens_in + bindparam("p_fresh"),
    "tokens_out": _run.tokens_out + bindparam("p_output"),
    "cache_write": _run.cache_write + bindparam("p_write"),
    "cache_read": _run.cache_read + bindparam("p_read"),
    "heartbeat_at": bindparam("p_now"),
}
_where_run = _run.id == bindparam("p_run")
# once any turn's cost is unknown, the run's cost is unknown (never 0)
_TOTALS_PRICED = update(m.Run.__table__).where(_where_run).values(  # type: ignore[attr-defined]
    cost_usd=case((_run.cost_usd.is_(None), None), else_=_run.cost_usd + bindparam("p_cost")),
    **_totals)
_TOTALS_UNPRICED = update(m.Run.__table__).where(_where_run).values(  # type: ignore[attr-defined]
    cost_usd=None, **_totals)


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


def add_turn(s: Session, run_id: int, turn: int, model: str, usage: TurnUsage,
             request: Any, response: Any) -> None:
    """The turn's usage row, its flight recording, and the run's totals."""
    now = utcnow()
    conn = s.connection()
    conn.execute(_USAGE, {
        "run_id": run_id, "turn": turn, "model": model, "input_tokens": usage.fresh,
        "output_tokens": usage.output, "cache_creation_tokens": usage.cache_write,
        "cache_read_tokens": usage.cache_read, "cost_usd": usage.cost, "ts": now})
    conn.execute(_EXCHANGES, {"run_id": run_id, "turn": turn, "request": request,
                              "response": response, "ts": now})
    totals = {"p_run": run_id, "p_fresh": usage.fresh, "p_output": usage.output,
              "p_write": usage.cache_write, "p_read": usage.cache_read, "p_now": now}
    if usage.cost is None:
        conn.execute(_TOTALS_UNPRICED, totals)
    else:
        conn.execute(_TOTALS_PRICED, {**totals, "p_cost": usage.cost})
