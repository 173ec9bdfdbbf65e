"""A turn's records hold what the turn added: checkpoints and exchanges append, not copy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from andon.engine.agent import checkpoint
from andon.engine.agent.context import Window
from andon.engine.llm.scripted import ScriptedModel
from andon.store import models as m
from andon.store.db import Database
from tests.conftest import make_repo
from tests.support.agentkit import START, Kit, make_run


@pytest.fixture
def kit(db: Database, tmp_path: Path) -> Iterator[Kit]:
    repo = make_repo(tmp_path / "repo")
    k = Kit(db, repo, make_run(db, repo))
    yield k
    k.close()


def echo(word: str) -> dict[str, Any]:
    return {"name": "bash", "input": {"command": f"echo {word} >> log.txt"}}


def _plain(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages without the per-request cache breakpoints (which also turn a string
    content into its one text block)."""
    out = []
    for msg in messages:
        content = msg["content"]
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        else:
            content = [{k: v for k, v in b.items() if k != "cache_control"} for b in content]
        out.append({**msg, "content": content})
    return out


SCRIPT = [
    *({"text": f"step {i}", "tool_use": [echo(f"w{i}")]} for i in range(6)),
    {"text": "thinking it over", "stop_reason": "pause_turn"},
    {"text": "cut off", "stop_reason": "max_tokens"},
    {"text": "all done"},
]


def test_each_turn_stores_only_what_it_added_and_the_conversation_rebuilds_exactly(
        kit: Kit) -> None:
    model = ScriptedModel(SCRIPT)
    result = kit.agent(model.client()).run(START, attempt=1)
    assert result.status == "done" and result.turns == len(SCRIPT)

    # checkpoints: a row per turn holding that turn's messages only
    rows = kit.rows(m.Checkpoint)
    assert [r.turn for r in rows] == list(range(1, len(SCRIPT) + 1))
    assert len(rows[0].messages) == 3  # the task, the reply, the tool results
    assert all(len(r.messages) <= 2 for r in rows[1:])
    # ...and the whole conversation comes back from them, pause_turn merge included
    assert checkpoint.conversation(kit.db, kit.run_id, 1) == result.messages
    saved = checkpoint.latest(kit.db, kit.run_id, 1)
    assert saved is not None and saved.messages == result.messages and saved.phase == "ended"

    # exchanges: the first request whole, later ones only the messages they added
    exchanges = kit.rows(m.Exchange)
    assert "system" in exchanges[0].request and "tools" in exchanges[0].request
    assert all("system" not in x.request and "tools" not in x.request for x in exchanges[1:])
    assert all(len(x.request["messages"]) <= 2 for x in exchanges[1:])
    # applying the deltas gives back every request the model received
    assert requests_from(exchanges) == [_plain(sent["messages"]) for sent in model.requests]


def requests_from(exchanges: list[m.Exchange], window: Window | None = None
                  ) -> list[list[dict[str, Any]]]:
    """The messages of each recorded request: the conversation rebuilt from the
    recordings' deltas, seen through the window at the recorded points."""
    window = window or Window()
    conversation: list[dict[str, Any]] = []
    sent = []
    for x in exchanges:
        conversation = conversation[:x.request.get("messages_from", 0)] + x.request["messages"]
        sent.append(_plain(window.view(conversation, x.request.get("context", {}))))
    return sent


def test_records_stay_the_same_size_per_turn_as_the_run_grows(kit: Kit) -> None:
    n = 24
    model = ScriptedModel([{"text": f"step {i}", "tool_use": [echo(f"w{i}")]}
                           for i in range(n)] + [{"text": "done"}])
    result = kit.agent(model.client()).run(START, attempt=1)
    assert result.status == "done"
    exchanges = kit.rows(m.Exchange)
    rows = kit.rows(m.Checkpoint)
    sizes = [len(json.dumps(x.request)) for x in exchanges[1:]]
    assert max(sizes) < 2 * min(sizes)  # the 24th turn records no more than the 2nd
    sizes = [len(json.dumps(r.messages)) for r in rows[1:-1]]  # the last: a reply only
    assert max(sizes) < 2 * min(sizes)


def test_a_new_attempt_continues_from_the_rebuilt_conversation(kit: Kit) -> None:
    model = ScriptedModel({"attempts": [
        [{"text": "one", "tool_use": [echo("a")]}, {"text": "two", "tool_use": [echo("b")]},
         {"text": "first done"}],
        [{"text": "fixing", "tool_use": [echo("c")]}, {"text": "second done"}]]})
    client = model.client()
    first = kit.agent(client).run(START, attempt=1)
    again = [*checkpoint.conversation(kit.db, kit.run_id, 1),
             {"role": "user", "content": "The check failed; fix it."}]
    assert again[:-1] == first.messages
    second = kit.agent(client).run(again, attempt=2)
    assert second.status == "done"
    assert checkpoint.conversation(kit.db, kit.run_id, 2) == second.messages
    assert second.messages[:len(again)] == again
