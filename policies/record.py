"""Track record of a category, the promotion recommendation and the circuit breaker.

Pure functions over `RunSummary` values (built from store rows by the caller, e.g. with
`RunSummary.from_run`). Status strings are the store's run statuses (store/models.py):
queued, running, waiting, held, interrupted (active) and merged, failed, stuck, rejected,
cancelled, reverted (terminal).

Definitions:
- merged: the run's change reached the base branch (``merged_at`` set, or status merged
  or reverted); a reverted run counts as merged and as reverted.
- human-touch rate: share of runs where a person decided anything (``human_touched``).
- mean cost per merged change: what the category spent on all its runs (failed ones
  too) divided by the number of merged changes; runs with unknown cost add nothing.
- lead time: ``merged_at - submitted_at`` of merged runs.
- a clean run (for promotion): merged, not reverted, not rejected, not escalated, no
  person asked for changes (``revised``), and satisfaction at or over the threshold. A
  person approving a gate is not a change (at level 2 and 3 every merge is approved).
  A run without scenario results (satisfaction None) has not shown it met the threshold.
- a bad run (for the breaker): failed, stuck, rejected, reverted, or escalated.
  Cancelled runs are neither: a person stopped them, the line did not fail.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from andon.policies.level import Level
from andon.policies.policy import Policy

MERGED = "merged"
FAILED = "failed"
STUCK = "stuck"
REJECTED = "rejected"
CANCELLED = "cancelled"
UNCHANGED = "unchanged"
REVERTED = "reverted"
TERMINAL_STATUSES = frozenset({MERGED, FAILED, STUCK, REJECTED, CANCELLED, REVERTED,
                               UNCHANGED})
# Runs that say nothing about how well a line works: a person stopped them, or a
# recurring spec found nothing to do.
NEUTRAL = frozenset({CANCELLED, UNCHANGED})


@dataclass(frozen=True)
class RunSummary:
    category: str
    level: int
    status: str
    human_touched: bool = False
    satisfaction: float | None = None
    cost_usd: float | None = 0.0
    submitted_at: datetime | None = None
    merged_at: datetime | None = None
    escalated: bool = False
    reverted: bool = False
    rejected: bool = False
    revised: bool = False  # a person asked for changes at a gate
    run_id: int | None = None

    @classmethod
    def from_run(cls, run: Any, *, revised: bool = False) -> RunSummary:
        """From any object with the store Run's attributes (category, level, status,
        human_touched, satisfaction, cost_usd, created_at, merged_at, escalated, id)."""
        status = str(run.status)
        return cls(
            category=run.category,
            level=int(run.level),
            status=status,
            human_touched=bool(run.human_touched),
            satisfaction=run.satisfaction,
            cost_usd=run.cost_usd,
            submitted_at=getattr(run, "submitted_at", None) or getattr(run, "created_at", None),
            merged_at=run.merged_at,
            escalated=bool(run.escalated),
            reverted=status == REVERTED or bool(getattr(run, "reverted", False)),
            rejected=status == REJECTED or bool(getattr(run, "rejected", False)),
            revised=revised,
            run_id=getattr(run, "id", None),
        )

    # -- derived ----------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def was_merged(self) -> bool:
        return self.merged_at is not None or self.status in (MERGED, REVERTED)

    @property
    def was_reverted(self) -> bool:
        return self.reverted or self.status == REVERTED

    @property
    def was_rejected(self) -> bool:
        return self.rejected or self.status == REJECTED

    @property
    def failed(self) -> bool:
        return self.status in (FAILED, STUCK)

    @property
    def name(self) -> str:
        return f"run #{self.run_id}" if self.run_id is not None else "a run"


@dataclass(frozen=True)
class TrackRecord:
    runs: int = 0
    merged: int = 0
    rejected: int = 0
    escalated: int = 0
    reverted: int = 0
    failed: int = 0
    human_touch_rate: float | None = None  # None when there are no runs
    total_cost_usd: float = 0.0
    mean_cost_per_merged: float | None = None  # None when nothing merged
    mean_lead_time: timedelta | None = None  # None when no merged run has both times


def track_record(runs: Iterable[RunSummary], category: str | None = None) -> TrackRecord:
    """The numbers for one category (or for all runs given when category is None)."""
    chosen = [r for r in runs if category is None or r.category == category]
    if not chosen:
        return TrackRecord()
    merged = [r for r in chosen if r.was_merged]
    total_cost = sum(r.cost_usd or 0.0 for r in chosen)
    lead_times = [
        r.merged_at - r.submitted_at
        for r in merged
        if r.merged_at is not None and r.submitted_at is not None
    ]
    return TrackRecord(
        runs=len(chosen),
        merged=len(merged),
        rejected=sum(r.was_rejected for r in chosen),
        escalated=sum(r.escalated for r in chosen),
        reverted=sum(r.was_reverted for r in chosen),
        failed=sum(r.failed for r in chosen),
        human_touch_rate=sum(r.human_touched for r in chosen) / len(chosen),
        total_cost_usd=total_cost,
        mean_cost_per_merged=total_cost / len(merged) if merged else None,
        mean_lead_time=sum(lead_times, timedelta()) / len(lead_times) if lead_times else None,
    )


# -- promotion --------------------------------------------------------------------------


@dataclass(frozen=True)
class Recommendation:
    action: Literal["promote", "hold"]
    level: Level  # the current level
    to_level: Level | None  # the level to promote to, when action is "promote"
    reason: str  # one sentence for the policies screen

    @property
    def promote(self) -> bool:
        return self.action == "promote"


def _at_level(
    runs: Iterable[RunSummary], policy: Policy, since: datetime | None
) -> list[RunSummary]:
    """Finished runs of the policy's category at its current level, oldest first."""
    chosen = [
        r
        for r in runs
        if r.category == policy.category
        and r.level == int(policy.level)
        and r.finished
        and (since is None or (r.submitted_at is not None and r.submitted_at >= since))
    ]
    return sorted(
        chosen,
        key=lambda r: (
            r.submitted_at.timestamp() if r.submitted_at else float("-inf"),
            r.run_id or 0,
        ),
    )


