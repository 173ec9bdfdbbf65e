"""Track record, promotion recommendation and the level-4 circuit breaker."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from andon.policies.level import Level
from andon.policies.policy import Policy
from andon.policies.record import RunSummary, breaker_trips, recommend, track_record

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def run(n, *, category="bugfix", level=3, status="merged", **fields):
    submitted = T0 + timedelta(hours=n)
    merged = submitted + timedelta(minutes=30) if status in ("merged", "reverted") else None
    values = dict(
        category=category, level=level, status=status, human_touched=True,
        satisfaction=1.0, cost_usd=1.0, submitted_at=submitted, merged_at=merged,
        escalated=False, reverted=status == "reverted", rejected=status == "rejected",
        run_id=n,
    )
    values.update(fields)
    return RunSummary(**values)


def test_track_record_counts_what_a_person_asks_about():
    runs = [
        run(1),
        run(2, status="failed", cost_usd=2.0, human_touched=False),
        run(3, status="rejected", cost_usd=0.5),
        run(4, escalated=True, merged_at=T0 + timedelta(hours=4, minutes=90)),
        run(5, status="reverted"),
        run(6, category="docs", level=4),
        run(7, cost_usd=None),  # unknown cost adds nothing
    ]
    record = track_record(runs, "bugfix")
    assert record.runs == 6
    assert (record.merged, record.rejected, record.escalated, record.reverted) == (4, 1, 1, 1)
    assert record.failed == 1
    assert record.human_touch_rate == pytest.approx(5 / 6)
    assert record.total_cost_usd == pytest.approx(5.5)
    assert record.mean_cost_per_merged == pytest.approx(5.5 / 4)
    # 30 + 30 + 90 + 30 minutes over four merged runs
    assert record.mean_lead_time == timedelta(minutes=45)


def test_track_record_of_nothing_is_empty_not_zero_division():
    record = track_record([], "docs")
    assert record.runs == 0 and record.human_touch_rate is None
    assert record.mean_cost_per_merged is None and record.mean_lead_time is None


def bugfix(**fields):
    return Policy(category="bugfix", level=3, satisfaction_threshold=0.9, promote_after=3,
                  **fields)


def test_promote_after_n_clean_runs_at_the_current_level():
    runs = [run(1, status="failed"), run(2), run(3), run(4, satisfaction=0.95)]
    verdict = recommend(runs, bugfix())
    assert verdict.promote and verdict.to_level is Level.DARK
    assert verdict.reason == (
        "Promote to level 4 (dark): the last 3 runs at level 3 merged with no human "
        "change and satisfaction >= 0.90."
    )


def test_hold_until_enough_runs():
    verdict = recommend([run(1), run(2), run(3, level=2)], bugfix())
    assert verdict.action == "hold" and verdict.to_level is None
    assert verdict.reason.startswith("Hold: 2 of 3 runs so far; promotion needs 3 clean runs")


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (dict(status="failed"), "run #3 did not merge (failed)"),
        (dict(status="rejected"), "run #3 was rejected at a gate"),
        (dict(revised=True), "run #3 needed a person to ask for changes"),
        (dict(escalated=True), "run #3 was escalated"),
        (dict(status="reverted"), "run #3 was reverted after merging"),
        (dict(satisfaction=0.8), "run #3 had satisfaction 0.80, under 0.90"),
        (dict(satisfaction=None), "run #3 had no scenario results to compare with 0.90"),
    ],
)
def test_hold_names_the_run_that_needed_a_person(bad, why):
    runs = [run(1), run(2), run(3, **bad), run(4)]
    verdict = recommend(runs, bugfix())
    assert verdict.action == "hold"
    assert verdict.reason.startswith(f"Hold: {why}; promotion needs 3 clean runs in a row")


def test_unfinished_and_other_category_runs_do_not_count():
    runs = [run(1), run(2), run(3), run(4, status="running"), run(5, category="docs",
                                                                 status="failed")]
    assert recommend(runs, bugfix()).promote


def test_since_ignores_an_earlier_stint_at_the_level():
    runs = [run(1), run(2), run(3)]
    assert not recommend(runs, bugfix(), since=T0 + timedelta(hours=2)).promote


def test_level_4_never_promotes():
    verdict = recommend([run(1, level=4)], Policy(category="docs", level=4))
    assert verdict.action == "hold"
    assert verdict.reason == "docs is at level 4 (dark), the highest level."


def docs(**fields):
    return Policy(category="docs", level=4, demote_after=2, **fields)


def dark(n, **fields):
    return run(n, category="docs", level=4, human_touched=False, **fields)


def test_breaker_trips_on_k_failures_or_escalations_in_a_row():
    runs = [dark(1), dark(2, status="failed"), dark(3, escalated=True)]
    assert breaker_trips(runs, docs()) == (
        "circuit breaker: 2 runs in a row at level 4 failed or escalated "
        "(run #2 failed, run #3 escalated)"
    )


def test_breaker_holds_when_a_good_run_breaks_the_streak():
    runs = [dark(1, status="failed"), dark(2), dark(3, status="failed")]
    assert breaker_trips(runs, docs()) is None
    # cancelled runs neither break nor extend a streak
    runs = [dark(1, status="failed"), dark(2, status="cancelled"), dark(3, status="stuck")]
    assert "run #1 failed, run #3 stuck" in breaker_trips(runs, docs())


def test_breaker_trips_on_any_reverted_dark_merge():
    runs = [dark(1, status="reverted"), dark(2), dark(3)]
    assert breaker_trips(runs, docs()) == (
        "circuit breaker: the dark merge of run #1 was reverted"
    )
    # ...but not for a revert from before the category last went dark
    assert breaker_trips(runs, docs(), since=T0 + timedelta(hours=2)) is None


def test_breaker_only_watches_level_4():
    runs = [run(1, status="failed"), run(2, status="failed"), run(3, status="reverted")]
    assert breaker_trips(runs, bugfix(demote_after=2)) is None
    # runs at level 3 of a category now at 4 are not dark failures
    assert breaker_trips([replace(r, category="docs") for r in runs], docs()) is None


@dataclass
class StoreRun:  # the attribute names of store.models.Run
    id: int
    category: str
    level: int
    status: str
    human_touched: bool
    satisfaction: float | None
    cost_usd: float | None
    created_at: datetime
    merged_at: datetime | None
    escalated: bool


def test_summary_from_a_store_shaped_run():
    row = StoreRun(7, "docs", 4, "reverted", False, 1.0, 0.25, T0, T0 + timedelta(hours=1),
                   False)
    summary = RunSummary.from_run(row)
    assert summary.reverted and summary.was_merged and not summary.rejected
    assert summary.submitted_at == T0 and summary.run_id == 7
    assert breaker_trips([summary], docs()) == (
        "circuit breaker: the dark merge of run #7 was reverted"
    )
