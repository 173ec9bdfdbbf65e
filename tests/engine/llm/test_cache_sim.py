"""Prompt-cache simulation as seen through the scripted model's usage numbers."""

from __future__ import annotations

import anthropic
import pytest

from andon.engine.llm.cache_sim import CacheSimulator
from andon.engine.llm.scripted import ScriptedModel

TOOLS = [
    {"type": "bash_20250124", "name": "bash"},
    {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
]
SYSTEM = [
    {
        "type": "text",
        "text": "You are a careful engineer working in a git worktree. " * 40,
        "cache_control": {"type": "ephemeral"},
    }
]


def user(text, cache=True):
    block = {"type": "text", "text": text}
    if cache:
        block["cache_control"] = {"type": "ephemeral"}
    return {"role": "user", "content": [block]}


def strip_marks(messages):
    """The agent moves the message breakpoint to the newest turn, like Andon's loop does."""
    out = []
    for m in messages:
        content = m["content"]
        if isinstance(content, list):
            content = [
                {k: v for k, v in b.items() if k != "cache_control"} if isinstance(b, dict) else b
                for b in content
            ]
        out.append({**m, "content": content})
    return out


def turn(client, messages):
    return client.messages.create(
        model="scripted", max_tokens=1024, system=SYSTEM, tools=TOOLS, messages=messages
    )


def test_second_turn_reads_the_prefix_written_by_the_first():
    model = ScriptedModel([
        {"text": "Looking.", "tool_use": [{"name": "bash", "input": {"command": "ls"}}]},
        {"text": "Done."},
    ])
    client = model.client()
    history = [user("Add a slugify helper to text.py. " * 5)]
    first = turn(client, history)
    u1 = first.usage
    assert u1.cache_read_input_tokens == 0
    assert u1.cache_creation_input_tokens > 1024
    assert u1.input_tokens == 0  # everything up to the last breakpoint was written

    tool_id = first.content[1].id
    result = {"type": "tool_result", "tool_use_id": tool_id, "content": "text.py\n",
              "cache_control": {"type": "ephemeral"}}
    history = [
        *strip_marks(history),
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [result]},
    ]
    second = turn(client, history)
    u2 = second.usage
    # The whole first prompt is served from cache; only the new turn is written.
    assert u2.cache_read_input_tokens == u1.cache_creation_input_tokens
    assert 0 < u2.cache_creation_input_tokens < u1.cache_creation_input_tokens
    total = u2.input_tokens + u2.cache_creation_input_tokens + u2.cache_read_input_tokens
    assert u2.cache_read_input_tokens / total > 0.8


def test_without_breakpoints_everything_is_plain_input():
    model = ScriptedModel(["a", "b"])
    client = model.client()
    system = [{"type": "text", "text": SYSTEM[0]["text"]}]
    for _ in range(2):
        reply = client.messages.create(model="scripted", max_tokens=64, system=system,
                                       tools=TOOLS, messages=[user("hi", cache=False)])
        assert reply.usage.cache_read_input_tokens == 0
        assert reply.usage.cache_creation_input_tokens == 0
        assert reply.usage.input_tokens > 1024


def test_a_changed_system_prompt_misses_the_cache():
    sim = CacheSimulator()
    body = {"model": "m", "tools": TOOLS, "system": SYSTEM, "messages": [user("hi")]}
    sim.account(body)
    changed = {**body, "system": [{**SYSTEM[0], "text": SYSTEM[0]["text"] + "!"}]}
    assert sim.account(changed).cache_read_input_tokens == 0
    assert sim.account(body).cache_read_input_tokens > 0


def test_prefix_below_the_minimum_is_not_cached():
    sim = CacheSimulator(min_tokens=1024)
    body = {"model": "m", "system": [{"type": "text", "text": "short",
                                      "cache_control": {"type": "ephemeral"}}],
            "messages": [user("hi", cache=False)]}
    for _ in range(2):
        usage = sim.account(body)
        assert usage.cache_read_input_tokens == usage.cache_creation_input_tokens == 0


def test_cache_entries_expire_after_the_ttl_unless_read():
    now = [0.0]
    sim = CacheSimulator(ttl=300, clock=lambda: now[0])
    body = {"model": "m", "tools": TOOLS, "system": SYSTEM, "messages": [user("hi")]}
    sim.account(body)
    now[0] = 200
    assert sim.account(body).cache_read_input_tokens > 0  # refreshes the entry
    now[0] = 450
    assert sim.account(body).cache_read_input_tokens > 0
    now[0] = 800
    assert sim.account(body).cache_read_input_tokens == 0


def test_more_than_four_breakpoints_is_refused():
    model = ScriptedModel(["x"])
    messages = [user(f"part {i}") for i in range(5)]
    with pytest.raises(anthropic.BadRequestError, match="maximum of 4 blocks"):
        model.client().messages.create(model="scripted", max_tokens=64, messages=messages)


def test_count_tokens_matches_the_accounted_total():
    model = ScriptedModel(["x"])
    client = model.client()
    body = dict(model="scripted", system=SYSTEM, tools=TOOLS, messages=[user("hi")])
    counted = client.messages.count_tokens(**body).input_tokens
    usage = client.messages.create(max_tokens=64, **body).usage
    assert counted == (usage.input_tokens + usage.cache_creation_input_tokens
                       + usage.cache_read_input_tokens)
