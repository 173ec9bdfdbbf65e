"""Claude Code as the implementing agent, under Andon's gates, walls, budgets and recorder.

The pipeline calls it as it calls the built-in loop (engine.agent.backend):
`run(messages, attempt=n)` talks Claude Code through one attempt and returns an
`AgentResult`. What keeps the guarantees:

* tools: Claude Code's own file and shell tools are off; its only tools are Andon's
  walled editor and shell (engine.agent.walled_tools), gated per call, and
  `can_use_tool` denies any other name;
* settings: none are read from the worktree or a home (`setting_sources=[]`, only our
  MCP server, and the CLI's working folder, home and config folder are a private
  folder of the run under the factory's home, not the worktree);
* the key and the budgets: the CLI's model calls go to a per-run loopback proxy
  (engine.agent.proxy) with a token that is good for that proxy only; the proxy adds
  the key, enforces the budgets, and records every exchange; the CLI's environment is
  scrubbed like the agent's shell's (the SDK passes the engine's environment on, so
  every secret is blanked by name);
* resuming: each attempt has its own session id; an interrupted attempt resumes its
  session (the calls it made are in it and are not made again), a later attempt
  continues the previous attempt's session with the feedback.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from andon.engine.agent import checkpoint
from andon.engine.agent.budget import Breach, RunBudget, Spend
from andon.engine.agent.loop import BUDGET, DONE, ERROR, STUCK, AgentResult, _spend_of
from andon.engine.agent.loopguard import LoopGuard
from andon.engine.agent.proxy import ModelProxy
from andon.engine.agent.tools.base import Tool
from andon.engine.agent.walled_tools import SERVER, WalledTools
from andon.engine.gates.gatekeeper import Gatekeeper
from andon.engine.llm.client import ModelClient
from andon.engine.run.control import RunControl
from andon.engine.run.log import RunLog
from andon.engine.workspace.environment import scrubbed_env

T = TypeVar("T")
RESUMED = ("The engine restarted and resumed this session. The worktree holds every change "
           "made so far; look before you change anything again, then carry on.")
MORE_BUDGET = "A person allowed more budget. Carry on where you stopped."
STDERR_LINES = 20
WAIT_MS = str(30 * 24 * 3600 * 1000)  # a month: the engine, not the CLI, decides how long
LAUNCHER = """#!{python}
# Andon: the Claude Code CLI, ended with the engine that started it (PR_SET_PDEATHSIG).
import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)
except (AttributeError, OSError):
    pass  # not Linux: the CLI ends when its stdin closes
if os.getppid() != {parent}:
    os._exit(1)  # the engine is already gone
