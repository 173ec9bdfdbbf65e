"""Reading the readiness report's facts out of the store, fast.

A busy factory has a hundred thousand runs: one query reads each finished run with its
evidence fingerprint, its first review point and the person's verdict on that point's
gate, as plain tuples (no ORM objects, no JSON but the rules of escalated reviews);
working time is worked out by SQLite. Then the parts of each fingerprint seen, the
revisions people asked for per run, and the circuit breaker's trips (audit rows).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import text

from engine.readiness.facts import PERSON_VERDICTS, RunFacts
from engine.readiness.report import Readiness, readiness
from policies.stored import ANDON, load_policy, stored_policies
from store import models as m
from store.db import Database

_TERMINAL = ", ".join(f"'{s}'" for s in m.TERMINAL_STATUSES)

_RUNS = f"""
SELECT r.id, r.category, r.level, r.status, r.title, r.spec_id, r.merged_at IS NOT NULL,
       r.cost_usd, (julianday(r.finished_at) - julianday(r.started_at)) * 86400.0,
       r.attempt, e.fingerprint, COALESCE(e.conflicts, 0),
       d.verdict, d.level, d.attempt, d.rules, d.steered, g.status, g.decided_by
FROM runs AS r
LEFT JOIN evidence AS e ON e.run_id = r.id
LEFT JOIN shadow_decisions AS d
       ON d.id = (SELECT MIN(d2.id) FROM shadow_decisions AS d2 WHERE d2.run_id = r.id)
LEFT JOIN gates AS g ON g.id = d.gate_id
WHERE r.status IN ({_TERMINAL}) {{where}}
ORDER BY r.id
"""

_REVISIONS = f"""
SELECT g.run_id, COUNT(*) FROM gates AS g JOIN runs AS r ON r.id = g.run_id
WHERE g.status = '{m.REVISED}' {{where}} GROUP BY g.run_id
"""

_PARTS = "SELECT DISTINCT fingerprint, parts FROM evidence AS e WHERE 1 = 1 {where}"


def run_facts(db: Database, category: str | None = None) -> list[RunFacts]:
    """Every finished run (of one category, or all), oldest first."""
    where, params = _where("r", category)
    with db.read() as s:
        revisions = dict(s.execute(text(_REVISIONS.format(where=where)), params).all())
        rows = s.execute(text(_RUNS.format(where=where)), params).all()
    facts = []
    for (run_id, cat, level, status, title, spec_id, merged, cost, seconds, attempt,
         fingerprint, conflicts, verdict, d_level, d_attempt, rules, steered, g_status,
         decided_by) in rows:
        person = g_status if g_status in PERSON_VERDICTS and decided_by != ANDON else None
        facts.append(RunFacts(
            run_id=run_id, category=cat, level=level, status=status, title=title,
            spec_id=spec_id, fingerprint=fingerprint, merged=bool(merged), cost_usd=cost,
            seconds=seconds, attempts=max(attempt, 1), conflicts=conflicts,
            revisions=revisions.get(run_id, 0), shadow=verdict, shadow_level=d_level,
            shadow_attempt=d_attempt, rules=_rule_names(rules) if verdict == m.SHADOW_ESCALATE
            else (), steered=bool(steered), person=person))
    return facts


def fingerprint_parts(db: Database, category: str | None = None) -> dict[str, dict[str, Any]]:
    where, params = _where("e", category)
    with db.read() as s:
        rows = s.execute(text(_PARTS.format(where=where)), params).all()
    return {fingerprint: json.loads(parts) for fingerprint, parts in rows}


def breaker_trips(db: Database, category: str) -> list[str]:
    """The circuit breaker's demotions of a category, oldest first (its audit rows)."""
    with db.read() as s:
        rows = s.execute(text(
            "SELECT reason FROM policy_changes WHERE category = :c AND user = :u "
            "AND field = 'level' ORDER BY id"), {"c": category, "u": ANDON}).all()
    return [reason or "circuit breaker" for (reason,) in rows]


def category_readiness(db: Database, categories: Sequence[str] | None = None
                       ) -> list[Readiness]:
    """The readiness of each category (every stored policy when none are named)."""
    policies = stored_policies(db)
    names = list(categories) if categories else list(policies)
    one = names[0] if len(names) == 1 else None
    facts = run_facts(db, one)
    parts = fingerprint_parts(db, one)
    by_category: dict[str, list[RunFacts]] = {name: [] for name in names}
    for fact in facts:
        if fact.category in by_category:
            by_category[fact.category].append(fact)
    return [readiness(name, by_category[name], policies.get(name) or load_policy(db, name),
                      parts, breaker_trips=breaker_trips(db, name)) for name in names]


def _where(alias: str, category: str | None) -> tuple[str, dict[str, Any]]:
    if category is None:
        return "", {}
    return f"AND {alias}.category = :category", {"category": category}


def _rule_names(rules: str | None) -> tuple[str, ...]:
    if not rules:
        return ()
    return tuple(str(r.get("rule")) for r in _as_list(json.loads(rules)))


def _as_list(value: Any) -> Iterable[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
