"""API weather at the loop level: retried overloads (over a real loopback socket), failures
that end the run with the API's message, an outage that holds the run, the cord."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx2
import pytest

from andon.engine.llm.scripted import ScriptedModel
from andon.engine.run.control import Cancelled
from andon.store import models as m
from tests.support import messages_server as ms
from tests.support.agentkit import START, Kit


@pytest.fixture
def server() -> Iterator[ms.MessagesServer]:
    with ms.MessagesServer() as s:
        yield s


@pytest.fixture
def client(server: ms.MessagesServer) -> Iterator[anthropic.Anthropic]:
    c = anthropic.Anthropic(base_url=server.url, api_key="test-key", max_retries=0)
    yield c
    c.close()


def test_overloaded_then_a_streamed_reply(kit: Kit, server: ms.MessagesServer,
                                          client: anthropic.Anthropic) -> None:
    server.add(ms.overloaded(retry_after=0),
               ms.streamed("Let me look.", tool_use=[
                   {"name": "bash", "input": {"command": "echo from-loopback"}}]),
               ms.rate_limited(retry_after=0),
               ms.streamed("Seen it; done."))
    result = kit.agent(client, model="claude-sonnet-5-5").run(START)

    assert (result.status, result.reason) == ("done", "Seen it; done.")
    assert len(server.requests) == 4
    assert all(r.body and r.body["stream"] is True for r in server.requests)
    retries = [e.message for e in kit.events("model.retry")]
    assert retries == ["model overloaded (529), retrying in 0s",
                       "rate limited (429), retrying in 0s"]
    tool_result = server.requests[3].body["messages"][-1]["content"][0]  # type: ignore[index]
    assert "from-loopback" in tool_result["content"]
    assert "".join(e.message for e in kit.events("model.text")) == "Let me look.Seen it; done."
    assert kit.run().turns == 2


def test_unauthorized_fails_with_the_api_message(kit: Kit, server: ms.MessagesServer,
                                                 client: anthropic.Anthropic) -> None:
    server.add(ms.error(401, "authentication_error", "invalid x-api-key"))
    result = kit.agent(client).run(START)
    assert result.status == "error"
    assert "401" in result.reason and "invalid x-api-key" in result.reason
    assert len(server.requests) == 1  # not retried
    assert kit.steps("turn")[0].status == "error"


def test_bad_request_fails_with_the_api_message(kit: Kit, server: ms.MessagesServer,
                                                client: anthropic.Anthropic) -> None:
    server.add(ms.error(400, "invalid_request_error", "max_tokens: too large"))
    result = kit.agent(client).run(START)
    assert result.status == "error" and "max_tokens: too large" in result.reason


def test_an_outage_holds_the_run_and_tries_again_later(kit: Kit) -> None:
    script = ScriptedModel([{"text": "Back online; done."}])
    down = 3

    def flaky_network(request: httpx2.Request) -> httpx2.Response:
        nonlocal down
        if down:
            down -= 1
            raise httpx2.ConnectError("connection refused", request=request)
        return script.handle(request)

    client = anthropic.Anthropic(api_key="x", base_url="http://api.invalid", max_retries=0,
                                 http_client=httpx2.Client(
                                     transport=httpx2.MockTransport(flaky_network)))
    agent = kit.agent(client, retry_max_wait=0, hold_seconds=0.01)
    result = agent.run(START)

    assert result.status == "done" and result.reason == "Back online; done."
    held = kit.events("run.held")
    assert len(held) == 3
    assert held[0].message.startswith("model service unreachable: cannot reach the API")
    assert [e.message for e in kit.events("run.running")] == ["model service reachable again"]
    run = kit.run()
    assert run.status == m.RUNNING and run.reason is None
    assert sum(t.paused for t in agent.timings) > 0  # waits are not the agent's time


def test_a_cancelled_run_stops_at_the_next_turn_boundary(kit: Kit) -> None:
    kit.log.update(cancel_requested=True)
    model = ScriptedModel([{"text": "never"}])
    with pytest.raises(Cancelled):
        kit.agent(model.client()).run(START)
    assert model.requests == []


def test_tool_input_that_is_not_an_object_gets_an_error_result(
        kit: Kit, server: ms.MessagesServer, client: anthropic.Anthropic) -> None:
    server.add(ms.streamed("Odd call.", tool_use=[
                   {"name": "bash", "input": ["rm", "-rf", "/"]},
                   {"name": "str_replace_based_edit_tool", "input": "view README.md"}]),
               ms.streamed("Understood."))
    result = kit.agent(client).run(START)
    assert result.status == "done"
    results = server.requests[1].body["messages"][-1]["content"]  # type: ignore[index]
    assert [r["is_error"] for r in results] == [True, True]
    assert all("must be a JSON object" in r["content"] for r in results)
