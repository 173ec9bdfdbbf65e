"""Shadow decisions: at each review point, what level 4 would have done.

Below level 4 a person decides every merge; to learn whether a category could run dark,
each review point also records what level 4 would have decided with the same rules,
checks and satisfaction: merge, or escalate naming the rules. The person's verdict is
the review gate's own (approved, rejected, revised), so the two sit side by side
without being kept twice. At level 4 the row records what the line did.

A person must not see the shadow verdict before deciding (it would anchor them):
`shown_shadow` gives it only once the gate is decided.

A run a person steered before review (an action gate answered other than approve, a
plan sent back, an earlier review sent back) is marked ``steered``: its review says
less about what level 4 would have merged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, select

from andon.store import models as m
from andon.store.db import Database

#: Gates whose answer, other than approve, changes a run's course before its review.
STEERING_KINDS = ("action", "plan", "review", "escalation")
STEERING_VERDICTS = (m.GATE_REJECTED, m.REVISED, m.TIMED_OUT)


def record_shadow(db: Database, run_id: int, *, rules: Sequence[dict[str, str]],
                  satisfaction: float | None, gate_id: int | None) -> m.ShadowDecision:
    """Record the review point of the run's current attempt (once: a resumed run meets
    the row it wrote before)."""
    with db.write() as s:
        return shadow_in(s, run_id, rules=rules, satisfaction=satisfaction, gate_id=gate_id)


def shadow_in(s: Session, run_id: int, *, rules: Sequence[dict[str, str]],
              satisfaction: float | None, gate_id: int | None) -> m.ShadowDecision:
    """`record_shadow` inside a write transaction the caller holds (the gate's own)."""
    run = s.get(m.Run, run_id)
    if run is None:
        raise ValueError(f"no run {run_id}")
    attempt = max(run.attempt, 1)
    row = s.exec(select(m.ShadowDecision).where(
        m.ShadowDecision.run_id == run_id, m.ShadowDecision.attempt == attempt)).first()
    if row is not None:
        return row
    row = m.ShadowDecision(
        run_id=run_id, attempt=attempt, category=run.category, level=run.level,
        gate_id=gate_id, verdict=m.SHADOW_ESCALATE if rules else m.SHADOW_MERGE,
        rules=[dict(r) for r in rules], satisfaction=satisfaction,
        steered=_steered(s, run_id, gate_id))
    s.add(row)
    s.flush()
    return row


def _steered(s: Session, run_id: int, gate_id: int | None) -> bool:
    query = select(m.Gate.id).where(m.Gate.run_id == run_id,
                                    col(m.Gate.kind).in_(STEERING_KINDS),
                                    col(m.Gate.status).in_(STEERING_VERDICTS))
    if gate_id is not None:
        query = query.where(m.Gate.id != gate_id)
    return s.exec(query.limit(1)).first() is not None


def shadow_decisions(db: Database, run_id: int) -> list[tuple[m.ShadowDecision, m.Gate | None]]:
    """A run's review points with their gates, oldest first."""
    with db.read() as s:
        rows = s.exec(select(m.ShadowDecision).where(m.ShadowDecision.run_id == run_id)
                      .order_by(col(m.ShadowDecision.attempt))).all()
        return [(row, s.get(m.Gate, row.gate_id) if row.gate_id else None) for row in rows]


def shown_shadow(row: m.ShadowDecision, gate: m.Gate | None) -> dict[str, Any] | None:
    """What a person may see of a review point: the shadow verdict beside their own once
    they decided (never before); at level 4, what the line did. None: still hidden."""
    person = None
    if gate is not None:
        if gate.status == m.PENDING:
            return None
        person = gate.status
    elif row.level < 4:
        return None
    return {"attempt": row.attempt, "level": row.level, "level4": row.verdict,
            "rules": [r.get("rule") for r in row.rules], "person": person,
            "by": gate.decided_by if gate is not None else None, "steered": row.steered}


def describe(shown: dict[str, Any]) -> str:
    """One line for `andon show` and the run screen."""
    rules = f" ({', '.join(shown['rules'])})" if shown["rules"] else ""
    level4 = f"level 4 would {shown['level4']}{rules}"
    if shown["level"] >= 4:
        level4 = f"level 4 did {shown['level4']}{rules}"
    person = shown["person"]
    if person is None:
        return f"attempt {shown['attempt']}: {level4}"
    who = f" by {shown['by']}" if shown.get("by") else ""
    steered = "; steered before review" if shown["steered"] else ""
    return f"attempt {shown['attempt']}: {level4}; the person {person}{who}{steered}"


def count_conflict(db: Database, run_id: int) -> None:
    """A merge conflict the run met (the readiness report counts them); nothing when
    the run has no evidence row."""
    with db.write() as s:
        row = s.get(m.Evidence, run_id)
        if row is not None:
            row.conflicts += 1
            s.add(row)
