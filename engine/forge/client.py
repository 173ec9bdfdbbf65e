"""What Andon asks of a forge, whichever it is.

`forge.connect.open_forge(settings)` gives a `Forge` (GitHub through githubkit, GitLab
through python-gitlab; both from the optional extra `andon[forge]`). Every method raises
`ForgeWeather` for a rate limit, a 5xx or an outage, and `ForgePermission` naming
the permission when the token may not do what was asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

State = Literal["success", "pending", "failure"]


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str  # the page a person opens
    head: str  # the head commit the forge has for the branch
    base: str
    state: Literal["open", "closed", "merged"]
    merge_commit: str | None = None


@dataclass(frozen=True)
class CheckRun:
    name: str
    state: State
    detail: str = ""  # the check's own description or summary
    url: str = ""


@dataclass
class Checks:
    """The required checks of a branch against what ran on one commit."""

    required: list[str]
    runs: dict[str, CheckRun] = field(default_factory=dict)

    @property
    def failing(self) -> list[CheckRun]:
        return [r for n, r in sorted(self.runs.items())
                if n in self.required and r.state == "failure"]

    @property
    def waiting(self) -> list[str]:
        """Required checks that have not reported success or failure yet."""
        return [n for n in self.required
                if n not in self.runs or self.runs[n].state == "pending"]

    @property
    def state(self) -> State:
        if self.failing:
            return "failure"
        return "pending" if self.waiting else "success"


@dataclass(frozen=True)
class MergeOutcome:
    merged: bool
    sha: str | None = None  # the commit the merge put on the base
    refused: Literal["head moved", "not mergeable", ""] = ""
    detail: str = ""


class Forge(Protocol):
    name: str

    def branch_head(self, branch: str) -> str | None: ...

    def find_pull(self, branch: str, base: str) -> PullRequest | None: ...

    def open_pull(self, branch: str, base: str, title: str, body: str) -> PullRequest: ...

    def update_pull(self, number: int, title: str, body: str) -> PullRequest: ...

    def get_pull(self, number: int) -> PullRequest: ...

    def required_checks(self, base: str) -> list[str]: ...

    def checks(self, sha: str, required: list[str]) -> Checks: ...

    def approvals(self, number: int, head: str) -> list[str]: ...

    def merge(self, number: int, head: str, title: str, message: str) -> MergeOutcome: ...

    def close(self) -> None: ...
