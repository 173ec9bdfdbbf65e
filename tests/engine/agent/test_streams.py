"""Streams and retries: a reply stream cut before message_stop is an interrupted reply and
is asked again; the API's x-should-retry says whether a failure is worth a retry."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from andon.engine.llm import sse
from andon.store import models as m
from tests.support import messages_server as ms
from tests.support.agentkit import START, Kit

EDIT = {"name": "str_replace_based_edit_tool",
        "input": {"command": "create", "path": "made.txt", "file_text": "made\n"}}


@pytest.fixture
def server() -> Iterator[ms.MessagesServer]:
    with ms.MessagesServer() as s:
        yield s


@pytest.fixture
def client(server: ms.MessagesServer) -> Iterator[anthropic.Anthropic]:
    c = anthropic.Anthropic(base_url=server.url, api_key="test-key", max_retries=0)
    yield c
    c.close()


def cut(text: str, **kwargs: object) -> ms.Reply:
    """A 200 stream that stops before its message_stop (the connection dropped)."""
    events = sse.message_events(ms.message(text, **kwargs))  # type: ignore[arg-type]
    body = b"".join(sse.encode_event(t, d) for t, d in events if t != "message_stop")
    return ms.Reply(200, body, {"content-type": "text/event-stream"})


def test_a_stream_cut_before_message_stop_is_asked_again(
        kit: Kit, server: ms.MessagesServer, client: anthropic.Anthropic) -> None:
    server.add(cut("Making it.", tool_use=[EDIT]),
               ms.streamed("Making it.", tool_use=[EDIT]),
               cut("Done: made.txt is there."),
               ms.streamed("Done: made.txt is there."))
    result = kit.agent(client, model="claude-sonnet-5-5", retry_max_wait=60).run(START)
    assert result.status == "done" and result.turns == 2
    assert (kit.root / "made.txt").read_text() == "made\n"
    assert len(server.requests) == 4
    retries = kit.events("model.retry")
    assert len(retries) == 2 and "interrupted" in retries[0].message
    assert [u.turn for u in kit.rows(m.Usage)] == [1, 2]  # a cut reply is not a turn


def test_x_should_retry_false_is_not_retried(
        kit: Kit, server: ms.MessagesServer, client: anthropic.Anthropic) -> None:
    server.add(ms.error(529, "overloaded_error", "Overloaded",
                        {"x-should-retry": "false"}),
               ms.streamed("never asked"))
    result = kit.agent(client, model="claude-sonnet-5-5", retry_max_wait=60).run(START)
    assert result.status == "error" and "Overloaded" in result.reason
    assert len(server.requests) == 1


def test_x_should_retry_true_retries_what_is_otherwise_final(
        kit: Kit, server: ms.MessagesServer, client: anthropic.Anthropic) -> None:
    server.add(ms.error(400, "invalid_request_error", "try me again",
                        {"x-should-retry": "true", "retry-after": "0"}),
               ms.streamed("Done."))
    result = kit.agent(client, model="claude-sonnet-5-5", retry_max_wait=60).run(START)
    assert result.status == "done" and len(server.requests) == 2


def test_every_retry_is_the_engines_and_leaves_an_event(
        kit: Kit, server: ms.MessagesServer) -> None:
    """The SDK's own retries (2 by default) would wait unseen: the engine makes them all,
    each told in the run's log, reading retry-after once."""
    sdk_default = anthropic.Anthropic(base_url=server.url, api_key="test-key")
    server.add(ms.overloaded(retry_after=0), ms.streamed("Done."))
    try:
        result = kit.agent(sdk_default, model="claude-sonnet-5-5", retry_max_wait=60).run(START)
    finally:
        sdk_default.close()
    assert result.status == "done" and len(server.requests) == 2
    (retry,) = kit.events("model.retry")
    assert retry.message == "model overloaded (529), retrying in 0s"
