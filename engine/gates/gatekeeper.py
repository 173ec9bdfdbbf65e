"""What the category's policy asks of a run at each point where a person may be needed.

The pipeline and the agent call these methods at fixed points; each returns a Decision.
This base class is the "nobody in the middle" answer (everything approved), which is what
level 4 gives when no rule trips. `engine.gates.gate.PolicyGatekeeper` subclasses it and opens
real gates as the policy says, waiting for a person's decision from any process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Verdict = Literal["approved", "rejected", "revised"]


@dataclass
class Decision:
    verdict: Verdict = "approved"
    comment: str = ""
    by: str | None = None  # None: decided by the policy, not a person

    @property
    def approved(self) -> bool:
        return self.verdict == "approved"


@dataclass
class ReviewDetail:
    """What a person needs to judge a change against its spec."""

    diff: str
    numstat: str
    checks: list[dict[str, Any]] = field(default_factory=list)
    satisfaction: float | None = None
    scenarios: list[dict[str, Any]] = field(default_factory=list)  # titles and verdicts only
    spend: dict[str, float] = field(default_factory=dict)  # fraction of each budget used


class Gatekeeper:
    def action(self, tool_name: str, tool_input: dict[str, Any], preview: str) -> Decision:
        """An edit or a shell command the agent wants to make (level 2 gates these)."""
        return Decision()

    def plan(self, plan: str) -> Decision:
        """The model's plan before implementing."""
        return Decision()

    def review(self, detail: ReviewDetail) -> Decision:
        """The finished change, before merge; may also open escalation gates."""
        return Decision()

    def budget(self, breach: str) -> Decision:
        """A budget ran out; approved means "carry on"."""
        return Decision(verdict="rejected", comment=breach)

    def conflict(self, files: list[str], detail: str) -> Decision:
        """The base moved and the change no longer merges cleanly."""
        return Decision(verdict="rejected", comment=f"merge conflict in {', '.join(files)}")

    def post_merge(self, detail: dict[str, Any]) -> None:
        """A merged change broke the base and was reverted: tell a person."""

    def finished(self, status: str) -> None:
        """The run ended; the policy may update the category (circuit breaker)."""
