"""How a stage tells the pipeline what became of the run: ended, or not good enough
yet (a `Failure` that goes back to the agent). Shared by the stages and the
delivery step, so neither imports the other for them."""

from __future__ import annotations

from dataclasses import dataclass


class RunEnded(Exception):
    def __init__(self, status: str, reason: str) -> None:
        self.status, self.reason = status, reason
        super().__init__(f"{status}: {reason}")


@dataclass
class Failure:
    """What went wrong in one attempt: what the agent is told, and its signature."""

    feedback: str
    signature: str
    summary: str
    checks_failed: bool = False
