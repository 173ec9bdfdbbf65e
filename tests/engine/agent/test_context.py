"""Bounded context: a long run's requests stay bounded and change only in batches.

Billed input is measured by a loopback server that computes usage from the request
bodies it receives (tests/support/model_server.py), not by the agent's own accounting.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from pydantic import ValidationError

from andon.engine.agent import checkpoint
from andon.engine.agent.context import CLEARED, OMITTED_NOTE, ContextPolicy, Window
from andon.engine.gates.gatekeeper import Decision, Gatekeeper
from andon.policies.policy import Policy
from andon.store import models as m
from andon.store.db import Database
from tests.conftest import make_repo
from tests.engine.agent.test_records import _plain, requests_from
from tests.support.agentkit import START, Kit, make_run
from tests.support.model_server import ModelServer

POLICY = ContextPolicy(keep_turns=4, keep_results=2, batch=4)


def view(i: int) -> dict[str, Any]:
    return {"name": "str_replace_based_edit_tool",
            "input": {"command": "view", "path": "README.md", "view_range": [1 + i % 8, 8]}}


def script(turns: int) -> list[dict[str, Any]]:
    return [{"text": f"Step {i}: reading the readme again.", "tool_use": [view(i)]}
            for i in range(turns - 1)] + [{"text": "Done."}]


@pytest.fixture
def kits(db: Database, tmp_path: Path) -> Iterator[Any]:
    made: list[Kit] = []

    def make(name: str) -> Kit:
        repo = make_repo(tmp_path / name)
        (repo / "README.md").write_text("".join(f"line {n}: " + "words " * 30 + "\n"
                                                for n in range(8)))
        kit = Kit(db, repo, make_run(db, repo))
        made.append(kit)
        return kit

    yield make
    for kit in made:
        kit.close()


def run(kit: Kit, server: ModelServer, **kwargs: Any) -> Any:
    client = anthropic.Anthropic(base_url=server.url, api_key="test", max_retries=0)
    try:
        return kit.agent(client, model="claude-sonnet-5-5", context=POLICY,
                         **kwargs).run(START, attempt=1)
    finally:
        client.close()


def test_requests_stay_bounded_and_billed_input_grows_linearly(kits: Any) -> None:
    with ModelServer(script(24)) as short, ModelServer(script(48)) as long:
        assert run(kits("a"), short).status == "done"
        kit = kits("b")
        assert run(kit, long).status == "done"
    # the longest request of the long run is no longer than the short run's longest
    assert max(long.tally.per_request) <= max(short.tally.per_request)
    assert long.tally.billed <= 2.2 * short.tally.billed
    # the window moved every `batch` turns, and only then was the cache rebuilt
    moves = kit.events("agent.context")
    first = POLICY.keep_turns + POLICY.batch + 1  # the first turn sent with a cut
    assert len(moves) == 1 + (48 - first) // POLICY.batch
    assert long.tally.cache_share >= 0.75

    last = long.model.requests[-1]["messages"]
    first_blocks = last[0]["content"]
    assert first_blocks[0]["text"] == "Implement the spec." and first_blocks[-1]["text"] == (
        OMITTED_NOTE)
    assert len(last) <= 1 + 2 * (POLICY.keep_turns + POLICY.batch)
    results = [b for msg in last[1:] if isinstance(msg["content"], list)
               for b in msg["content"] if b.get("type") == "tool_result"]
    assert results[0]["content"] == CLEARED and results[-1]["content"] != CLEARED
    # the whole conversation is still kept (a resume or a next attempt continues it)
    assert len(checkpoint.conversation(kit.db, kit.run_id, 1)) == 1 + 2 * 48 - 1
    # and the flight recording gives back every request as the server received it
    assert requests_from(kit.rows(m.Exchange), Window(POLICY)) == [
        _plain(sent["messages"]) for sent in long.model.requests]


class CrashAt(Gatekeeper):
    """Approves every call, and stands for the engine dying at the n-th one."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, 0

    def action(self, tool_name: str, tool_input: dict[str, Any], preview: str) -> Decision:
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt("the engine died")
        return Decision()


def test_a_resumed_run_sends_exactly_what_it_would_have_sent(kits: Any) -> None:
    from andon.engine.agent.tools.base import Tool

    def mutating(kit: Kit) -> list[Tool]:
        tools = kit.make_tools()
        for tool in tools:  # every call goes through the gatekeeper
            tool.is_mutating = lambda _input: True  # type: ignore[method-assign]
        return tools

    with ModelServer(script(30)) as whole:
        kit = kits("whole")
        assert run(kit, whole, tools=mutating(kit)).status == "done"
        sent = json.dumps(whole.model.requests).replace(str(kit.root), "ROOT")
    with ModelServer(script(30)) as broken:
        kit = kits("broken")
        with pytest.raises(KeyboardInterrupt):
            run(kit, broken, tools=mutating(kit), gatekeeper=CrashAt(18))  # between two moves
        assert run(kit, broken, tools=mutating(kit)).status == "done"
        again = json.dumps(broken.model.requests).replace(str(kit.root), "ROOT")
    assert kit.events("agent.context")
    # the same messages (a resumed loop may place one cache breakpoint fewer)
    mark = ', "cache_control": {"type": "ephemeral"}'
    assert again.replace(mark, "") == sent.replace(mark, "")


def test_context_keys_are_policy_settings_checked_like_the_rest() -> None:
    policy = Policy(category="feature", level=4,
                    context={"keep_turns": 30, "keep_results": 5, "batch": 10})
    assert ContextPolicy.of(policy.context) == ContextPolicy(30, 5, 10)
    assert ContextPolicy.of(Policy(category="feature").context) == ContextPolicy()
    with pytest.raises(ValidationError, match="keep_turns"):
        Policy(category="feature", context={"keep_turns": 1})
    with pytest.raises(ValidationError, match="keep_turn"):
        Policy(category="feature", context={"keep_turn": 10})
