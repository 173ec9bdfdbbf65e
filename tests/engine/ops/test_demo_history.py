"""The demo factory's history: the readiness report reads one line ready to promote and
another not yet, each with its numbers, and today's runs continue the same window."""

from __future__ import annotations

from pathlib import Path

from andon.engine.ops.demo import build_demo
from andon.engine.readiness.fingerprint import record_evidence
from andon.engine.readiness.load import category_readiness, run_facts


def test_the_demo_reads_ready_and_not_yet_in_its_first_minute(tmp_path: Path) -> None:
    demo = build_demo(tmp_path / "demo")
    db = demo.home.open()
    try:
        reports = {r.category: r for r in category_readiness(db, ["bugfix", "feature"])}
        bugfix, feature = reports["bugfix"], reports["feature"]
        assert bugfix.recommendation is not None and bugfix.recommendation.ready
        assert bugfix.recommendation.sentence.startswith("bugfix may run dark: ")
        assert bugfix.decided >= 100 and len(bugfix.windows) == 2  # an older window too
        assert "instructions and tools" in bugfix.window.describe()
        assert feature.recommendation is not None and not feature.recommendation.ready
        assert "more agreeing runs" in feature.recommendation.sentence
        assert feature.false_merges > 0

        # the queued live run of a bugfix spec carries the window's fingerprint
        live = record_evidence(demo.home, db, demo.runs["truncate-width"])
        assert live is not None and live.fingerprint == bugfix.window.fingerprint
        assert all(f.status != "queued" for f in run_facts(db, "bugfix"))
    finally:
        db.close()
