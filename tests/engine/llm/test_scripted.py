"""The scripted model, exercised through the real anthropic SDK (httpx2.MockTransport)."""

from __future__ import annotations

import threading
import time

import anthropic
import pytest

from andon.engine.llm.real import make_client, model_for, provider_for_model
from andon.engine.llm.retry import ModelCallFailed, call_with_retries
from andon.engine.llm.scripted import SCRIPT_ENDED, ScriptedModel, ScriptError, script_beside

TOOLS = [
    {"type": "bash_20250124", "name": "bash"},
    {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
]

SCRIPT = """\
plan: |
  1. Add slugify() to text.py
  2. Test it
turns:
  - text: Let me look at the module first.
    tool_use:
      - name: str_replace_based_edit_tool
        input: {command: view, path: text.py}
  - text: All done.
"""


def ask(client, messages, **kw):
    return client.messages.create(
        model="scripted", max_tokens=1024, messages=messages, tools=TOOLS, **kw
    )


def tool_results(message, output="ok"):
    return {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": b.id, "content": output}
            for b in message.content
            if b.type == "tool_use"
        ],
    }


def test_non_streamed_conversation_follows_the_script(tmp_path):
    path = tmp_path / "slugify.script.yaml"
    path.write_text(SCRIPT)
    model = ScriptedModel(path)
    client = model.client()
    history = [{"role": "user", "content": "Add a slugify helper"}]

    first = ask(client, history)
    assert first.model == "scripted"
    assert first.stop_reason == "tool_use"
    assert first.content[0].text == "Let me look at the module first."
    call = first.content[1]
    assert call.type == "tool_use" and call.id.startswith("toolu_")
    assert call.name == "str_replace_based_edit_tool"
    assert call.input == {"command": "view", "path": "text.py"}
    assert first.usage.input_tokens > 0 and first.usage.output_tokens > 0

    history += [{"role": "assistant", "content": first.content}, tool_results(first)]
    second = ask(client, history)
    assert second.stop_reason == "end_turn"
    assert second.content[0].text == "All done."

    history += [{"role": "assistant", "content": second.content},
                {"role": "user", "content": "anything else?"}]
    third = ask(client, history)
    assert third.content[0].text == SCRIPT_ENDED and third.stop_reason == "end_turn"

    assert model.turn_index == 2
    assert len(model.requests) == 3
    assert model.requests[1]["messages"][2]["content"][0]["tool_use_id"] == call.id


def test_streamed_reply_yields_text_deltas_and_a_parsed_tool_call():
    text = "I will run the tests now to see what fails."
    model = ScriptedModel([
        {"text": text, "tool_use": [{"name": "bash", "input": {"command": "pytest -q"}}]},
    ])
    client = model.client()
    with client.messages.stream(
        model="scripted", max_tokens=512, tools=TOOLS,
        messages=[{"role": "user", "content": "fix it"}],
    ) as stream:
        deltas = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(deltas) > 1, "text should arrive in several deltas"
    assert "".join(deltas) == text
    assert final.stop_reason == "tool_use"
    tool = next(b for b in final.content if b.type == "tool_use")
    assert tool.name == "bash" and tool.input == {"command": "pytest -q"}
    assert final.model == "scripted"
    assert final.usage.output_tokens > 1
    assert model.requests[0]["stream"] is True


def test_stop_reason_and_usage_overrides():
    model = ScriptedModel([
        {"text": "Truncat", "stop_reason": "max_tokens", "usage": {"output_tokens": 4096}},
    ])
    reply = ask(model.client(), [{"role": "user", "content": "go"}])
    assert reply.stop_reason == "max_tokens"
    assert reply.usage.output_tokens == 4096


def test_delay_holds_the_reply_back():
    model = ScriptedModel([{"delay": 0.2, "text": "slow"}])
    start = time.monotonic()
    reply = ask(model.client(), [{"role": "user", "content": "go"}])
    assert time.monotonic() - start >= 0.2
    assert reply.content[0].text == "slow"


def test_streamed_delay_is_spread_over_the_stream():
    pauses: list[float] = []
    model = ScriptedModel([{"delay": 1.5, "text": "one two three four five six"}],
                          sleep=pauses.append)
    with model.client().messages.stream(
        model="scripted", max_tokens=64, messages=[{"role": "user", "content": "go"}]
    ) as stream:
        assert "".join(stream.text_stream) == "one two three four five six"
    assert len(pauses) > 3
    assert sum(pauses) == pytest.approx(1.5)


def test_plan_request_without_tools_is_answered_from_plan_and_keeps_turns(tmp_path):
    model = ScriptedModel(_write(tmp_path))
    client = model.client()
    plan = client.messages.create(model="scripted", max_tokens=512,
                                  messages=[{"role": "user", "content": "plan please"}])
    assert plan.content[0].text.startswith("1. Add slugify()")
    assert model.turn_index == 0
    first = ask(client, [{"role": "user", "content": "implement"}])
    assert first.content[0].text == "Let me look at the module first."


