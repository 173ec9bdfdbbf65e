"""The agent loop through the real SDK (scripted transport): tools, stop reasons, streaming,
usage and cost, cache breakpoints, gates, hostile tool calls."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from andon.engine.agent.loop import CUT_CALL, REFUSED_PREFIX, TRUNCATED_NOTE, Agent
from andon.engine.gates.gatekeeper import Decision, Gatekeeper
from andon.engine.llm.cache_sim import count_breakpoints
from andon.engine.llm.scripted import ScriptedModel
from andon.store import models as m
from tests.support.agentkit import START, Kit


def results_in(request: dict[str, Any]) -> list[dict[str, Any]]:
    last = request["messages"][-1]
    return [b for b in last["content"] if b.get("type") == "tool_result"]


def test_tool_calls_run_in_the_worktree_until_the_model_is_done(kit: Kit) -> None:
    model = ScriptedModel([
        {"text": "Looking.", "tool_use": [
            {"name": "str_replace_based_edit_tool",
             "input": {"command": "view", "path": "sample/text.py"}}]},
        {"text": "Adding a file and checking it.", "tool_use": [
            {"name": "str_replace_based_edit_tool",
             "input": {"command": "create", "path": "NOTES.md", "file_text": "hello\n"}},
            {"name": "bash", "input": {"command": "cat NOTES.md && echo shell-ok"}}]},
        {"text": "Added NOTES.md."},
    ])
    result = kit.agent(model.client()).run(START, attempt=1)

    assert (result.status, result.reason, result.turns) == ("done", "Added NOTES.md.", 3)
    assert (kit.root / "NOTES.md").read_text() == "hello\n"
    second = results_in(model.requests[2])
    assert [r["is_error"] for r in second] == [False, False]
    assert "hello" in second[1]["content"] and "shell-ok" in second[1]["content"]
    assert [s.name for s in kit.steps("tool")] == [
        "str_replace_based_edit_tool", "str_replace_based_edit_tool", "bash"]
    assert [s.name for s in kit.steps("turn")] == ["turn 1", "turn 2", "turn 3"]
    # usage per turn, run totals, and a checkpoint per turn
    usage = kit.rows(m.Usage)
    assert [u.turn for u in usage] == [1, 2, 3]
    run = kit.run()
    assert run.turns == 3
    assert run.tokens_in == sum(u.input_tokens for u in usage)
    assert run.tokens_out == sum(u.output_tokens for u in usage) > 0
    assert run.cost_usd == pytest.approx(sum(u.cost_usd or 0 for u in usage))
    assert run.cost_usd > 0
    assert [c.turn for c in kit.rows(m.Checkpoint)] == [1, 2, 3]
    assert kit.rows(m.Checkpoint)[-1].state["phase"] == "ended"
    # every request is streamed
    assert all(r.get("stream") is True for r in model.requests)


def test_reply_text_reaches_the_event_log_while_it_streams(kit: Kit) -> None:
    text = " ".join(f"word{i}" for i in range(60))
    model = ScriptedModel([{"delay": 0.6, "text": text}])
    began = time.monotonic()
    kit.agent(model.client()).run(START)
    took = time.monotonic() - began
    chunks = kit.events("model.text")
    assert "".join(e.message for e in chunks) == text
    assert len(chunks) >= 3  # live, not one lump at the end ...
    # ... and at most one flush per 100 ms (plus the last), however long a loaded machine
    # took: 60 words one event each would be far more. (Gaps between the events' own
    # timestamps are not asserted: a starved writer can stamp two flushes close together.)
    assert len(chunks) <= took / 0.1 + 2, (len(chunks), took)


def test_a_reply_cut_at_max_tokens_is_continued_not_taken_as_done(kit: Kit) -> None:
    model = ScriptedModel([
        {"text": "Here is the first half of my", "stop_reason": "max_tokens"},
        {"text": "answer. Done."},
    ])
    result = kit.agent(model.client()).run(START)
    assert result.status == "done" and result.turns == 2
    last = model.requests[1]["messages"][-1]
    assert last["role"] == "user" and last["content"][0]["text"] == TRUNCATED_NOTE
    assert kit.events("model.truncated")


def test_a_tool_call_cut_at_max_tokens_is_not_run(kit: Kit) -> None:
    model = ScriptedModel([
        {"text": "Writing.", "stop_reason": "max_tokens", "tool_use": [
            {"name": "bash", "input": {"command": "echo ran > first.txt"}},
            {"name": "str_replace_based_edit_tool",
             "input": {"command": "create", "path": "half.py", "file_text": "def f("}}]},
        {"text": "Done."},
    ])
    result = kit.agent(model.client()).run(START)
    assert result.status == "done"
    assert (kit.root / "first.txt").exists()  # complete call before the cut: run
    assert not (kit.root / "half.py").exists()  # the call being written when cut: not run
    first, cut = results_in(model.requests[1])
    assert not first["is_error"]
    assert cut["is_error"] and cut["content"] == CUT_CALL
    assert model.requests[1]["messages"][-1]["content"][-1]["text"] == TRUNCATED_NOTE


def test_pause_turn_sends_the_paused_turn_back_to_continue(kit: Kit) -> None:
    model = ScriptedModel([
        {"text": "Thinking for a long while", "stop_reason": "pause_turn"},
        {"text": "and finished."},
    ])
    result = kit.agent(model.client()).run(START)
    assert result.status == "done" and result.turns == 2
    assert model.requests[1]["messages"][-1]["role"] == "assistant"
    assert [msg["role"] for msg in result.messages] == ["user", "assistant"]
    texts = [b["text"] for b in result.messages[-1]["content"]]
    assert texts == ["Thinking for a long while", "and finished."]


def test_a_refusal_stops_the_run_with_that_reason(kit: Kit) -> None:
    model = ScriptedModel([
        {"text": "Checking.", "tool_use": [{"name": "bash", "input": {"command": "true"}}]},
        {"text": "I can't help with that.", "stop_reason": "refusal"},
        {"text": "never asked"},
    ])
    result = kit.agent(model.client()).run(START)
    assert result.status == "refusal"
    assert "refused" in result.reason and "I can't help with that." in result.reason
    assert len(model.requests) == 2


def test_stop_sequence_ends_the_turn(kit: Kit) -> None:
    model = ScriptedModel([{"text": "All done", "stop_reason": "stop_sequence"}])
    assert kit.agent(model.client()).run(START).status == "done"


def test_an_unknown_tool_gets_an_error_result_and_the_loop_goes_on(kit: Kit) -> None:
    model = ScriptedModel([
        {"text": "Let me browse.", "tool_use": [
            {"name": "web_browser", "input": {"url": "http://example.com"}}]},
        {"text": "Fine, no browser."},
    ])
    result = kit.agent(model.client()).run(START)
    assert result.status == "done"
    (error,) = results_in(model.requests[1])
    assert error["is_error"] and "unknown tool 'web_browser'" in error["content"]
    assert "bash" in error["content"]  # tells the model what it has
    assert kit.steps("tool")[0].status == "failed"


def test_malformed_tool_input_is_an_error_result(kit: Kit) -> None:
    model = ScriptedModel([
        {"tool_use": [
            {"name": "str_replace_based_edit_tool", "input": {"command": "explode"}},
            {"name": "bash", "input": {"cmd": "ls"}},
            {"name": "str_replace_based_edit_tool",
             "input": {"command": "str_replace", "path": "/etc/passwd", "old_str": "root"}}]},
        {"text": "Giving up."},
    ])
    result = kit.agent(model.client()).run(START)
    assert result.status == "done"
    errors = results_in(model.requests[1])
    assert [e["is_error"] for e in errors] == [True, True, True]
    assert "unknown command" in errors[0]["content"]
    assert "command" in errors[1]["content"]
    assert "outside the worktree" in errors[2]["content"]


def test_usage_and_cost_of_an_unknown_model_is_unknown_not_zero(kit: Kit) -> None:
    model = ScriptedModel([
        {"tool_use": [{"name": "bash", "input": {"command": "true"}}]},
        {"text": "ok"},
    ])
    kit.agent(model.client(), model="claude-imaginary-9", budget=None).run(START)
    run = kit.run()
    assert run.cost_usd is None
    assert run.turns == 2 and run.tokens_out > 0
    assert [u.cost_usd for u in kit.rows(m.Usage)] == [None, None]
    assert "claude-imaginary-9" in kit.events("agent.cost_unknown")[0].message


def test_prices_from_configuration_are_used(kit: Kit) -> None:
    usage = {"input_tokens": 1_000_000, "output_tokens": 0,
             "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    model = ScriptedModel([{"text": "ok", "usage": usage}])
    prices = {"house-model": {"input": 7.0, "output": 1.0}}
    kit.agent(model.client(), model="house-model", prices=prices).run(START)
    assert kit.run().cost_usd == pytest.approx(7.0)


def test_cache_breakpoints_sit_on_tools_system_and_latest_turn(kit: Kit) -> None:
    calls = [{"text": f"Step {i}.", "tool_use": [
        {"name": "str_replace_based_edit_tool",
         "input": {"command": "view", "path": "README.md", "view_range": [1, i]}}]}
        for i in (1, 2, 3)]
    model = ScriptedModel([*calls, {"text": "done"}])
    system = "You are a careful engineer. " * 400  # long enough to be cacheable
    kit.agent(model.client(), system=system).run(START)

    for n, request in enumerate(model.requests):
        assert count_breakpoints(request) <= 4
        assert "cache_control" in request["tools"][-1]
        assert "cache_control" in request["system"][-1]
        assert "cache_control" in request["messages"][-1]["content"][-1]
        msgs = request["messages"]
        marked = [i for i, msg in enumerate(msgs)
                  if any("cache_control" in b for b in msg["content"]
                         if isinstance(msg["content"], list))]
        last = len(msgs) - 1
        # the latest message, and from the second turn on the previous turn's latest too
        assert marked == ([last] if n == 0 else [last - 2, last])
    usage = kit.rows(m.Usage)
    assert usage[0].cache_creation_tokens > 0 and usage[0].cache_read_tokens == 0
    for later in usage[1:]:
        assert later.cache_read_tokens > usage[0].cache_creation_tokens // 2
    run = kit.run()
    assert run.cache_read == sum(u.cache_read_tokens for u in usage)
    assert run.cache_write == sum(u.cache_creation_tokens for u in usage)


class Recording(Gatekeeper):
    def __init__(self, refuse: str | None = None) -> None:
        self.asked: list[tuple[str, dict[str, Any], str]] = []
        self.refuse = refuse

    def action(self, tool_name: str, tool_input: dict[str, Any], preview: str) -> Decision:
        self.asked.append((tool_name, tool_input, preview))
        if self.refuse and tool_name == self.refuse:
            return Decision("rejected", "not on my watch", by="alice")
        return Decision()


def test_mutating_calls_go_through_the_gatekeeper_with_a_preview(kit: Kit) -> None:
    model = ScriptedModel([
        {"tool_use": [
            {"name": "str_replace_based_edit_tool",
             "input": {"command": "view", "path": "sample/text.py"}},
            {"name": "str_replace_based_edit_tool", "input": {
                "command": "str_replace", "path": "sample/text.py",
                "old_str": 'return text.upper() + "!"', "new_str": 'return text.upper() + "!!"'}},
            {"name": "bash", "input": {"command": "rm -rf sample && echo gone"}}]},
        {"text": "Tried."},
    ])
    gates = Recording(refuse="bash")
    result = kit.agent(model.client(), gatekeeper=gates).run(START)

    assert result.status == "done"
    assert [name for name, _, _ in gates.asked] == ["str_replace_based_edit_tool", "bash"]
    diff = gates.asked[0][2]
    assert "--- a/sample/text.py" in diff and "+++ b/sample/text.py" in diff
    assert '-    return text.upper() + "!"' in diff and '+    return text.upper() + "!!"' in diff
    assert gates.asked[1][2] == "rm -rf sample && echo gone"
    assert (kit.root / "sample").is_dir()  # the refused command did not run
    view, edit, refused = results_in(model.requests[1])
    assert not view["is_error"] and not edit["is_error"]
    assert refused["is_error"] and refused["content"].startswith(REFUSED_PREFIX)
    assert "alice" in refused["content"] and "not on my watch" in refused["content"]
    assert [s.status for s in kit.steps("tool")] == ["ok", "ok", "refused"]


def test_editor_previews_show_the_diff_of_creates_and_inserts(kit: Kit) -> None:
    model = ScriptedModel([
        {"tool_use": [
            {"name": "str_replace_based_edit_tool",
             "input": {"command": "create", "path": "new.txt", "file_text": "one\ntwo\n"}},
            {"name": "str_replace_based_edit_tool",
             "input": {"command": "insert", "path": "new.txt", "insert_line": 1,
                       "insert_text": "between"}}]},
        {"text": "ok"},
    ])
    gates = Recording()
    kit.agent(model.client(), gatekeeper=gates).run(START)
    create, insert = (p for _, _, p in gates.asked)
    assert "--- /dev/null" in create and "+one\n+two\n" in create
    assert "+between\n" in insert and " one\n" in insert
    assert (kit.root / "new.txt").read_text() == "one\nbetween\ntwo\n"


def test_json_of_the_conversation_is_what_the_api_accepts(kit: Kit) -> None:
    """The scripted transport refuses what the API would (unanswered tool_use, stray
    tool_result, too many breakpoints): a long run with mixed turns must pass."""
    turns: list[dict[str, Any]] = []
    for i in range(6):
        turns.append({"text": f"t{i}", "tool_use": [
            {"name": "bash", "input": {"command": f"echo {i}"}},
            {"name": "str_replace_based_edit_tool",
             "input": {"command": "create", "path": f"f{i}.txt", "file_text": "x"}}]})
        if i == 2:
            turns.append({"text": "cut", "stop_reason": "max_tokens"})
        if i == 4:
            turns.append({"text": "pause", "stop_reason": "pause_turn"})
    model = ScriptedModel([*turns, {"text": "done"}])
    result = kit.agent(model.client()).run(START)
    assert result.status == "done", result.reason
    assert len(model.requests) == len(turns) + 1
    json.dumps(result.messages)  # plain JSON all the way


def test_the_agent_can_be_built_like_the_pipeline_builds_it(kit: Kit) -> None:
    from andon.engine.agent.budget import RunBudget
    from andon.engine.run.control import RunControl

    model = ScriptedModel([{"text": "ok"}])
    agent = Agent(client=model.client(), model="scripted", tools=kit.make_tools(),
                  log=kit.log, system="s", budget=RunBudget.tightest({"turns": 5}, None),
                  control=RunControl(kit.db, kit.run_id), gatekeeper=Gatekeeper(),
                  prices=None)
    assert agent.run(START, attempt=1).status == "done"


def test_a_call_the_walls_refuse_is_recorded_as_refused(kit: Kit) -> None:
    model = ScriptedModel([
        {"tool_use": [
            {"name": "str_replace_based_edit_tool",
             "input": {"command": "view", "path": "/etc/passwd"}},
            {"name": "str_replace_based_edit_tool",
             "input": {"command": "view", "path": "no-such-file.txt"}}]},
        {"text": "Tried."},
    ])
    assert kit.agent(model.client()).run(START).status == "done"
    assert [s.status for s in kit.steps("tool")] == ["refused", "failed"]
