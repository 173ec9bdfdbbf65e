"""Andon's walled editor and shell, offered to Claude Code as an in-process MCP server.

Claude Code runs with its own file and shell tools off; these are the only tools it has,
so one set of walls serves both backends: the editor reaches the worktree through
`workspace.confine`, the shell runs in the sandbox with the scrubbed environment, and
every mutating call first goes to the run's gatekeeper (a level-2 person sees the same
preview as with Andon's loop). A refused call is not run, and the person's reason is
the tool result the model reads.

The MCP names are ``mcp__andon__<tool>``; the proxy (engine.agent.proxy) shows the model
the plain names, so scripts, the recorder and `andon replay` read the same for both
backends. Each call leaves the step and the transcript event the loop leaves.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from andon.engine.agent import turnlog
from andon.engine.agent.loop import REFUSED_PREFIX, _summary
from andon.engine.agent.loopguard import LoopGuard
from andon.engine.agent.preview import preview
from andon.engine.agent.tools.base import Tool, ToolOutcome
from andon.engine.agent.tools.editor import COMMANDS
from andon.engine.agent.tools.editor import TOOL_NAME as EDITOR
from andon.engine.agent.tools.shell import TOOL_NAME as SHELL
from andon.engine.gates.gatekeeper import Gatekeeper
from andon.engine.run.control import Cancelled, Stopping
from andon.engine.run.log import RunLog, StepHandle
from andon.store.clock import utcnow

SERVER = "andon"
PREFIX = f"mcp__{SERVER}__"

SCHEMAS: dict[str, tuple[str, dict[str, Any]]] = {
    EDITOR: ("View, create and edit files in the worktree. view: a file (optionally "
             "view_range [start, end]) or a folder. create: path and file_text. "
             "str_replace: old_str (exactly one match) and new_str. insert: insert_line "
             "(0 = the top) and new_str. Paths are relative to the worktree.", {
                 "type": "object",
                 "properties": {
                     "command": {"type": "string", "enum": list(COMMANDS)},
                     "path": {"type": "string"},
                     "file_text": {"type": "string"},
                     "old_str": {"type": "string"},
                     "new_str": {"type": "string"},
                     "insert_line": {"type": "integer"},
                     "view_range": {"type": "array", "items": {"type": "integer"}},
                 },
                 "required": ["command", "path"]}),
    SHELL: ("Run a bash command in the worktree (a persistent session; restart: true "
            "starts a new one).", {
                "type": "object",
                "properties": {"command": {"type": "string"},
                               "restart": {"type": "boolean"}},
            }),
}


def mcp_name(name: str) -> str:
    return PREFIX + name


class WalledTools:
    """The calls Claude Code makes on Andon's tools: gate, run, record."""

    def __init__(self, tools: list[Tool], log: RunLog, gatekeeper: Gatekeeper,
                 paused: Callable[[Callable[[], Any]], Any]) -> None:
        self.tools = {tool.name: tool for tool in tools if tool.name in SCHEMAS}
        self.log = log
        self.gatekeeper = gatekeeper
        self.paused = paused  # wraps a gate wait: not the agent's working time
        self._lock = threading.Lock()  # one call at a time, as the loop runs them
        self.on_stop: Callable[[BaseException], None] | None = None  # the backend's
        self.on_stuck: Callable[[str], None] | None = None
        self.guard = LoopGuard()  # the same call again and again: stuck, as in the loop

    @property
    def allowed(self) -> frozenset[str]:
        return frozenset(mcp_name(name) for name in self.tools)

    def server(self) -> Any:
        """The SDK MCP server configuration offering these tools."""
        import anyio
        from claude_agent_sdk import create_sdk_mcp_server, tool

        def bind(name: str) -> Any:
            description, schema = SCHEMAS[name]

            async def handler(args: dict[str, Any]) -> dict[str, Any]:
                outcome = await anyio.to_thread.run_sync(self.call, name, args)
                text = outcome.text if outcome.text.strip() else "(no output)"
                return {"content": [{"type": "text", "text": text}],
                        "is_error": outcome.is_error}

            return tool(name, description, schema)(handler)

        return create_sdk_mcp_server(SERVER, tools=[bind(name) for name in self.tools])

    def call(self, name: str, tool_input: Any) -> ToolOutcome:
        """One call; a stop or a cancel while it waits at a gate goes to `on_stop` (the
        CLI is ended then) and the call is not run."""
        with self._lock:
            stuck = self.guard.see(name, tool_input)
            if stuck is not None and self.on_stuck is not None:
                self.log.event("agent.stuck", stuck)
                self.on_stuck(stuck)
                return ToolOutcome(f"Not run: {stuck}", is_error=True)
            try:
                return self._call(name, tool_input)
            except (Stopping, Cancelled) as exc:
                if self.on_stop is None:
                    raise
                self.on_stop(exc)
                return ToolOutcome(f"Not run: the run stops ({exc})", is_error=True)

    def _call(self, name: str, tool_input: Any) -> ToolOutcome:
        log = self.log
        with log.db.write() as s:
            step = StepHandle(id=turnlog.add_step(s, turnlog.step_values(
                log.run_id, log.stage, "tool", name, utcnow(), status="running",
                input=tool_input)))
        try:
            outcome = self._outcome(name, tool_input, step)
        except BaseException as exc:  # a stop inside a gate: the step says so, then go
            with log.db.write() as s:
                turnlog.finish_step(s, step.id, status="error", exit_code=None,
                                    output=f"{type(exc).__name__}: {exc}")
            raise
        if step.status == "ok" and outcome.is_error:
            step.status = "refused" if outcome.meta.get("refused") else "failed"
        with log.db.write() as s:
            turnlog.finish_step(s, step.id, status=step.status,
                                output=outcome.full or outcome.text,
                                exit_code=outcome.exit_code)
            turnlog.add_events(s, log.run_id, log.stage, [
                ("tool", f"{name} {_summary(tool_input)}", {"error": outcome.is_error})])
        return outcome

    def _outcome(self, name: str, tool_input: Any, step: StepHandle) -> ToolOutcome:
        tool = self.tools.get(name)
        if tool is None:
            return ToolOutcome(f"Error: unknown tool {name!r}", is_error=True)
        if not isinstance(tool_input, dict):
            return ToolOutcome("Error: the tool input must be a JSON object", is_error=True)
        if tool.is_mutating(tool_input):
            shown = preview(tool, tool_input)
            decision = self.paused(lambda: self.gatekeeper.action(name, tool_input, shown))
            if not decision.approved:
                step.status = "refused"
                who = decision.by or "the policy"
                comment = decision.comment.strip() or "no comment"
                return ToolOutcome(f"{REFUSED_PREFIX} ({who}) did not approve this call "
                                   f"({decision.verdict}): {comment}", is_error=True)
        try:
            return tool.run(tool_input)
        except Exception as exc:  # a tool must never take the run down
            return ToolOutcome(f"Error: the tool failed: {type(exc).__name__}: {exc}",
                               is_error=True)
