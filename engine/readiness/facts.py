"""What the readiness report reads of one finished run, and how its review is counted.

`RunFacts` is built from store rows by `engine.readiness.load` (or by hand in tests):
the run's outcome, its evidence fingerprint, and its first review point: what level 4
would have decided there (the shadow verdict) beside the person's verdict on the gate.

Kinds of review (`review_kind`), for runs below level 4 that a person decided:
- ``agree``: level 4 would have merged and the person approved, or level 4 would have
  escalated and the person rejected or asked for changes;
- ``false_merge``: level 4 would have merged, the person rejected or asked for changes
  (the costly error: with nobody looking it would have gone in);
- ``false_escalation``: level 4 would have escalated, the person approved (harmless: a
  person would have been asked anyway, at the cost of their time).
A steered run (a person changed its course before review: an action gate answered
other than approve, a plan sent back) is counted apart: its review says less about
what level 4 would have merged. Runs without a person's verdict (level 4, a gate that
timed out or was voided) have no review kind.
"""

from __future__ import annotations

from dataclasses import dataclass

MERGE = "merge"
ESCALATE = "escalate"
APPROVED = "approved"
REJECTED = "rejected"
REVISED = "revised"
PERSON_VERDICTS = frozenset({APPROVED, REJECTED, REVISED})

AGREE = "agree"
FALSE_MERGE = "false_merge"
FALSE_ESCALATION = "false_escalation"

#: Run statuses that say nothing about the line (a person stopped it, or a recurring
#: spec found nothing to do): they stay out of every figure.
NEUTRAL = frozenset({"cancelled", "unchanged"})


@dataclass(slots=True)  # not frozen: a report builds a hundred thousand of these,
class RunFacts:  # positionally, in the order `engine.readiness.load` selects them
    run_id: int
    category: str
    level: int
    status: str
    spec_id: int | None = None
    merged: bool = False  # its change reached the base (reverted ones too)
    cost_usd: float | None = None
    seconds: float | None = None  # working time: started to finished
    attempts: int = 1
    fingerprint: str | None = None  # None: recorded before fingerprints existed
    conflicts: int = 0
    shadow: str | None = None  # merge, escalate; None: the run never reached review
    shadow_level: int | None = None
    shadow_attempt: int | None = None
    rules: str = ""  # the rules level 4 would have escalated on, comma-separated
    steered: bool = False
    person: str | None = None  # approved, rejected, revised (a person's, not a timeout)
    revisions: int = 0  # gates a person answered "revise"
    title: str = ""  # read only for the runs a report names

    @property
    def counted(self) -> bool:
        return self.status not in NEUTRAL

    @property
    def reverted(self) -> bool:
        return self.status == "reverted"

    @property
    def failed_after_merge(self) -> bool:
        """Merged, then the post-merge checks failed (reverted, or the revert conflicted)."""
        return self.merged and self.status in ("reverted", "failed")

    @property
    def decided(self) -> bool:
        """A person judged its first review below level 4, unsteered: it speaks for
        what level 4 would have done."""
        return (self.shadow is not None and (self.shadow_level or self.level) < 4
                and self.person in PERSON_VERDICTS and not self.steered)

    @property
    def first_attempt_passed(self) -> bool:
        """Its first attempt passed the checks and scenarios (it reached review then)."""
        return self.shadow_attempt == 1

    @property
    def review_kind(self) -> str | None:
        if not self.decided:
            return None
        approved = self.person == APPROVED
        if self.shadow == MERGE:
            return AGREE if approved else FALSE_MERGE
        return FALSE_ESCALATION if approved else AGREE

    @property
    def rule_names(self) -> tuple[str, ...]:
        return tuple(self.rules.split(",")) if self.rules else ()

    @property
    def name(self) -> str:
        return f"run #{self.run_id}"
