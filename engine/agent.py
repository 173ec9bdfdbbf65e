"""The implement stage's agent: a Messages API tool-use loop over the run's worktree.

The model proposes tool calls; Andon executes them (editor and bash, both confined to the
worktree) and feeds the results back, until the model ends its turn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anthropic

from engine.runlog import RunLog
from engine.tools.base import Tool, ToolOutcome


@dataclass
class ToolDecision:
    allowed: bool
    comment: str = ""


Approver = Callable[[str, dict[str, Any]], ToolDecision]


@dataclass
class AgentResult:
    status: str  # done, refusal, turns, error
    reason: str = ""
    turns: int = 0


class Agent:
    def __init__(
        self,
        *,
        client: anthropic.Anthropic,
        model: str,
        tools: list[Tool],
        log: RunLog,
        system: str,
        max_turns: int = 50,
        max_tokens: int = 8192,
        approve: Approver | None = None,
    ) -> None:
        self.client = client
        self.model = model
        self.tools = {tool.name: tool for tool in tools}
        self.log = log
        self.system = system
        self.max_turns = max_turns
        self.max_tokens = max_tokens
        self.approve = approve

    def run(self, messages: list[dict[str, Any]]) -> AgentResult:
        turn = 0
        while turn < self.max_turns:
            turn += 1
            with self.log.step("turn", f"turn {turn}") as step:
                reply = self.client.messages.create(
                    model=self.model,
                    max_tokens=self.max_tokens,
                    system=self.system,
                    tools=[tool.definition() for tool in self.tools.values()],
                    messages=messages,
                )
                text = "".join(b.text for b in reply.content if b.type == "text")
                step.output = text
                step.data = {"stop_reason": reply.stop_reason,
                             "usage": reply.usage.model_dump(exclude_none=True)}
            self._count(reply)
            if text:
                self.log.event("model.text", text)
            messages.append({"role": "assistant",
                             "content": [b.model_dump(exclude_none=True) for b in reply.content]})
            if reply.stop_reason == "refusal":
                return AgentResult("refusal", "the model refused to continue", turn)
            calls = [b for b in reply.content if b.type == "tool_use"]
            if not calls:
                return AgentResult("done", "", turn)
            messages.append({"role": "user", "content": [self._call(b) for b in calls]})
        return AgentResult("turns", f"turn limit of {self.max_turns} reached", turn)

    def _count(self, reply: Any) -> None:
        run = self.log.run()
        self.log.update(turns=run.turns + 1,
                        tokens_in=run.tokens_in + reply.usage.input_tokens,
                        tokens_out=run.tokens_out + reply.usage.output_tokens)

    def _call(self, block: Any) -> dict[str, Any]:
        tool = self.tools.get(block.name)
        tool_input = block.input if isinstance(block.input, dict) else {}
        with self.log.step("tool", block.name, input=tool_input) as step:
            if tool is None:
                outcome = ToolOutcome(f"unknown tool {block.name!r}", is_error=True)
            elif (self.approve is not None and tool.is_mutating(tool_input)
                  and not (decision := self.approve(block.name, tool_input)).allowed):
                outcome = ToolOutcome(f"refused by a person: {decision.comment}", is_error=True)
            else:
                outcome = tool.run(tool_input)
            step.output = outcome.full or outcome.text
            step.exit_code = outcome.exit_code
            step.status = "failed" if outcome.is_error else "ok"
        self.log.event("tool", f"{block.name} {_summary(tool_input)}",
                       error=outcome.is_error)
        return {"type": "tool_result", "tool_use_id": block.id,
                "content": outcome.text, "is_error": outcome.is_error}


def _summary(tool_input: dict[str, Any]) -> str:
    if "command" in tool_input and isinstance(tool_input["command"], str):
        parts = [tool_input["command"]]
        if "path" in tool_input:
            parts.append(str(tool_input["path"]))
        return " ".join(parts)[:200]
    return str(tool_input)[:200]