os.execv({cli!r}, [{cli!r}, *sys.argv[1:]])
"""


class ClaudeCodeAgent:
    def __init__(self, *, llm: ModelClient, tools: list[Tool], log: RunLog, system: str,
                 folder: Path, budget: RunBudget | None = None,
                 control: RunControl | None = None, gatekeeper: Gatekeeper | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.llm = llm
        self.log = log
        self.system = system
        self.folder = folder  # private to the run: the CLI's cwd, home and config
        self.budget = budget or RunBudget()
        self.control = control or RunControl(log.db, log.run_id)
        self.gatekeeper = gatekeeper or Gatekeeper()
        self.tools = WalledTools(tools, log, self.gatekeeper, self._paused_call)
        self.clock = clock
        self._paused = 0.0
        self._started = clock()
        self._base = 0.0
        self.stderr: list[str] = []
        self.budget_extended = False

    def extend_budget(self, breach: Breach) -> RunBudget:
        self.budget_extended = True
        self.budget = self.budget.extended(breach)
        return self.budget

    def run(self, messages: list[dict[str, Any]], *, attempt: int = 0) -> AgentResult:
        import anyio

        last = checkpoint.latest(self.log.db, self.log.run_id, attempt)
        if last is not None:  # a resumed attempt: its working time and the guard go on
            self.tools.guard = LoopGuard(last.calls)
        self._base = checkpoint.elapsed(self.log.db, self.log.run_id)
        self._started, self._paused = self.clock(), 0.0
        proxy = ModelProxy(self.llm, self.log, attempt=attempt, budget=lambda: self.budget,
                           spend=self._spend, boundary=self.control.boundary,
                           paused=self._paused_call, elapsed=self._elapsed,
                           calls=lambda: list(self.tools.guard.history)).start()
        self.tools.on_stop = lambda exc: setattr(proxy, "stopped", exc)
        self.tools.on_stuck = lambda why: setattr(proxy, "stuck", why)
        failure = ""
        try:
            result = anyio.run(self._converse, proxy, messages, attempt)
        except Exception as exc:  # the CLI failed to start or died: the run says why
            result, failure = None, f"{type(exc).__name__}: {exc}"
        finally:
            proxy.close()
        if proxy.stopped is not None:
            raise proxy.stopped
        if proxy.breach is not None:
            return AgentResult(BUDGET, proxy.breach.reason, proxy.turns, breach=proxy.breach)
        if proxy.failed is not None:
            return AgentResult(ERROR, proxy.failed, proxy.turns)
        if proxy.stuck is not None:
            return AgentResult(STUCK, proxy.stuck, proxy.turns)
        if result is not None and result.subtype == "success" and not result.is_error:
            return AgentResult(DONE, (result.result or "").strip()[:2000], proxy.turns)
        why = result.subtype if result is not None else (failure or "no result")
        tail = "\n".join(self.stderr[-STDERR_LINES:]).strip()
        return AgentResult(ERROR, f"Claude Code ended without finishing ({why})"
                           + (f": {tail[-1500:]}" if tail else ""), proxy.turns)

    async def _converse(self, proxy: ModelProxy, messages: list[dict[str, Any]],
                        attempt: int) -> Any:
        from claude_agent_sdk import ClaudeAgentOptions, ResultMessage, query

        prompt, where = self._opening(messages, attempt)
        options = ClaudeAgentOptions(
            tools=[], allowed_tools=[], setting_sources=[], strict_mcp_config=True,
            mcp_servers={SERVER: self.tools.server()}, can_use_tool=self._can_use,
            system_prompt=self.system, model=self.llm.model, cwd=str(self._home()),
            env=self._env(proxy), stderr=self._stderr, cli_path=self._launcher(), **where)

        async def opening() -> Any:
            yield {"type": "user", "message": {"role": "user", "content": prompt}}

        result = None
        async for message in query(prompt=opening(), options=options):
            if isinstance(message, ResultMessage):
                result = message
            if proxy.stopped is not None or proxy.stuck is not None:
                break  # ends the CLI; run() says why
        return result

    def _opening(self, messages: list[dict[str, Any]], attempt: int
                 ) -> tuple[str, dict[str, Any]]:
        """The first prompt and the session options: this attempt's session resumed
        when it exists, else a new one (continuing the previous attempt's, if any)."""
        own = self.session(attempt)
        if self._has_session(own):
            self.log.event("agent.resume", f"resuming Claude Code session {own} "
                           f"(attempt {attempt})", session=own)
            text = MORE_BUDGET if self.budget_extended else RESUMED
            return text, {"resume": own}
        prompt = _last_user_text(messages)
        before = self.session(attempt - 1)
        if attempt > 1 and self._has_session(before):
            return prompt, {"resume": before, "fork_session": True, "session_id": own}
        return prompt, {"session_id": own}

    def session(self, attempt: int) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"andon:{self.folder}:{attempt}"))

    def _has_session(self, session: str) -> bool:
        config = self._home() / ".claude"
        return config.is_dir() and any(config.rglob(f"{session}.jsonl"))

    def _home(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self.folder

    def _launcher(self) -> Path | None:
        """The bundled CLI behind a launcher that makes it die with the engine: a
        SIGKILLed engine must not leave a CLI going on with the run's session."""
        import claude_agent_sdk

        cli = Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"
        if not cli.is_file() or not hasattr(os, "execv"):
            return None  # the SDK finds a CLI of its own
        launcher = self._home() / "claude-launcher"
        launcher.write_text(LAUNCHER.format(python=sys.executable, parent=os.getpid(),
                                            cli=str(cli)), encoding="utf-8")
        launcher.chmod(0o700)
        return launcher

    def _env(self, proxy: ModelProxy) -> dict[str, str]:
        """The CLI's environment: the agent shell's (secrets scrubbed), the proxy and its
        token, a private home; every secret the engine has is blanked by name, since the
        SDK starts the CLI with the engine's own environment underneath."""
        home = str(self._home())
        env = scrubbed_env()
        env.update({
            "HOME": home, "CLAUDE_CONFIG_DIR": str(Path(home) / ".claude"),
            "ANTHROPIC_BASE_URL": proxy.url, "ANTHROPIC_API_KEY": proxy.token,
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1", "DISABLE_ERROR_REPORTING": "1",
            # a person may take hours at a gate (inside a tool call) and the cord may hold
            # a request at the proxy: the CLI must wait, not time out and send it again
            "API_TIMEOUT_MS": WAIT_MS, "MCP_TOOL_TIMEOUT": WAIT_MS,
        })
        for name in os.environ:
            env.setdefault(name, "")
        return env

    async def _can_use(self, name: str, tool_input: dict[str, Any], context: Any) -> Any:
        from claude_agent_sdk.types import PermissionResultAllow, PermissionResultDeny

        if name in self.tools.allowed:
            return PermissionResultAllow()  # the tool gates itself (walled_tools)
        self.log.event("agent.denied", f"Claude Code asked for tool {name!r}: denied",
                       tool=name)
        return PermissionResultDeny(message=f"{name} is not available here; the tools are "
                                    + ", ".join(sorted(self.tools.allowed)))

    def _stderr(self, line: str) -> None:
        self.stderr = [*self.stderr[-STDERR_LINES:], line]

    def _elapsed(self) -> float:
        """The agent's working seconds for the run: what its checkpoints had, and this
        call's time less gate waits and cord holds."""
        return self._base + (self.clock() - self._started - self._paused)

    def _spend(self) -> Spend:
        spent = _spend_of(self.log.run())
        return Spend(turns=spent.turns, tokens=spent.tokens, usd=spent.usd,
                     minutes=self._elapsed() / 60)

    def _paused_call(self, fn: Callable[[], T]) -> T:
        t0 = self.clock()
        try:
            return fn()
        finally:
            self._paused += self.clock() - t0


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        texts = [b.get("text", "") for b in content or [] if isinstance(b, dict)
                 and b.get("type") == "text"]
        if texts:
            return "\n\n".join(texts)
    return "Implement the spec."
