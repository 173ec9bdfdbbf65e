"""What every tool returns, and the shape the agent loop relies on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class ToolOutcome:
    """The result of one tool call.

    `text` is what the model sees (already capped); `full` is what the step record keeps
    (bounded too, but much larger); `mutating` says whether the call changed the worktree
    or ran a command, which is what a level-2 gate cares about.
    """

    text: str
    is_error: bool = False
    full: str | None = None
    exit_code: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class Tool(Protocol):
    name: str

    def definition(self) -> dict[str, Any]:
        """The tool block sent in the Messages API `tools` list."""

    def is_mutating(self, tool_input: dict[str, Any]) -> bool:
        """True when running this input would change files or run a command."""

    def run(self, tool_input: dict[str, Any]) -> ToolOutcome:
        """Execute; never raise for bad input, return an error outcome instead."""

    def close(self) -> None: ...