def unclean_reason(run: RunSummary, policy: Policy) -> str | None:
    """Why a run does not count toward promotion, or None when it is clean."""
    if run.was_rejected:
        return f"{run.name} was rejected at a gate"
    if run.was_reverted:
        return f"{run.name} was reverted after merging"
    if not run.was_merged:
        return f"{run.name} did not merge ({run.status})"
    if run.revised:
        return f"{run.name} needed a person to ask for changes"
    if run.escalated:
        return f"{run.name} was escalated"
    threshold = policy.satisfaction_threshold
    if run.satisfaction is None:
        return f"{run.name} had no scenario results to compare with {threshold:.2f}"
    if run.satisfaction < threshold:
        return f"{run.name} had satisfaction {run.satisfaction:.2f}, under {threshold:.2f}"
    return None


def recommend(
    runs: Iterable[RunSummary], policy: Policy, *, since: datetime | None = None
) -> Recommendation:
    """Promote when the last ``promote_after`` finished runs at the current level were all
    clean; hold otherwise, saying why. ``since`` (the time of the last level change)
    keeps runs from an earlier stint at this level out."""
    level = Level(policy.level)
    if level.higher is None:
        return Recommendation(
            "hold", level, None, f"{policy.category} is at {level.title}, the highest level."
        )
    needed = policy.promote_after
    recent = _at_level(runs, policy, since)[-needed:]
    blocker = None
    for run in reversed(recent):  # the most recent unclean run is the one to name
        blocker = unclean_reason(run, policy)
        if blocker is not None:
            break
    condition = (
        f"{needed} clean runs in a row at level {int(level)} (merged with no human change, "
        f"satisfaction >= {policy.satisfaction_threshold:.2f})"
    )
    if blocker is not None:
        return Recommendation(
            "hold", level, None, f"Hold: {blocker}; promotion needs {condition}."
        )
    if len(recent) < needed:
        return Recommendation(
            "hold",
            level,
            None,
            f"Hold: {len(recent)} of {needed} runs so far; promotion needs {condition}.",
        )
    return Recommendation(
        "promote",
        level,
        level.higher,
        f"Promote to {level.higher.title}: the last {needed} runs at level {int(level)} "
        f"merged with no human change and satisfaction >= {policy.satisfaction_threshold:.2f}.",
    )


# -- circuit breaker --------------------------------------------------------------------


def _bad(run: RunSummary) -> str | None:
    if run.was_reverted:
        return "reverted"
    if run.status in NEUTRAL:
        return None
    if run.failed:
        return run.status
    if run.was_rejected:
        return "rejected"
    if run.escalated:
        return "escalated"
    return None


def breaker_trips(
    runs: Iterable[RunSummary], policy: Policy, *, since: datetime | None = None
) -> str | None:
    """The reason to demote a level-4 category at once, or None.

    Trips on a reverted dark merge, or on ``demote_after`` failed or escalated runs in a
    row at level 4 (cancelled runs, and recurring runs that found nothing to change, are
    skipped). ``since``: the time the category last
    reached level 4, so that runs from an earlier dark stint do not trip it again.
    """
    if int(policy.level) != Level.DARK:
        return None
    dark = _at_level(runs, policy, since)
    for run in reversed(dark):
        if run.was_reverted:
            return f"circuit breaker: the dark merge of {run.name} was reverted"
    counted: Sequence[RunSummary] = [r for r in dark if r.status not in NEUTRAL]
    tail = counted[-policy.demote_after :]
    if len(tail) < policy.demote_after:
        return None
    outcomes = [(run, _bad(run)) for run in tail]
    if any(outcome is None for _, outcome in outcomes):
        return None
    listed = ", ".join(f"{run.name} {outcome}" for run, outcome in outcomes)
    noun = "run" if policy.demote_after == 1 else "runs in a row"
    return (
        f"circuit breaker: {policy.demote_after} {noun} at level 4 failed or escalated "
        f"({listed})"
    )
