"""A made-up past of finished runs, stored as ordinary rows (runs, review gates, shadow
decisions, evidence) so the same report code reads it: the demo's history (marked
``data["history"] = "demo"``), the benchmark's hundred thousand runs, and tests.

`Profile` says how a category's line behaved: how often level 4 and the person
disagreed, how often merges were reverted, and so on; `add_history` draws the runs from
a seeded generator (the same seed, the same history) and writes them in bulk.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert
from sqlmodel import select

from andon.engine.readiness.fingerprint import fingerprint_of
from andon.store import models as m
from andon.store.clock import utcnow
from andon.store.db import Database

RULES = ("protected_path", "diff_too_large", "dependency_changed", "budget_spent",
         "satisfaction_low")


#: A review point: attempt, level 4's verdict, its rules, the person's verdict, steered.
Review = tuple[int, str, list[str], str, bool]


@dataclass(frozen=True)
class Profile:
    category: str
    runs: int
    level: int = 3
    false_merge: float = 0.01  # level 4 would merge, the person rejects or revises
    escalate: float = 0.05  # level 4 would escalate
    false_escalation: float = 0.5  # ...and the person approves anyway
    steered: float = 0.02
    failed: float = 0.05  # ends before review
    revert: float = 0.0  # a merged change is reverted after merge
    first_attempt: float = 0.8
    conflict: float = 0.02
    cost_usd: float = 0.4  # mean per run
    minutes: float = 6.0  # mean working time per run
    rules: Sequence[str] = ("protected_path", "diff_too_large")
    titles: Sequence[str] = ("Fix an off-by-one in truncate()",)


@dataclass
class Written:
    runs: int = 0
    first_id: int = 0
    last_id: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


def add_history(db: Database, profile: Profile, spec: m.Spec, parts: Mapping[str, Any], *,
                start: datetime | None = None, every: timedelta = timedelta(hours=2),
                seed: int = 16, earlier: Mapping[str, Any] | None = None,
                earlier_runs: int = 0, marker: str = "demo") -> Written:
    """Write `profile.runs` finished runs of `spec` ending before now (or from `start`),
    one every `every`; the first `earlier_runs` under the `earlier` set-up (an older
    evidence window), the rest under `parts`."""
    rng = random.Random(seed)
    begin = start or utcnow() - every * (profile.runs + 1)
    with db.read() as s:
        run_id = int(s.exec(select(func.max(m.Run.id))).one() or 0)
        gate_id = int(s.exec(select(func.max(m.Gate.id))).one() or 0)
    template = m.Run(spec_id=spec.id or 0, category=profile.category).model_dump()
    now_parts = dict(parts)
    old_parts = dict(earlier) if earlier is not None else now_parts
    prints = {id(now_parts): fingerprint_of(now_parts), id(old_parts): fingerprint_of(old_parts)}
    runs: list[dict[str, Any]] = []
    gates: list[dict[str, Any]] = []
    shadows: list[dict[str, Any]] = []
    evidence: list[dict[str, Any]] = []
    written = Written(first_id=run_id + 1)
    for index in range(profile.runs):
        run_id += 1
        when = begin + every * index
        setup = old_parts if index < earlier_runs else now_parts
        row, reviews = _draw(rng, profile, template, run_id, when)
        runs.append(row)
        written.by_status[row["status"]] = written.by_status.get(row["status"], 0) + 1
        evidence.append({"run_id": run_id, "category": profile.category, "spec_id": spec.id,
                         "fingerprint": prints[id(setup)], "parts": setup,
                         "conflicts": int(rng.random() < profile.conflict),
                         "created_at": when})
        for attempt, verdict, rules, person, steered in reviews:
            gate_id += 1
            at = when + timedelta(minutes=attempt * 3)
            gates.append({"id": gate_id, "run_id": run_id,
                          "kind": "escalation" if rules else "review", "stage": "review",
                          "status": person, "title": f"review: {row['title']}",
                          "detail": {"history": marker}, "created_at": at,
                          "timeout_at": None, "decided_at": at + timedelta(minutes=20),
                          "decided_by": "demo-reviewer", "comment": None})
            shadows.append({"run_id": run_id, "attempt": attempt,
                            "category": profile.category, "level": profile.level,
                            "gate_id": gate_id, "verdict": verdict,
                            "rules": [{"rule": r, "detail": "demo history"} for r in rules],
                            "satisfaction": 1.0, "steered": steered, "created_at": at})
        row["data"] = {"history": marker}
    written.runs, written.last_id = profile.runs, run_id
    with db.write() as s:
        s.execute(insert(m.Run), runs)
        if gates:
            s.execute(insert(m.Gate), gates)
        if shadows:
            s.execute(insert(m.ShadowDecision), shadows)
        s.execute(insert(m.Evidence), evidence)
    return written


def _draw(rng: random.Random, p: Profile, template: dict[str, Any], run_id: int,
          when: datetime) -> tuple[dict[str, Any], list[Review]]:
    """One finished run (a row written as it ended: no run moves through statuses here)
    and its review points."""
    minutes = max(0.5, rng.gauss(p.minutes, p.minutes / 3))
    cost = max(0.01, rng.gauss(p.cost_usd, p.cost_usd / 3))
    first = rng.random() < p.first_attempt
    finished = when + timedelta(minutes=minutes)
    row = {**template, "id": run_id, "title": rng.choice(list(p.titles)), "level": p.level,
           "created_at": when, "started_at": when, "finished_at": finished,
           "cost_usd": round(cost, 4), "turns": rng.randint(4, 20), "model": "",
           "attempt": 1 if first else 2, "human_touched": True, "stage": "merge"}
    if rng.random() < p.failed:
        return _ended(row, m.FAILED, stage="validate", attempt=3, human_touched=False,
                      reason="checks failed after 3 attempts"), []
    steered = rng.random() < p.steered
    attempt_one = 1 if first else 2
    escalate = rng.random() < p.escalate
    rules = [rng.choice(list(p.rules))] if escalate else []
    if escalate:
        person = m.APPROVED if rng.random() < p.false_escalation else m.GATE_REJECTED
    else:
        person = m.REVISED if rng.random() < p.false_merge else m.APPROVED
        if person == m.REVISED and rng.random() < 0.5:
            person = m.GATE_REJECTED
    verdict = m.SHADOW_ESCALATE if rules else m.SHADOW_MERGE
    reviews: list[Review] = [(attempt_one, verdict, rules, person, steered)]
    if person == m.GATE_REJECTED:
        return _ended(row, m.REJECTED, stage="review", reason="review rejected"), reviews
    if person == m.REVISED:  # the person's changes are made, then approved
        reviews.append((attempt_one + 1, m.SHADOW_MERGE, [], m.APPROVED, True))
        row["attempt"] = attempt_one + 1
    if rng.random() < p.revert:
        return _ended(row, m.REVERTED, merged_at=finished,
                      reason="reverted: the checks failed on main after the merge"), reviews
    return _ended(row, m.MERGED, merged_at=finished, reason="merged into main"), reviews


def _ended(row: dict[str, Any], outcome: str, **fields: Any) -> dict[str, Any]:
    """A past run's row as it ended. It is written once, finished: it never moves
    through statuses, so `andon.engine.run.status.transition` (the owner of every
    change of a live run's status) has nothing to do with it."""
    return {**row, **fields, "status": outcome}
