"""Replaying a recorded run offline: does the same conversation make the same change?

`replay(home, db, run_id)` takes the run's flight recording (engine.llm.recorder: one
Exchange per model reply), and drives the real agent loop again with those replies
served by an in-process transport (no network, no API key), in a fresh worktree cut
from the run's `base_commit` of its repository. The tools really run again (editor and
bash) behind the same walls as the run: sandboxed with the factory's private files
(scenarios, database, configuration) hidden, never with network, and without the
sandbox only where the category's policy allows it. Afterwards the worktree's tree
(`git add --all` then `git write-tree`) is compared with the tree of the run's
`head_commit`: equal means the recording reproduces the change.

Details that keep it faithful:

* Each implement attempt is replayed in order, starting from the messages its first
  recorded request carried (so feedback the pipeline added between attempts is there).
* Paths that named the original worktree (in the recorded replies and messages) are
  rewritten to the replay worktree.
* A call a person refused at a gate in the original run is refused again.
* The replay writes to a scratch database, never to the factory's records.

A reply that is missing or tampered with shows up as a different tree (or as the
recording running out, which the report says).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx2
from sqlmodel import col, select

from andon.engine.agent.loop import REFUSED_PREFIX, Agent
from andon.engine.agent.loopguard import call_key
from andon.engine.agent.tools.editor import EditorTool
from andon.engine.agent.tools.shell import BashTool
from andon.engine.errors import NotFound, UserError
from andon.engine.factory.home import Home
from andon.engine.gates.gatekeeper import Decision, Gatekeeper
from andon.engine.llm import sse
from andon.engine.run.control import RunControl
from andon.engine.run.log import RunLog
from andon.engine.run.status import transition
from andon.engine.workspace.git import run_git, try_git
from andon.engine.workspace.sandbox import SandboxConfig, SandboxUnavailable, require
from andon.policies.stored import load_policy
from andon.store import models as m
from andon.store.db import Database


@dataclass
class ReplayReport:
    run_id: int
    matched: bool
    original_tree: str
    replay_tree: str | None
    attempts: int
    replies: int  # recorded replies available
    served: int  # replies the replay used
    status: str  # the replayed agent's last status
    reason: str
    diff: str = ""  # git diff --stat original..replay when they differ
    kept: str | None = None  # the replay worktree, when asked to keep it

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ReplayTransport:
    """Serves recorded messages, one attempt at a time, in turn order."""

    def __init__(self, attempts: dict[int, list[dict[str, Any]]]) -> None:
        self.attempts = attempts
        self.queue: list[dict[str, Any]] = []
        self.served = 0

    def start(self, attempt: int) -> None:
        self.queue = list(self.attempts.get(attempt, []))

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content or b"{}")
        if not self.queue:
            return httpx2.Response(400, json={"type": "error", "error": {
                "type": "invalid_request_error",
                "message": "replay: the recording has no reply for this request"}})
        message = self.queue.pop(0)
        self.served += 1
        if body.get("stream"):
            return httpx2.Response(200, headers={"content-type": "text/event-stream"},
                                   content=sse.encode_message_stream(message))
        return httpx2.Response(200, json=message)


class ReplayGatekeeper(Gatekeeper):
    """Refuses again what a person refused in the original run; approves the rest."""

    def __init__(self, refused: Counter[str]) -> None:
        self.refused = refused

    def action(self, tool_name: str, tool_input: dict[str, Any], preview: str) -> Decision:
        key = call_key(tool_name, tool_input)
        if self.refused[key] > 0:
            self.refused[key] -= 1
            return Decision("rejected", "refused in the original run", by="replay")
        return Decision()


def replay(home: Home, db: Database, run_id: int, *, keep: bool = False) -> ReplayReport:
    with db.read() as s:
        run = s.get(m.Run, run_id)
        if run is None:
            raise NotFound(f"no run {run_id}")
        spec = s.get(m.Spec, run.spec_id)
        exchanges = list(s.exec(select(m.Exchange).where(m.Exchange.run_id == run_id)
                                .order_by(col(m.Exchange.id))).all())
    if not run.repo_path or not run.base_commit or not run.head_commit:
        raise UserError(f"run {run_id} cannot be replayed: it has no "
                        f"{'repository' if not run.repo_path else 'base or head commit'} "
                        "recorded (it never got past prepare, or made no commit)")
    repo = Path(run.repo_path)
    status, original_tree, err = try_git(repo, "rev-parse", f"{run.head_commit}^{{tree}}")
    if status != 0:
        raise UserError(f"run {run_id}: head commit {run.head_commit[:10]} is not in "
                        f"{repo} ({err.strip()})")
    original_tree = original_tree.strip()
    # the agent's replies only: the plan and the judge are not part of its conversation
    recorded = [x for x in exchanges if x.purpose == "agent" and isinstance(x.response, dict)
                and isinstance(x.response.get("message"), dict)
                and isinstance(x.request, dict)]
    if not recorded:
        raise UserError(f"run {run_id} has no flight recording to replay")

    # The same walls as the run: its policy decides whether commands may run without
    # the sandbox, and the factory's private files are hidden (never the network).
    policy = load_policy(db, run.category)
    scratch = Path(tempfile.mkdtemp(prefix=f"andon-replay-{run_id}-"))
    path = home.worktrees / f"replay-{run_id}-{uuid.uuid4().hex[:8]}"
    sandbox = SandboxConfig(root=path, network=False,
                            allow_unsandboxed=policy.allow_unsandboxed,
                            hide=[*home.private(), scratch])
    try:
        require(sandbox)
    except SandboxUnavailable as exc:
        shutil.rmtree(scratch, ignore_errors=True)
        raise UserError(f"run {run_id} cannot be replayed here: {exc}") from None
    home.worktrees.mkdir(parents=True, exist_ok=True)
    run_git(repo, "worktree", "add", "--detach", str(path), run.base_commit)
    rewrite = _rewriter(run.worktree, path)
    tools: list[Any] = []
    scratch_db = Database(scratch / "replay.db")
    try:
        first_requests, attempts = _group(recorded, rewrite)
        refused = _refused(recorded, rewrite)
        transport = ReplayTransport(attempts)
        client = anthropic.Anthropic(
            api_key="replay", base_url="http://replay.invalid", max_retries=0,
            http_client=httpx2.Client(transport=httpx2.MockTransport(transport.handle)))
        log = RunLog(scratch_db, _scratch_run(scratch_db, run, spec, path))
        log.stage = "implement"
        tools = [EditorTool(path), BashTool(path, sandbox)]
        gatekeeper = ReplayGatekeeper(refused)
        status_, reason = "done", ""
        for attempt, request in first_requests.items():
            transport.start(attempt)
            agent = Agent(client=client, model=str(request.get("model") or run.model),
                          tools=tools, log=log, system=_system_text(request),
                          control=RunControl(scratch_db, log.run_id), gatekeeper=gatekeeper,
                          prices=home.config.price_overrides(), retry_max_wait=0)
            messages = _plain_messages(request.get("messages") or [])
            result = agent.run(messages, attempt=attempt)
            status_, reason = result.status, result.reason
            if result.status == "error":
                break
        client.close()
        run_git(path, "add", "--all")
        tree = run_git(path, "write-tree")
        matched = tree == original_tree
        diff = "" if matched else run_git(repo, "diff", "--stat", original_tree, tree)
        return ReplayReport(run_id=run_id, matched=matched, original_tree=original_tree,
                            replay_tree=tree, attempts=len(first_requests),
                            replies=sum(len(v) for v in attempts.values()),
                            served=transport.served, status=status_, reason=reason,
                            diff=diff, kept=str(path) if keep else None)
    finally:
        for tool in tools:
            tool.close()
        scratch_db.engine.dispose()
        shutil.rmtree(scratch, ignore_errors=True)
        if not keep:
            try_git(repo, "worktree", "remove", "--force", str(path))
            shutil.rmtree(path, ignore_errors=True)
            try_git(repo, "worktree", "prune")


# -- helpers -----------------------------------------------------------------------------


def _rewriter(original: str | None, new: Path) -> Any:
    """A function rewriting the original worktree's path to the replay's in any JSON."""
    olds = sorted({p for p in (original, os.path.realpath(original) if original else None)
                   if p}, key=len, reverse=True)
    target = str(new)

    def rewrite(value: Any) -> Any:
        if isinstance(value, str):
            for old in olds:
                value = value.replace(old, target)
            return value
        if isinstance(value, dict):
            return {k: rewrite(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        return value

    return rewrite


def _group(recorded: list[m.Exchange], rewrite: Any
           ) -> tuple[dict[int, dict[str, Any]], dict[int, list[dict[str, Any]]]]:
    """Per attempt (in the order they ran): its first request, and its replies in turn
    order (a turn recorded twice, as after a crash and resume, counts once: the last)."""
    first: dict[int, dict[str, Any]] = {}
    by_turn: dict[int, dict[int, dict[str, Any]]] = {}
    for x in recorded:
        attempt = int(x.response.get("attempt") or 0)
        first.setdefault(attempt, rewrite(x.request))
        by_turn.setdefault(attempt, {})[x.turn] = rewrite(x.response["message"])
    replies = {a: [turns[t] for t in sorted(turns)] for a, turns in by_turn.items()}
    return first, replies


def _refused(recorded: list[m.Exchange], rewrite: Any) -> Counter[str]:
    """The tool calls a person refused in the original run (as loop-guard keys)."""
    calls: dict[str, str] = {}
    for x in recorded:
        for block in x.response["message"].get("content") or []:
            if isinstance(block, dict) and block.get("type") == "tool_use":
                calls[block.get("id", "")] = call_key(block.get("name", ""),
                                                      rewrite(block.get("input")))
    refused: Counter[str] = Counter()
    seen: set[str] = set()
    for x in recorded:
        for msg in x.request.get("messages") or []:
            content = msg.get("content") if isinstance(msg, dict) else None
            for block in content if isinstance(content, list) else []:
                if (isinstance(block, dict) and block.get("type") == "tool_result"
                        and str(block.get("content", "")).startswith(REFUSED_PREFIX)):
                    use = block.get("tool_use_id", "")
                    if use in calls and use not in seen:
                        seen.add(use)
                        refused[calls[use]] += 1
    return refused


def _system_text(request: dict[str, Any]) -> str:
    system = request.get("system")
    if isinstance(system, list):
        return "".join(b.get("text", "") for b in system if isinstance(b, dict))
    return str(system or "")


def _plain_messages(messages: list[Any]) -> list[dict[str, Any]]:
    """The recorded messages without the cache breakpoints the agent adds per request."""
    plain = []
    for msg in messages:
        content = msg.get("content")
        if isinstance(content, list):
            content = [{k: v for k, v in b.items() if k != "cache_control"}
                       if isinstance(b, dict) else b for b in content]
        plain.append({**msg, "content": content})
    return plain


def _scratch_run(db: Database, run: m.Run, spec: m.Spec | None, path: Path) -> int:
    with db.write() as s:
        copy = m.Spec(path=f"replay:{spec.path if spec else run.spec_id}",
                      title=run.title or "replay", category=run.category,
                      repo=str(run.repo_path))
        s.add(copy)
        s.flush()
        row = m.Run(spec_id=copy.id or 0, title=run.title, category=run.category,
                    level=run.level, stage="implement", model=run.model,
                    repo_path=run.repo_path, worktree=str(path),
                    base_commit=run.base_commit)
        s.add(row)
        s.flush()
        transition(s, row, m.RUNNING, f"replaying run {run.id}", event="run.started")
        return row.id or 0