def _write(tmp_path):
    path = tmp_path / "spec.script.yaml"
    path.write_text(SCRIPT)
    return path


def test_attempt_groups_restart_with_a_fresh_conversation():
    model = ScriptedModel({"attempts": [
        [{"text": "try one", "tool_use": [{"name": "bash", "input": {"command": "ls"}}]},
         {"text": "first attempt done"}],
        [{"text": "second attempt done"}],
    ]})
    client = model.client()
    first = ask(client, [{"role": "user", "content": "go"}])
    assert first.content[0].text == "try one"
    # The loop abandons the conversation (e.g. checks failed) and starts attempt 2 afresh.
    again = ask(client, [{"role": "user", "content": "go again, the check failed"}])
    assert again.content[0].text == "second attempt done"
    assert model.attempt_index == 1


def test_attempt_groups_continue_in_the_same_conversation():
    model = ScriptedModel({"attempts": [[{"text": "attempt one"}], [{"text": "attempt two"}]]})
    client = model.client()
    history = [{"role": "user", "content": "go"}]
    one = ask(client, history)
    history += [{"role": "assistant", "content": one.content},
                {"role": "user", "content": "pytest failed: fix it"}]
    two = ask(client, history)
    assert [one.content[0].text, two.content[0].text] == ["attempt one", "attempt two"]


def test_missing_tool_result_is_refused_like_the_api_does():
    model = ScriptedModel([{"text": "x", "tool_use": [{"name": "bash", "input": {}}]}, "y"])
    client = model.client()
    first = ask(client, [{"role": "user", "content": "go"}])
    bad = [{"role": "user", "content": "go"},
           {"role": "assistant", "content": first.content},
           {"role": "user", "content": "I forgot the tool result"}]
    with pytest.raises(anthropic.BadRequestError) as info:
        ask(client, bad)
    assert "tool_result" in info.value.api_message
    with pytest.raises(ModelCallFailed, match="without `tool_result`"):
        call_with_retries(lambda: ask(client, bad), sleep=lambda s: None)
    assert model.turn_index == 1, "a refused request does not use up a turn"


def test_scripted_overload_is_retried_and_the_run_goes_on():
    model = ScriptedModel([
        {"error": {"status": 529, "message": "Overloaded", "retry_after": 2}},
        {"text": "back again"},
    ])
    client = model.client()
    slept: list[float] = []
    reply = call_with_retries(lambda: ask(client, [{"role": "user", "content": "go"}]),
                              sleep=slept.append)
    assert reply.content[0].text == "back again"
    assert slept == [2.0]


def test_concurrent_requests_each_get_their_own_turn():
    n = 12
    model = ScriptedModel([{"text": f"turn {i}"} for i in range(n)])
    client = model.client()
    seen: list[str] = []
    lock = threading.Lock()

    def worker():
        reply = ask(client, [{"role": "user", "content": "go"}])
        with lock:
            seen.append(reply.content[0].text)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == sorted(f"turn {i}" for i in range(n))
    assert model.turn_index == n and len(model.requests) == n


def test_script_beside_spec_and_spec_level_provider(tmp_path):
    spec = tmp_path / "slugify.md"
    spec.write_text("---\ntitle: x\nmodel: scripted\n---\n")
    with pytest.raises(ScriptError, match=r"slugify\.script\.yaml"):
        script_beside(spec)
    (tmp_path / "slugify.script.yaml").write_text(SCRIPT)
    path = script_beside(spec)
    assert provider_for_model("scripted") == "scripted"
    assert model_for("scripted", "claude-opus-5") == "scripted"
    client = make_client("scripted", script=path)
    reply = ask(client, [{"role": "user", "content": "go"}])
    assert reply.content[0].text == "Let me look at the module first."


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("turns:\n  - text: hi\n    colour: red\n", "turns[1]: unknown key(s) ['colour']"),
        ("turns:\n  - stop_reason: bored\n", "stop_reason 'bored'"),
        ("turns:\n  - tool_use: [{input: {}}]\n", "tool_use[1] needs a 'name'"),
        ("turns: [\n", "not valid YAML"),
        ("steps: []\n", "unknown key(s) ['steps']"),
    ],
)
def test_bad_script_files_name_the_file_and_the_turn(tmp_path, text, needle):
    path = tmp_path / "bad.script.yaml"
    path.write_text(text)
    with pytest.raises(ScriptError) as info:
        ScriptedModel(path)
    assert str(path) in str(info.value)
    assert needle in str(info.value)


def test_an_overload_inside_an_attempt_group_does_not_skip_to_the_next_attempt():
    model = ScriptedModel({"attempts": [
        [{"error": {"status": 529}}, {"text": "attempt one"}],
        [{"text": "attempt two"}],
    ]})
    client = model.client()
    reply = call_with_retries(lambda: ask(client, [{"role": "user", "content": "go"}]),
                              sleep=lambda s: None)
    assert reply.content[0].text == "attempt one"
