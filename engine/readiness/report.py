"""The readiness of one category: its figures in the current evidence window, their
trends, and a recommendation in numbers against the policy's ``promote_when``.

Pure functions over `RunFacts` (see `engine.readiness.facts` for how a review counts).
The costly error comes first: the false-merge rate with its 95% upper bound; then
agreement with its Wilson interval, reverts and post-merge failures with their upper
bound (the rule of three at zero), escalations by rule, first-attempt success, attempts
per merge, revisions people asked for, cost and working time per merged change, merge
conflicts, and the circuit breaker's trips.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from andon.engine.readiness import stats
from andon.engine.readiness.facts import AGREE, FALSE_MERGE, RunFacts
from andon.engine.readiness.windows import Window, split_windows
from andon.policies.level import Level
from andon.policies.policy import Policy

TREND_POINTS = 24  # buckets a trend is drawn from (a sparkline's width fits 80 columns)


@dataclass(frozen=True)
class Disagreement:
    run_id: int
    title: str
    kind: str  # false_merge, false_escalation
    shadow: str
    person: str
    rules: tuple[str, ...]


@dataclass(frozen=True)
class Recommendation:
    ready: bool
    level: int
    sentence: str  # "docs may run dark: ..." or "not yet: ..."
    missing: tuple[str, ...] = ()


@dataclass
class Readiness:
    category: str
    level: int
    window: Window
    windows: list[Window]
    runs: int = 0  # counted runs in the window (cancelled and unchanged left out)
    decided: int = 0  # reviews a person decided below level 4, unsteered
    steered: int = 0
    agreed: int = 0
    false_merges: int = 0
    false_escalations: int = 0
    merged: int = 0
    reverted: int = 0
    failed_after_merge: int = 0
    escalations: dict[str, int] = field(default_factory=dict)
    first_attempt: int = 0  # runs whose first attempt passed validation
    attempts_merged: int = 0  # attempts of merged runs, summed
    revisions: int = 0
    conflicts: int = 0
    cost_usd: float = 0.0
    cost_known: bool = True
    seconds: float = 0.0
    disagreements: list[Disagreement] = field(default_factory=list)
    trends: dict[str, list[float | None]] = field(default_factory=dict)
    breaker_trips: list[str] = field(default_factory=list)
    recommendation: Recommendation | None = None

    # -- figures with their bounds ------------------------------------------------------

    @property
    def false_merge_rate(self) -> float | None:
        return stats.rate(self.false_merges, self.decided)

    @property
    def false_merge_upper(self) -> float | None:
        return stats.upper_bound(self.false_merges, self.decided)

    @property
    def agreement(self) -> float | None:
        return stats.rate(self.agreed, self.decided)

    @property
    def agreement_interval(self) -> stats.Interval | None:
        return stats.wilson(self.agreed, self.decided)

    @property
    def revert_rate(self) -> float | None:
        return stats.rate(self.failed_after_merge, self.merged)

    @property
    def revert_upper(self) -> float | None:
        return stats.upper_bound(self.failed_after_merge, self.merged)

    @property
    def first_attempt_rate(self) -> float | None:
        return stats.rate(self.first_attempt, self.runs)

    @property
    def attempts_per_merge(self) -> float | None:
        return self.attempts_merged / self.merged if self.merged else None

    @property
    def cost_per_merge(self) -> float | None:
        return self.cost_usd / self.merged if self.merged and self.cost_known else None

    @property
    def seconds_per_merge(self) -> float | None:
        return self.seconds / self.merged if self.merged else None


def readiness(category: str, runs: Sequence[RunFacts], policy: Policy,
              parts: Mapping[str, Mapping[str, Any]], *,
              breaker_trips: Sequence[str] = ()) -> Readiness:
    """The report of one category from its finished runs (oldest first)."""
    mine = [r for r in runs if r.category == category]
    windows = split_windows(mine, parts)
    window = windows[-1]
    report = Readiness(category, int(policy.level), window, windows,
                       breaker_trips=list(breaker_trips))
    counted = [r for r in window.runs if r.counted]
    kinds = [r.review_kind for r in counted]  # once: a window holds thousands of runs
    _count(report, counted, kinds)
    report.trends = trends(counted, kinds=kinds)
    report.recommendation = recommend(report, policy)
    return report


def _count(report: Readiness, runs: Sequence[RunFacts], kinds: Sequence[str | None]) -> None:
    escalations: Counter[str] = Counter()
    cost, cost_known, seconds = 0.0, True, 0.0
    for run, kind in zip(runs, kinds, strict=True):
        if kind is not None:
            report.decided += 1
            if kind == AGREE:
                report.agreed += 1
            else:
                if kind == FALSE_MERGE:
                    report.false_merges += 1
                else:
                    report.false_escalations += 1
                report.disagreements.append(Disagreement(
                    run.run_id, run.title, kind, run.shadow or "", run.person or "",
                    run.rule_names))
        elif run.steered:
            report.steered += 1
        if run.merged:
            report.merged += 1
            report.attempts_merged += run.attempts
            if run.status in ("reverted", "failed"):
                report.failed_after_merge += 1
                report.reverted += run.status == "reverted"
        if run.rules:
            escalations.update(run.rule_names)
        if run.shadow_attempt == 1:
            report.first_attempt += 1
        report.revisions += run.revisions
        report.conflicts += run.conflicts
        if run.cost_usd is None:
            cost_known = False
        else:
            cost += run.cost_usd
        seconds += run.seconds or 0.0
    report.runs = len(runs)
    report.cost_usd, report.cost_known, report.seconds = cost, cost_known, seconds
    report.escalations = dict(escalations.most_common())


def trends(runs: Sequence[RunFacts], points: int = TREND_POINTS, *,
           kinds: Sequence[str | None] | None = None) -> dict[str, list[float | None]]:
    """Each figure over consecutive slices of the window (oldest first): false-merge
    rate, agreement, revert rate, cost and working time per merged change. None: nothing to measure
    in that slice. `kinds`: the runs' review kinds, when the caller has them already."""
    if kinds is None:
        kinds = [r.review_kind for r in runs]
    out: dict[str, list[float | None]] = {"false_merges": [], "agreement": [],
                                          "reverts": [], "cost_per_merge": [],
                                          "seconds_per_merge": []}
    if not runs:
        return out
    size = max(1, -(-len(runs) // points))
    for start in range(0, len(runs), size):
        chunk = runs[start:start + size]
        judged = [k for k in kinds[start:start + size] if k is not None]
        merged = [r for r in chunk if r.merged]
        out["false_merges"].append(
            judged.count(FALSE_MERGE) / len(judged) if judged else None)
        out["agreement"].append(judged.count(AGREE) / len(judged) if judged else None)
        out["reverts"].append(
            sum(r.failed_after_merge for r in merged) / len(merged) if merged else None)
        costs = [r.cost_usd for r in chunk]
        out["cost_per_merge"].append(
            sum(c for c in costs if c is not None) / len(merged)
            if merged and None not in costs else None)
        out["seconds_per_merge"].append(
            sum(r.seconds or 0.0 for r in chunk) / len(merged) if merged else None)
    return out


def recommend(report: Readiness, policy: Policy) -> Recommendation:
    """May the category run dark? A yes needs ``min_runs`` decided runs and the upper
    bounds of false merges and reverts at or under the policy's lines."""
    level = Level(policy.level)
    name = report.category
    if level == Level.DARK:
        trips = (f"; the circuit breaker tripped {len(report.breaker_trips)} time"
                 f"{'s' if len(report.breaker_trips) != 1 else ''}"
                 if report.breaker_trips else "")
        return Recommendation(True, int(level), f"{name} runs dark (level 4){trips}.")
    when = policy.promote_when
    missing: list[str] = []
    if report.decided < when.min_runs:
        missing.append(f"{when.min_runs - report.decided} more decided runs "
                       f"(min_runs {when.min_runs})")
    fm_upper = report.false_merge_upper
    if fm_upper is None or fm_upper > when.max_false_merge_rate:
        more = stats.trials_needed(when.max_false_merge_rate, report.false_merges)
        missing.append(f"{more - report.decided} more agreeing runs to bring false merges "
                       f"under {when.max_false_merge_rate:.1%}")
    rv_upper = report.revert_upper
    if rv_upper is None or rv_upper > when.max_revert_rate:
        more = stats.trials_needed(when.max_revert_rate, report.failed_after_merge)
        missing.append(f"{more - report.merged} more merges without a revert to bring "
                       f"reverts under {when.max_revert_rate:.1%}")
    figures = (f"{report.decided} runs, {_false_merges(report)}, "
               f"{_reverts(report)}")
    if not missing:
        return Recommendation(True, int(level), f"{name} may run dark: {figures}.")
    return Recommendation(False, int(level),
                          f"{name} not yet: {figures}; needs " + ", ".join(missing) + ".",
                          tuple(missing))


def _false_merges(report: Readiness) -> str:
    upper = report.false_merge_upper
    bound = f" (at most {upper:.1%} at 95%)" if upper is not None else ""
    return f"false merges {report.false_merges} of {report.decided}{bound}"


def _reverts(report: Readiness) -> str:
    upper = report.revert_upper
    bound = f" (at most {upper:.1%})" if upper is not None else ""
    noun = "revert" if report.failed_after_merge == 1 else "reverts"
    return f"{report.failed_after_merge} {noun} in {report.merged} merges{bound}"
