"""A run's budgets (turns, tokens, dollars, wall minutes) and the check between turns.

`RunBudget.tightest(spec.budget, policy.budget)` takes, for each kind, the smallest limit any
source sets (a source may be a dict, a pydantic model, a RunBudget or None; a missing or None
value means "no limit from this source"). `RunBudget.check(spend)` returns a `Breach` when a
limit is reached, with a reason that names the budget and says by how much it is spent.

What counts:

* turns: model requests made for the run (every attempt).
* tokens: every token the model processed for the run: fresh input, cache writes, cache
  reads and output.
* usd: the run's cost (engine.llm.pricing); when the cost is unknown the dollar budget cannot
  be checked and is not breached (the board shows the cost as unknown).
* minutes: the agent's own working time (gate waits, cord holds and model outages do
  not count: a slow person must not use up the run's budget).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

KINDS = ("turns", "tokens", "usd", "minutes")


@dataclass(frozen=True)
class Spend:
    turns: int = 0
    tokens: int = 0
    usd: float | None = 0.0  # None: unknown
    minutes: float = 0.0


@dataclass(frozen=True)
class Breach:
    kind: str  # one of KINDS
    used: float
    limit: float

    @property
    def over(self) -> float:
        return max(0.0, self.used - self.limit)

    @property
    def reason(self) -> str:
        used, limit, over = self.used, self.limit, self.over
        if self.kind == "turns":
            text = f"turn budget spent: {int(used)} of {int(limit)} turns used"
            return text + (f" ({int(over)} over)" if over else "")
        if self.kind == "tokens":
            text = f"token budget spent: {int(used):,} of {int(limit):,} tokens used"
            return text + (f" ({int(over):,} over)" if over else "")
        if self.kind == "usd":
            text = f"dollar budget spent: {_usd(used)} of {_usd(limit)}"
            return text + (f" ({_usd(over)} over)" if over > 0 else "")
        text = f"time budget spent: {used:.1f} of {limit:g} minutes"
        return text + (f" ({over:.1f} over)" if over >= 0.05 else "")


@dataclass(frozen=True)
class RunBudget:
    turns: int | None = None
    tokens: int | None = None
    usd: float | None = None
    minutes: float | None = None

    @classmethod
    def tightest(cls, *sources: Any) -> RunBudget:
        """The smallest limit of each kind over all sources (None: no limit)."""
        limits: dict[str, float | None] = dict.fromkeys(KINDS)
        for source in sources:
            for kind in KINDS:
                value = _value(source, kind)
                if value is None:
                    continue
                current = limits[kind]
                limits[kind] = value if current is None else min(current, value)
        return cls(
            turns=None if limits["turns"] is None else int(limits["turns"]),
            tokens=None if limits["tokens"] is None else int(limits["tokens"]),
            usd=limits["usd"],
            minutes=limits["minutes"],
        )

    def check(self, spend: Spend) -> Breach | None:
        """The first budget that is used up, or None."""
        for kind in KINDS:
            limit = getattr(self, kind)
            used = getattr(spend, kind)
            if limit is None or used is None:
                continue
            if used >= limit:
                return Breach(kind, float(used), float(limit))
        return None

    def extended(self, breach: Breach) -> RunBudget:
        """This budget with one more allotment of the breached kind: the used amount plus
        the original limit (a person approved carrying on)."""
        limit = getattr(self, breach.kind)
        if limit is None:
            return self
        more = breach.used + limit
        return replace(self, **{breach.kind: int(more) if breach.kind in ("turns", "tokens")
                                else more})

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in KINDS if getattr(self, k) is not None}


def _usd(amount: float) -> str:
    return f"${amount:,.2f}" if amount >= 0.01 or amount == 0 else f"${amount:.4f}"


def _value(source: Any, kind: str) -> float | None:
    if source is None:
        return None
    value = source.get(kind) if isinstance(source, dict) else getattr(source, kind, None)
    if value is None or isinstance(value, bool):
        return None
    return float(value)
