"""The demo factory's past: a few months of finished runs, so the readiness report has
something to say in the demo's first minute.

Stored as ordinary runs (marked ``data["history"] = "demo"``) of an inactive copy of a
demo spec (``<name>-history.md``: the live spec's own runs stay its own), with the
fingerprint today's runs of that spec get, so the live runs continue the same evidence
window. Two lines tell the two stories the report is for:
- bugfix (level 3): 180 reviews, level 4 and the person agreeing on almost all, no
  reverts: "bugfix may run dark", with its numbers; the first 40 ran under older agent
  instructions, an older window still shown.
- feature (level 2): 60 reviews with a handful of false merges and a revert: "not
  yet", and how many more agreeing runs it would take.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from andon.engine.factory.home import Home
from andon.engine.readiness.fingerprint import digest, run_parts
from andon.engine.readiness.history import Profile, Written, add_history
from andon.engine.run.queue import upsert_spec
from andon.engine.spec.specfile import parse_spec
from andon.policies.stored import load_policy
from andon.store import models as m
from andon.store.db import Database

BUGFIX = Profile(
    "bugfix", 180, level=3, false_merge=0.004, escalate=0.06, false_escalation=0.5,
    steered=0.0, failed=0.04, revert=0.0, first_attempt=0.85, cost_usd=0.32, minutes=5.0,
    rules=("protected_path", "diff_too_large"),
    titles=("truncate() returns more than width characters",
            "slugify() keeps a trailing dash", "wrap() drops the last word",
            "count_words() counts hyphens as words"))
FEATURE = Profile(
    "feature", 60, level=2, false_merge=0.07, escalate=0.1, false_escalation=0.3,
    steered=0.05, failed=0.08, revert=0.03, first_attempt=0.6, cost_usd=0.9, minutes=14.0,
    rules=("diff_too_large", "budget_spent"),
    titles=("word_count(): count the words of a text", "titlecase() with small words",
            "dedent() for docstrings"))

#: (profile, the demo spec whose runs they were, seed, runs under older instructions)
LINES = ((BUGFIX, "truncate-width", 16, 40), (FEATURE, "word-count", 7, 0))


def add_demo_history(home: Home, db: Database, specs: dict[str, Path]) -> list[Written]:
    """Write the demo's past runs (before its live runs are queued: ids follow time)."""
    written = []
    for profile, name, seed, older in LINES:
        live = upsert_spec(db, parse_spec(specs[name]))
        parts = run_parts(home, live, load_policy(db, profile.category))
        row = _history_spec(db, live)
        earlier = {**parts, "prompt": digest("the agent instructions of the spring")}
        every = timedelta(hours=10)
        written.append(add_history(db, profile, row, parts, every=every, seed=seed,
                                   earlier=earlier if older else None, earlier_runs=older))
    return written


def _history_spec(db: Database, live: m.Spec) -> m.Spec:
    """An inactive copy of a live spec that the history's runs belong to."""
    path = str(Path(live.path).with_name(f"{Path(live.path).stem}-history.md"))
    fields = live.model_dump(exclude={"id", "path", "active", "schedule", "last_fired_at"})
    with db.write() as s:
        row = m.Spec(**fields, path=path, active=False)
        s.add(row)
        s.flush()
        s.refresh(row)
        return row
