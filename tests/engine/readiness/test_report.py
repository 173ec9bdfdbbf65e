"""The readiness figures and the recommendation, from runs made by hand."""

from __future__ import annotations

from typing import Any

from andon.engine.readiness.facts import RunFacts
from andon.engine.readiness.report import readiness
from andon.policies.policy import Policy

PARTS = {"fp1": {"backend": "builtin", "prompt": "a" * 64, "policy": "p1", "model": "m1",
                 "checks": ["pytest -q"], "scenarios": None}}


def _run(n: int, **kw: Any) -> RunFacts:
    base: dict[str, Any] = dict(run_id=n, category="docs", level=3, status="merged",
                                spec_id=1, fingerprint="fp1", merged=True, cost_usd=0.5,
                                seconds=60.0, shadow="merge", shadow_level=3,
                                shadow_attempt=1, person="approved")
    base.update(kw)
    return RunFacts(**base)


def _policy(**when: Any) -> Policy:
    return Policy(category="docs", level=3,
                  promote_when={"min_runs": 100, "max_false_merge_rate": 0.05,
                                "max_revert_rate": 0.05, **when})


def test_the_issues_example_reads_ready() -> None:
    runs = [_run(i) for i in range(1, 153)]
    runs[10] = _run(11, status="rejected", merged=False, person="rejected")  # a false merge
    for i in range(140, 152):  # twelve runs a person approved that are still waiting...
        runs[i] = _run(i + 1, status="failed", merged=False)  # ...or failed after review
    report = readiness("docs", runs, _policy(), PARTS)
    assert (report.decided, report.false_merges, report.merged) == (152, 1, 139)
    rec = report.recommendation
    assert rec is not None and rec.ready
    assert "false merges 1 of 152 (at most 3.6% at 95%)" in rec.sentence
    assert "0 reverts in 139 merges (at most 2.2%)" in rec.sentence
    assert [d.run_id for d in report.disagreements] == [11]


def test_not_yet_says_what_is_missing_in_numbers() -> None:
    runs = [_run(i) for i in range(1, 101)]
    rec = readiness("docs", runs, _policy(min_runs=50, max_false_merge_rate=0.02),
                    PARTS).recommendation
    assert rec is not None and not rec.ready
    assert rec.missing == ("50 more agreeing runs to bring false merges under 2.0%",)


def test_agreement_counts_escalations_a_person_confirmed() -> None:
    runs = [_run(1, shadow="escalate", rules="protected_path", person="rejected",
                 status="rejected", merged=False),
            _run(2, shadow="escalate", rules="diff_too_large", person="approved"),
            _run(3)]
    report = readiness("docs", runs, _policy(), PARTS)
    assert (report.agreed, report.false_escalations, report.false_merges) == (2, 1, 0)
    assert report.escalations == {"protected_path": 1, "diff_too_large": 1}
    interval = report.agreement_interval
    assert interval is not None and round(interval.low, 4) == 0.2077  # Wilson, 2 of 3


def test_steered_and_undecided_runs_are_counted_apart() -> None:
    runs = [_run(1, steered=True, person="rejected", status="rejected", merged=False),
            _run(2, level=4, shadow_level=4, person=None),  # level 4: no person's verdict
            _run(3, person=None, status="rejected", merged=False),  # the gate timed out
            _run(4, status="cancelled", merged=False, person=None)]  # neutral
    report = readiness("docs", runs, _policy(), PARTS)
    assert (report.runs, report.decided, report.steered, report.false_merges) == (3, 0, 1, 0)


def test_reverts_and_post_merge_failures_have_an_upper_bound() -> None:
    runs = [_run(1, status="reverted"), _run(2, status="failed"), _run(3), _run(4)]
    report = readiness("docs", runs, _policy(), PARTS)
    assert (report.merged, report.reverted, report.failed_after_merge) == (4, 1, 2)
    assert report.revert_upper is not None and report.revert_upper > 0.5


def test_a_changed_model_starts_a_new_window() -> None:
    parts = {**PARTS, "fp2": {**PARTS["fp1"], "model": "m2"}}
    runs = [_run(i) for i in range(1, 6)] + [_run(i, fingerprint="fp2") for i in range(6, 9)]
    report = readiness("docs", runs, _policy(), parts)
    assert [len(w.runs) for w in report.windows] == [5, 3]
    assert report.runs == 3 and report.window.number == 2
    assert report.window.describe() == "window 2: runs #6..#8, after model m1 -> m2"


def test_another_spec_with_other_checks_is_not_a_change() -> None:
    parts = {**PARTS, "fp2": {**PARTS["fp1"], "checks": ["make test"]}}
    runs = [_run(1), _run(2, spec_id=2, fingerprint="fp2"), _run(3), _run(4, spec_id=2,
                                                                            fingerprint="fp2")]
    assert len(readiness("docs", runs, _policy(), parts).windows) == 1
    runs.append(_run(5, spec_id=2))  # spec 2's checks changed back to fp1's
    report = readiness("docs", runs, _policy(), parts)
    assert len(report.windows) == 2
    assert "checks" in report.window.describe()


def test_trends_cover_the_window_in_slices() -> None:
    runs = [_run(i, cost_usd=float(i)) for i in range(1, 49)]
    trend = readiness("docs", runs, _policy(), PARTS).trends
    assert len(trend["cost_per_merge"]) == 24
    assert trend["cost_per_merge"][0] == 1.5 and trend["agreement"][0] == 1.0
