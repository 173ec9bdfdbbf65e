"""Who implements a run: Andon's own loop, or Claude Code, behind one interface.

`agent:` in a spec wins over `agent` in its category's policy; both default to Andon's
loop. The pipeline around the agent (worktree, plan, checks, scenarios, review, merge,
the post-merge watch) is the same whichever implements, and so are the gates, the walls,
the budgets and the flight recorder: each backend is handed the same `RunLog`, the same
gatekeeper and the same walled tools.

A backend is anything with the two calls the pipeline makes:

    result = backend.run(messages, attempt=n)   # an engine.agent.loop.AgentResult
    backend.extend_budget(result.breach)        # a person allowed more; run() again
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any, Protocol

from andon.engine.agent.budget import Breach, RunBudget
from andon.policies.policy import AGENTS, Policy
from andon.store import models as m

if TYPE_CHECKING:
    from andon.engine.agent.loop import AgentResult

ANDON, CLAUDE_CODE = AGENTS
EXTRA = "claude-code"
INSTALL = f"pip install 'andon[{EXTRA}]'"
SDK_MODULE = "claude_agent_sdk"
BUILTIN = "builtin"  # Andon's own loop, in a run's fingerprint


class AgentBackend(Protocol):
    def run(self, messages: list[dict[str, Any]], *, attempt: int = 0) -> AgentResult: ...

    def extend_budget(self, breach: Breach) -> RunBudget: ...


def chosen(spec: m.Spec, policy: Policy) -> str:
    """The backend a run of `spec` uses: the spec's `agent:`, else its category's."""
    return chosen_in((spec.front or {}).get("agent"), policy)


def chosen_in(named: Any, policy: Policy) -> str:
    """The backend a spec's `agent:` value (None when unset) and its policy choose."""
    return named if isinstance(named, str) and named in AGENTS else policy.agent


def missing(name: str) -> str | None:
    """Why this machine cannot run backend `name` (with the command that fixes it), or
    None when it can."""
    if name == CLAUDE_CODE and not _installed(SDK_MODULE):
        return (f"agent '{CLAUDE_CODE}' needs the optional extra {EXTRA!r} "
                f"(claude-agent-sdk, which bundles the Claude Code CLI): {INSTALL}")
    return None


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken install is no install
        return False


def version(name: str) -> str:
    """What identifies a backend in a run's evidence fingerprint: Andon's loop is
    "builtin"; Claude Code is named with the CLI version that ships with the SDK (a new
    CLI may act differently, so it starts a new evidence window)."""
    if name != CLAUDE_CODE:
        return BUILTIN
    if missing(name) is not None:
        return CLAUDE_CODE
    from claude_agent_sdk._cli_version import __cli_version__

    return f"{CLAUDE_CODE} {__cli_version__}"
