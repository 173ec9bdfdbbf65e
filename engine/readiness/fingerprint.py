"""A run's fingerprint: what shaped it, so that evidence is bound to one factory set-up.

Parts (each a readable value or a hash of the real thing, never a version number
someone has to remember to bump):
- ``backend``: the agent that implements: the built-in loop over the Messages API
  ("builtin"), or Claude Code with its CLI's version (engine.agent.backend);
- ``model``: the model name the run's spec and andon.toml choose;
- ``prompt``: a hash of the agent's instructions as rendered (with placeholders where a
  run's own spec and repository go) and of the tool definitions sent with them;
- ``policy``: a hash of the category's policy, less what only says who decides or how
  the report judges (level, approvers, gate timeouts, promotion and demotion settings);
- ``checks``: the spec's checks; ``scenarios``: the scenario set's name and a hash of
  its files.
Recorded once per run when it first starts (`record_evidence`); a resumed run keeps it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from andon.engine.agent import backend
from andon.engine.agent.prompt import instructions
from andon.engine.agent.tools.editor import EditorTool
from andon.engine.agent.tools.shell import TOOL_NAME as SHELL_NAME
from andon.engine.agent.tools.shell import TOOL_TYPE as SHELL_TYPE
from andon.engine.factory.home import Home
from andon.engine.llm.provider import provider_of
from andon.policies.files import policy_table
from andon.policies.policy import Policy
from andon.policies.stored import load_policy
from andon.store import models as m
from andon.store.db import Database

#: Policy fields that do not shape a run: who may decide, how long a gate waits, and
#: the thresholds the report and the breaker judge by. The level is left out as well:
#: promoting a category must not wipe the evidence that earned the promotion.
NOT_SHAPING = frozenset({"level", "approvers", "gate_timeout", "timeout_decision",
                         "promote_after", "demote_after", "promote_when"})


def digest(value: Any) -> str:
    data = value if isinstance(value, bytes) else json.dumps(
        value, sort_keys=True, default=str).encode()
    return hashlib.sha256(data).hexdigest()


def prompt_digest() -> str:
    """The instructions and tools every run is given, without a run's own facts."""
    rendered = instructions(worktree=Path("<worktree>"), title="<title>", intent="<intent>",
                            acceptance="<acceptance>", checks="<checks>", tree="<tree>",
                            readme="<readme>")
    tools = [EditorTool(Path(".")).definition(), {"type": SHELL_TYPE, "name": SHELL_NAME}]
    return digest({"instructions": rendered, "tools": tools})


def policy_digest(policy: Policy) -> str:
    # the agent is the fingerprint's own part (with its version), not the policy's
    table = {k: v for k, v in policy_table(policy).items()
             if k not in NOT_SHAPING and k != "agent"}
    return digest(table)


def scenarios_part(home: Home, name: str | None) -> str | None:
    """``name@hash`` of a scenario folder's files (names and contents)."""
    if not name:
        return None
    folder = home.scenarios / name
    h = hashlib.sha256()
    if folder.is_dir():
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            h.update(path.relative_to(folder).as_posix().encode() + b"\0")
            h.update(path.read_bytes() + b"\0")
    return f"{name}@{h.hexdigest()[:16]}"


def run_parts(home: Home, spec: m.Spec, policy: Policy) -> dict[str, Any]:
    _, model = provider_of(spec, home)
    if model is None:
        from andon.engine.llm.real import DEFAULT_MODEL

        model = DEFAULT_MODEL
    return {"backend": backend.version(backend.chosen(spec, policy)), "model": model,
            "prompt": prompt_digest(), "policy": policy_digest(policy), "checks": list(spec.checks),
            "scenarios": scenarios_part(home, spec.scenarios)}


def fingerprint_of(parts: dict[str, Any]) -> str:
    return digest(parts)[:16]


def record_evidence(home: Home, db: Database, run_id: int) -> m.Evidence | None:
    """Record what shapes a run, once (a resumed run keeps its first fingerprint).
    None when the run or its spec is gone."""
    with db.read() as s:
        existing = s.get(m.Evidence, run_id)
        if existing is not None:
            return existing
        run = s.get(m.Run, run_id)
        spec = s.get(m.Spec, run.spec_id) if run is not None else None
    if run is None or spec is None:
        return None
    parts = run_parts(home, spec, load_policy(db, run.category))
    with db.write() as s:
        row = s.get(m.Evidence, run_id)
        if row is None:
            row = m.Evidence(run_id=run_id, category=run.category, spec_id=spec.id,
                             fingerprint=fingerprint_of(parts), parts=parts)
            s.add(row)
        return row

