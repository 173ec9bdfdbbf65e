"""The agent's checkpoints: where a conversation stands, so a run resumes without redoing work.

One `store.models.Checkpoint` row per (run, attempt, turn). It is written in the same
transaction as the turn's usage and recording, right after the model's reply arrives,
with phase "tools"; then updated after every tool call completes (its tool_result is
kept in `results`), and once all are done the tool results join `messages` and the
phase becomes "model" (the next thing to do is ask the model). A finished conversation
is phase "ended" with the result's status and reason.

So after a crash, `latest(db, run_id, attempt)` says exactly what is left: in phase
"tools" the calls whose id is in `results` are not run again.

A row stores only what its turn added: `messages` holds the conversation from index
`state["from"]` on (the reply, the tool results, a note), so a long run's checkpoints
grow linearly, not with the square of its turns. The conversation is rebuilt by applying
an attempt's rows in turn order; a row whose `from` is 0 (the first of an attempt, or a
row written before this rule) holds the whole conversation. A row may start before the
previous row's end: a `pause_turn` reply replaces the last message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from andon.store import models as m
from andon.store.clock import utcnow
from andon.store.db import Database

MODEL = "model"  # the next step is a model request
TOOLS = "tools"  # the last message is the model's; its tool calls are being run
ENDED = "ended"  # the conversation is over (status/reason say how)


@dataclass
class AgentState:
    attempt: int
    turn: int  # the run's model turns so far (the numbering of Usage/Exchange rows)
    messages: list[dict[str, Any]]
    phase: str = MODEL
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # tool_use_id -> block
    stop_reason: str | None = None  # of the model's last reply (max_tokens: last call cut)
    status: str | None = None
    reason: str = ""
    elapsed: float = 0.0  # agent working seconds for the run, across attempts
    calls: list[str] = field(default_factory=list)  # loop-guard history
    start: int = 0  # where this turn's row begins in `messages` (stored as "from")
    context: dict[str, Any] = field(default_factory=dict)  # engine.agent.context's cut points

    def to_state(self) -> dict[str, Any]:
        # Not dataclasses.asdict: that deep-copies the whole conversation first.
        return {"phase": self.phase, "results": dict(self.results),
                "stop_reason": self.stop_reason, "status": self.status,
                "reason": self.reason, "elapsed": self.elapsed, "calls": list(self.calls),
                "from": self.start, "context": dict(self.context)}

    def begin_row(self, start: int | None = None) -> None:
        """A new turn's row starts here: at the end of the conversation, or earlier when
        the turn replaces messages from `start` on."""
        self.start = len(self.messages) if start is None else start

    @classmethod
    def from_row(cls, row: m.Checkpoint, messages: list[dict[str, Any]] | None = None
                 ) -> AgentState:
        state = dict(row.state or {})
        known = {"phase", "results", "stop_reason", "status", "reason", "elapsed", "calls",
                 "context"}
        return cls(attempt=row.attempt, turn=row.turn,
                   messages=list(row.messages or []) if messages is None else messages,
                   start=int(state.get("from") or 0),
                   **{k: v for k, v in state.items() if k in known})


def _start(row: m.Checkpoint) -> int:
    return int((row.state or {}).get("from") or 0)


def latest(db: Database, run_id: int, attempt: int | None = None) -> AgentState | None:
    """The newest checkpoint of the run (of one attempt when given) with its whole
    conversation, or None."""
    with db.read() as s:
        query = select(m.Checkpoint).where(m.Checkpoint.run_id == run_id)
        if attempt is not None:
            query = query.where(m.Checkpoint.attempt == attempt)
        row = s.exec(query.order_by(col(m.Checkpoint.turn).desc(),
                                    col(m.Checkpoint.id).desc()).limit(1)).first()
        if row is None:
            return None
        if _start(row) == 0:
            return AgentState.from_row(row)
        rows = s.exec(select(m.Checkpoint).where(m.Checkpoint.run_id == run_id,
                                                 m.Checkpoint.attempt == row.attempt,
                                                 m.Checkpoint.turn <= row.turn)
                      .order_by(col(m.Checkpoint.turn))).all()
    messages: list[dict[str, Any]] = []
    for each in rows:
        messages = messages[:_start(each)] + list(each.messages or [])
    return AgentState.from_row(row, messages)


def elapsed(db: Database, run_id: int) -> float:
    """The agent's working seconds for the run so far (its newest checkpoint's)."""
    with db.read() as s:
        row = s.exec(select(m.Checkpoint).where(m.Checkpoint.run_id == run_id)
                     .order_by(col(m.Checkpoint.turn).desc(), col(m.Checkpoint.id).desc())
                     .limit(1)).first()
    return float((row.state or {}).get("elapsed") or 0.0) if row is not None else 0.0


def conversation(db: Database, run_id: int, attempt: int) -> list[dict[str, Any]]:
    """An attempt's whole conversation as its newest checkpoint left it ([] if none)."""
    state = latest(db, run_id, attempt)
    return state.messages if state is not None else []


_table = m.Checkpoint.__table__  # type: ignore[attr-defined]
_INSERT = _table.insert()
_UPDATE = _table.update().where(
    _table.c.run_id == bindparam("p_run"), _table.c.attempt == bindparam("p_attempt"),
    _table.c.turn == bindparam("p_turn")).values(messages=bindparam("p_messages"),
                                                  state=bindparam("p_state"))


def save(session: Session, run_id: int, state: AgentState) -> None:
    """Insert or update the checkpoint row of (run, attempt, turn) inside a write session."""
    conn = session.connection()
    messages, data = state.messages[state.start:], state.to_state()
    changed = conn.execute(_UPDATE, {"p_run": run_id, "p_attempt": state.attempt,
                                     "p_turn": state.turn, "p_messages": messages,
                                     "p_state": data})
    if not changed.rowcount:
        conn.execute(_INSERT, {"run_id": run_id, "attempt": state.attempt, "turn": state.turn,
                               "messages": messages, "state": data, "created_at": utcnow()})
