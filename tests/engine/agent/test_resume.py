"""Checkpoints: an interrupted conversation resumes where it stopped, and no tool call that
completed runs twice."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from andon.engine.agent import checkpoint
from andon.engine.gates.gatekeeper import Decision, Gatekeeper
from andon.engine.llm.scripted import ScriptedModel
from andon.store import models as m
from tests.support.agentkit import START, Kit


class Crash(BaseException):
    """Stands for the engine process dying (nothing catches it)."""


def append(word: str) -> dict[str, Any]:
    return {"name": "bash", "input": {"command": f"echo {word} >> log.txt"}}


def lines(kit: Kit) -> list[str]:
    return (kit.root / "log.txt").read_text().splitlines()


class CrashOnSecondCall(Gatekeeper):
    def __init__(self) -> None:
        self.calls = 0

    def action(self, tool_name: str, tool_input: dict[str, Any], preview: str) -> Decision:
        self.calls += 1
        if self.calls == 2:
            raise Crash("the engine died between two tool calls")
        return Decision()


def test_a_crash_between_tool_calls_reruns_nothing_that_finished(kit: Kit) -> None:
    first = ScriptedModel([{"text": "Two appends.", "tool_use": [append("one"), append("two")]},
                           {"text": "never served"}])
    with pytest.raises(Crash):
        kit.agent(first.client(), gatekeeper=CrashOnSecondCall()).run(START, attempt=1)
    assert lines(kit) == ["one"]
    saved = checkpoint.latest(kit.db, kit.run_id, 1)
    assert saved is not None and saved.phase == "tools" and len(saved.results) == 1

    # a new engine process: new agent, the model's next reply
    second = ScriptedModel([{"text": "Both lines are there."}])
    result = kit.agent(second.client()).run(START, attempt=1)
    assert result.status == "done"
    assert lines(kit) == ["one", "two"]  # each line once
    (request,) = second.requests
    answered = request["messages"][-1]["content"]
    assert [b["type"] for b in answered] == ["tool_result", "tool_result"]
    # the step of the call the crash interrupted says so; it ran once, after the resume
    assert [s.status for s in kit.steps("tool")] == ["ok", "error", "ok"]
    assert "resuming attempt 1 after turn 1 (tools)" in kit.events("agent.resume")[0].message


def test_a_crash_during_a_model_request_resumes_after_the_last_turn(kit: Kit) -> None:
    script = ScriptedModel([{"text": "Appending.", "tool_use": [append("once")]},
                            {"text": "not reached"}])
    served = 0

    def dies_on_second_request(request: httpx2.Request) -> httpx2.Response:
        nonlocal served
        served += 1
        if served == 2:
            raise Crash("the engine died while the model was thinking")
        return script.handle(request)

    import anthropic
    client = anthropic.Anthropic(api_key="scripted", base_url="http://scripted.invalid",
                                 max_retries=0, http_client=httpx2.Client(
                                     transport=httpx2.MockTransport(dies_on_second_request)))
    with pytest.raises(Crash):
        kit.agent(client).run(START, attempt=1)
    assert lines(kit) == ["once"]

    rest = ScriptedModel([{"text": "Finished."}])
    result = kit.agent(rest.client()).run(START, attempt=1)
    assert result.status == "done" and result.reason == "Finished."
    assert lines(kit) == ["once"]
    assert [u.turn for u in kit.rows(m.Usage)] == [1, 2]
    assert kit.run().turns == 2
    # the resumed request carries the whole conversation, tool result included
    assert rest.requests[0]["messages"][-1]["content"][0]["type"] == "tool_result"


def test_a_finished_conversation_is_not_talked_again(kit: Kit) -> None:
    model = ScriptedModel([{"text": "Done first time."}])
    assert kit.agent(model.client()).run(START, attempt=1).status == "done"
    again = ScriptedModel([{"text": "should not be asked"}])
    result = kit.agent(again.client()).run(START, attempt=1)
    assert (result.status, result.reason, result.turns) == ("done", "Done first time.", 0)
    assert again.requests == []


def test_a_new_attempt_starts_from_the_messages_given(kit: Kit) -> None:
    model = ScriptedModel({"attempts": [[{"text": "first"}], [{"text": "second"}]]})
    agent = kit.agent(model.client())
    first = agent.run(START, attempt=1)
    follow = [*first.messages, {"role": "user", "content": "The check failed: fix it."}]
    second = agent.run(follow, attempt=2)
    assert second.reason == "second"
    assert model.requests[1]["messages"][-1]["content"][0]["text"] == "The check failed: fix it."
    assert [c.attempt for c in kit.rows(m.Checkpoint)] == [1, 2]
    assert [c.turn for c in kit.rows(m.Checkpoint)] == [1, 2]
