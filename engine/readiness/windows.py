"""Evidence windows: the runs of a category that one factory set-up produced.

Evidence expires: a new model, prompt, policy, check or scenario set changes the
factory, and runs before the change no longer speak for it. Each run carries a
fingerprint of its parts (`engine.readiness.fingerprint`); a run starts a new window
when a part differs from the run before it:
- the category-wide parts (agent backend, instructions and tools, policy) from the
  previous run of the category;
- the spec's own parts (model, checks, scenario set) from the previous run of the
  same spec (specs of one category have checks of their own; running them in turn is
  not a change). A spec's first run starts nothing.
A run without a fingerprint (recorded before fingerprints existed) continues its window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from andon.engine.readiness.facts import RunFacts

#: Parts every run of a category shares; the rest belong to the spec.
CATEGORY_PARTS = ("backend", "prompt", "policy")
SPEC_PARTS = ("model", "checks", "scenarios")
PART_NAMES = {"backend": "agent backend", "prompt": "instructions and tools",
              "policy": "policy", "model": "model", "checks": "checks",
              "scenarios": "scenario set"}


@dataclass(frozen=True)
class Change:
    part: str
    old: Any
    new: Any

    def __str__(self) -> str:
        return f"{PART_NAMES.get(self.part, self.part)} {_short(self.old)} -> {_short(self.new)}"


@dataclass
class Window:
    number: int  # 1 = the oldest
    runs: list[RunFacts] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)  # what started it (none: the first)
    fingerprint: str | None = None  # the fingerprint of its first run

    @property
    def first_run(self) -> int | None:
        return self.runs[0].run_id if self.runs else None

    @property
    def last_run(self) -> int | None:
        return self.runs[-1].run_id if self.runs else None

    def describe(self) -> str:
        span = (f"runs #{self.first_run}..#{self.last_run}" if self.runs else "no runs")
        if not self.changes:
            return f"window {self.number}: {span}"
        return f"window {self.number}: {span}, after " + "; ".join(map(str, self.changes))


def split_windows(runs: Sequence[RunFacts],
                  parts: Mapping[str, Mapping[str, Any]]) -> list[Window]:
    """The runs (one category, oldest first) cut into windows; `parts` maps each
    fingerprint to its parts. Always at least one window."""
    windows = [Window(1)]
    # Compare cheap keys first: whole parts only where a key differs (rare).
    category_key = {fp: tuple(repr(p.get(n)) for n in CATEGORY_PARTS) for fp, p in parts.items()}
    last_key: tuple[str, ...] | None = None
    last_category: Mapping[str, Any] | None = None
    last_spec: dict[int | None, str] = {}
    for run in runs:
        fingerprint = run.fingerprint
        if fingerprint is not None and fingerprint in parts:
            mine = parts[fingerprint]
            key = category_key[fingerprint]
            before = last_spec.get(run.spec_id)
            if (last_key is not None and key != last_key) or (
                    before is not None and before != fingerprint):
                changes = _changes(last_category, mine, CATEGORY_PARTS)
                if before is not None:
                    changes += _changes(parts[before], mine, SPEC_PARTS)
                if changes and windows[-1].runs:
                    windows.append(Window(len(windows) + 1, changes=changes))
            last_key, last_category = key, mine
            last_spec[run.spec_id] = fingerprint
        window = windows[-1]
        if window.fingerprint is None and fingerprint:
            window.fingerprint = fingerprint
        window.runs.append(run)
    return windows


def _changes(before: Mapping[str, Any] | None, after: Mapping[str, Any],
             names: Sequence[str]) -> list[Change]:
    if before is None:
        return []
    return [Change(name, before.get(name), after.get(name)) for name in names
            if before.get(name) != after.get(name)]


def _short(value: Any) -> str:
    if value is None:
        return "none"
    text = value if isinstance(value, str) else repr(value)
    # hashes are long and alike: eight characters tell them apart
    if len(text) >= 32 and all(c in "0123456789abcdef" for c in text):
        return text[:8]
    return text if len(text) <= 40 else text[:37] + "..."
