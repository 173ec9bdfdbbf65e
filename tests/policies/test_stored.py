"""Policies in a real SQLite store: seed, import/export, audit, breaker, track record."""

from __future__ import annotations

from datetime import timedelta

import pytest

from andon.policies.files import PolicyFileError, default_policies
from andon.policies.level import Level
from andon.policies.policy import Policy
from andon.policies.stored import (
    category_recommendation,
    category_record,
    export_policies,
    import_policies,
    load_policy,
    policy_history,
    save_policies,
    seed_default_policies,
    set_level,
    stored_policies,
    trip_breaker,
)
from andon.store import models as m
from andon.store.clock import utcnow


def test_init_seeds_the_defaults_once_and_keeps_a_persons_changes(db):
    assert stored_policies(db) == default_policies()  # Home.init() seeded them
    assert seed_default_policies(db) == []
    set_level(db, "feature", 3, user="alice", reason="trusted now")
    assert seed_default_policies(db) == []
    assert load_policy(db, "feature").level is Level.SPEC_DRIVEN
    created, changed = policy_history(db, "feature")
    assert (created.field, created.user, created.old) == ("policy", "andon", None)
    assert (changed.field, changed.old, changed.new, changed.user, changed.reason) == (
        "level", 2, 3, "alice", "trusted now")


def test_an_unknown_category_is_supervised(db):
    assert load_policy(db, "experiments") == Policy.default("experiments", 2)


def test_export_import_round_trip_through_the_store(db, tmp_path):
    seed_default_policies(db)
    text = export_policies(db)
    path = tmp_path / "policies.toml"
    path.write_text(text.replace("max_diff_lines = 300", "max_diff_lines = 250", 1))
    changes = import_policies(db, path, user="bob")
    assert [(c.category, c.field, c.old, c.new) for c in changes] == [
        ("bugfix", "max_diff_lines", 300, 250)]
    assert changes[0].reason == f"imported from {path}"
    again = export_policies(db)
    assert again == text.replace("max_diff_lines = 300", "max_diff_lines = 250", 1)
    assert import_policies(db, path, user="bob") == []  # nothing changed, nothing audited


def test_an_invalid_import_changes_nothing(db, tmp_path):
    seed_default_policies(db)
    before = export_policies(db)
    path = tmp_path / "bad.toml"
    path.write_text('[docs]\nlevel = 2\n\n[feature]\ntimeout_decision = "approve"\n')
    with pytest.raises(PolicyFileError, match="category 'feature', field 'timeout_decision'"):
        import_policies(db, path, user="eve")
    assert export_policies(db) == before
    assert all(c.user == "andon" for c in policy_history(db, "docs"))


def add_runs(db, category, outcomes, level):
    with db.write() as s:
        spec = m.Spec(path=f"/specs/{category}-{len(outcomes)}.md", title="t",
                      category=category, repo="sample")
        s.add(spec)
        s.flush()
        start = utcnow()
        for i, status in enumerate(outcomes):
            merged = status in (m.MERGED, m.REVERTED)
            s.add(m.Run(spec_id=spec.id, category=category, level=level, status=status,
                        created_at=start + timedelta(seconds=i), satisfaction=1.0,
                        cost_usd=0.5,
                        merged_at=start + timedelta(seconds=i, minutes=5) if merged else None))


def test_breaker_demotes_a_dark_category_as_andon(db):
    seed_default_policies(db)  # docs is level 4, demote_after 2
    add_runs(db, "docs", [m.MERGED, m.FAILED], level=4)
    assert trip_breaker(db, "docs") is None
    add_runs(db, "docs", [m.FAILED], level=4)
    reason = trip_breaker(db, "docs")
    assert reason.startswith("circuit breaker: 2 runs in a row at level 4 failed")
    assert load_policy(db, "docs").level is Level.SPEC_DRIVEN
    last = policy_history(db, "docs")[-1]
    assert (last.field, last.old, last.new, last.user, last.reason) == (
        "level", 4, 3, "andon", reason)
    assert trip_breaker(db, "docs") is None  # level 3 now: the breaker only watches 4


def test_record_and_recommendation_from_stored_runs(db):
    save_policies(db, [Policy(category="bugfix", level=3, promote_after=2,
                              satisfaction_threshold=0.9)], user="alice")
    add_runs(db, "bugfix", [m.FAILED, m.MERGED, m.MERGED], level=3)
    record = category_record(db, "bugfix")
    assert (record.runs, record.merged, record.failed) == (3, 2, 1)
    assert record.mean_cost_per_merged == pytest.approx(0.75)
    assert record.mean_lead_time == timedelta(minutes=5)
    verdict = category_recommendation(db, "bugfix")
    assert verdict.promote and verdict.to_level is Level.DARK
