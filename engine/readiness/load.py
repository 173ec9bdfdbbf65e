"""Reading the readiness report's facts out of the store, fast.

A busy factory has a hundred thousand runs: one query reads each finished run with its
evidence fingerprint, its first review point and the person's verdict on that point's
gate, as plain tuples (no ORM objects, no JSON but the rules of escalated reviews);
working time is worked out by SQLite. Then the parts of each fingerprint seen, the
revisions people asked for per run, and the circuit breaker's trips (audit rows).
"""

from __future__ import annotations

import gc
import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import text
from sqlmodel import col, select

from andon.engine.readiness.facts import PERSON_VERDICTS, RunFacts
from andon.engine.readiness.report import Readiness, readiness
from andon.policies.stored import ANDON, load_policy, stored_policies
from andon.store import models as m
from andon.store.db import Database

_TERMINAL = ", ".join(f"'{s}'" for s in m.TERMINAL_STATUSES)

_PERSON = ", ".join(f"'{v}'" for v in sorted(PERSON_VERDICTS))

# Columns in `RunFacts` order, so each row becomes one positionally. The person's
# verdict is the gate's when a person gave it (not a timeout, not Andon voiding it).
_RUNS = f"""
SELECT r.id, r.category, r.level, r.status, r.spec_id, r.merged_at IS NOT NULL, r.cost_usd,
       (julianday(r.finished_at) - julianday(r.started_at)) * 86400.0, MAX(r.attempt, 1),
       e.fingerprint, COALESCE(e.conflicts, 0), d.verdict, d.level, d.attempt,
       CASE WHEN d.verdict = '{m.SHADOW_ESCALATE}' THEN
            (SELECT group_concat(json_extract(j.value, '$.rule'), ',')
             FROM json_each(d.rules) AS j) ELSE '' END,
       COALESCE(d.steered, 0),
       CASE WHEN g.status IN ({_PERSON}) AND g.decided_by IS NOT '{ANDON}' THEN g.status END,
       (SELECT COUNT(*) FROM gates AS g2 WHERE g2.run_id = r.id AND g2.status = '{m.REVISED}')
FROM runs AS r
LEFT JOIN evidence AS e ON e.run_id = r.id
LEFT JOIN shadow_decisions AS d
       ON d.id = (SELECT MIN(d2.id) FROM shadow_decisions AS d2 WHERE d2.run_id = r.id)
LEFT JOIN gates AS g ON g.id = d.gate_id
WHERE +r.status IN ({_TERMINAL}) {{where}}
ORDER BY r.id
"""

# The same on PostgreSQL: its names for the date arithmetic, the JSON walk and the
# null-safe comparison, and `%(name)s` placeholders (psycopg's).
_RUNS_PG = (_RUNS
            .replace("(julianday(r.finished_at) - julianday(r.started_at)) * 86400.0",
                     "EXTRACT(EPOCH FROM (r.finished_at::timestamptz - "
                     "r.started_at::timestamptz))::float8")
            .replace("MAX(r.attempt, 1)", "GREATEST(r.attempt, 1)")
            .replace("(SELECT group_concat(json_extract(j.value, '$.rule'), ',')\n"
                     "             FROM json_each(d.rules) AS j)",
                     "(SELECT string_agg(j.value->>'rule', ',') "
                     "FROM json_array_elements(d.rules::json) AS j)")
            .replace("COALESCE(d.steered, 0)", "COALESCE(d.steered, false)")
            .replace("IS NOT '", "IS DISTINCT FROM '")
            .replace("WHERE +r.status", "WHERE r.status"))

_PARTS = "SELECT DISTINCT fingerprint, parts FROM evidence AS e WHERE 1 = 1 {where}"


def run_facts(db: Database, category: str | None = None) -> list[RunFacts]:
    """Every finished run (of one category, or all), oldest first."""
    where, params = _where("r", category)
    sql = _RUNS.format(where=where)
    if db.postgres:
        sql = _RUNS_PG.format(where=where.replace(":category", "%(category)s"))
    # A hundred thousand rows and facts, none of them garbage: the collector's passes
    # over them while they are built cost more than reading them.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with db.read() as s:
            # The driver's own cursor: plain tuples, no result objects per row.
            cursor = s.connection().connection.cursor()
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        return [RunFacts(*row) for row in rows]
    finally:
        if collecting:
            gc.enable()


def fingerprint_parts(db: Database, category: str | None = None) -> dict[str, dict[str, Any]]:
    where, params = _where("e", category)
    with db.read() as s:
        rows = s.execute(text(_PARTS.format(where=where)), params).all()
    return {fingerprint: json.loads(parts) for fingerprint, parts in rows}


def breaker_trips(db: Database, category: str) -> list[str]:
    """The circuit breaker's demotions of a category, oldest first (its audit rows)."""
    with db.read() as s:
        rows = s.execute(text(
            "SELECT reason FROM policy_changes WHERE category = :c AND \"user\" = :u "
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
    reports = [readiness(name, by_category[name], policies.get(name) or load_policy(db, name),
                         parts, breaker_trips=breaker_trips(db, name)) for name in names]
    _name_disagreements(db, reports)
    return reports


def _name_disagreements(db: Database, reports: Sequence[Readiness]) -> None:
    """Titles for the runs a report lists (a few; reading every title costs a lot)."""
    wanted = {d.run_id for r in reports for d in r.disagreements}
    if not wanted:
        return
    with db.read() as s:
        titles = dict(s.execute(select(m.Run.id, m.Run.title)
                                .where(col(m.Run.id).in_(wanted))).all())
    for report in reports:
        report.disagreements = [replace(d, title=titles.get(d.run_id, "")) for d in
                                report.disagreements]


def _where(alias: str, category: str | None) -> tuple[str, dict[str, Any]]:
    if category is None:
        return "", {}
    return f"AND {alias}.category = :category", {"category": category}
