"""A model call's records: its usage row, its flight recording and the run's totals.

Written by `engine.llm.client.ModelClient.record` inside the caller's write session,
with Core statements built once (the agent loop writes them every turn).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, case, select, update
from sqlmodel import Session

from andon.store import models as m
from andon.store.clock import utcnow


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


_EVENTS = m.Event.__table__.insert()  # type: ignore[attr-defined]
_EXCHANGES = m.Exchange.__table__.insert()  # type: ignore[attr-defined]
_run = m.Run.__table__.c  # type: ignore[attr-defined]
# the row carries its run's category (spend today reads it from the usage index alone)
_USAGE = m.Usage.__table__.insert().values(  # type: ignore[attr-defined]
    category=select(_run.category).where(_run.id == bindparam("p_of_run")).scalar_subquery())
_totals = {
    "turns": _run.turns + bindparam("p_turns"),
    "tokens_in": _run.tokens_in + bindparam("p_fresh"),
    "tokens_out": _run.tokens_out + bindparam("p_output"),
    "cache_write": _run.cache_write + bindparam("p_write"),
    "cache_read": _run.cache_read + bindparam("p_read"),
    "heartbeat_at": bindparam("p_now"),
}
_where_run = _run.id == bindparam("p_run")
# once any call's cost is unknown, the run's cost is unknown (never 0)
_TOTALS_PRICED = update(m.Run.__table__).where(_where_run).values(  # type: ignore[attr-defined]
    cost_usd=case((_run.cost_usd.is_(None), None), else_=_run.cost_usd + bindparam("p_cost")),
    **_totals)
_TOTALS_UNPRICED = update(m.Run.__table__).where(_where_run).values(  # type: ignore[attr-defined]
    cost_usd=None, **_totals)


def add_call(s: Session, run_id: int, turn: int, model: str, usage: TurnUsage,
             request: Any, response: Any, purpose: str = "agent") -> None:
    """A model call's usage row, its flight recording, and the run's totals (only the
    agent's calls count as turns)."""
    now = utcnow()
    conn = s.connection()
    conn.execute(_USAGE, {
        "run_id": run_id, "turn": turn, "model": model, "input_tokens": usage.fresh,
        "output_tokens": usage.output, "cache_creation_tokens": usage.cache_write,
        "cache_read_tokens": usage.cache_read, "cost_usd": usage.cost, "ts": now,
        "purpose": purpose, "p_of_run": run_id})
    conn.execute(_EXCHANGES, {"run_id": run_id, "turn": turn, "request": request,
                              "response": response, "ts": now, "purpose": purpose})
    totals = {"p_run": run_id, "p_turns": int(purpose == "agent"), "p_fresh": usage.fresh,
              "p_output": usage.output, "p_write": usage.cache_write,
              "p_read": usage.cache_read, "p_now": now}
    if usage.cost is None:
        conn.execute(_TOTALS_UNPRICED, totals)
    else:
        conn.execute(_TOTALS_PRICED, {**totals, "p_cost": usage.cost})


def add_event(s: Session, run_id: int, stage: str | None, kind: str, message: str) -> None:
    s.connection().execute(_EVENTS, {"run_id": run_id, "ts": utcnow(), "kind": kind,
                                     "stage": stage, "message": message, "data": None})
