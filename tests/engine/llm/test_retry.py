"""Real client and retry policy against a loopback Messages API server (real SDK, real sockets)."""

from __future__ import annotations

import socket
import typing
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import anthropic
import pytest

from andon.engine.llm import sse
from andon.engine.llm.real import DEFAULT_MODEL, ProviderError, make_client, real_client
from andon.engine.llm.retry import (
    ModelCallFailed,
    ModelUnavailable,
    Wait,
    call_with_retries,
    parse_retry_after,
)
from tests.support.messages_server import (
    MessagesServer,
    Reply,
    error,
    message,
    overloaded,
    rate_limited,
    reply,
    streamed,
)

HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture
def server():
    with MessagesServer() as srv:
        yield srv


@pytest.fixture
def client(server):
    sdk = anthropic.Anthropic(base_url=server.url, api_key="test", max_retries=0)
    yield sdk
    sdk.close()


def create(client):
    return client.messages.create(model=DEFAULT_MODEL, max_tokens=256, messages=HELLO)


def test_overloaded_then_success_is_retried_and_the_wait_is_reported(server, client):
    server.add(overloaded(retry_after=0), reply("recovered"))
    waits: list[Wait] = []
    slept: list[float] = []
    result = call_with_retries(lambda: create(client), sleep=slept.append, on_wait=waits.append)
    assert result.content[0].text == "recovered"
    assert len(server.requests) == 2
    assert slept == [0.0]
    assert waits[0].status_code == 529 and "overloaded (529)" in waits[0].reason


def test_retry_after_seconds_is_honoured(server, client):
    server.add(rate_limited(retry_after=7), reply("ok"))
    slept: list[float] = []
    call_with_retries(lambda: create(client), sleep=slept.append)
    assert slept == [7.0]


def test_retry_after_http_date_is_honoured(server, client):
    when = datetime.now(UTC) + timedelta(seconds=30)
    server.add(overloaded(retry_after=format_datetime(when, usegmt=True)), reply("ok"))
    slept: list[float] = []
    call_with_retries(lambda: create(client), sleep=slept.append)
    assert len(slept) == 1 and 27 <= slept[0] <= 30


def test_without_retry_after_the_backoff_grows(server, client):
    server.add(
        error(500, "api_error", "Internal server error"),
        error(503, "api_error", "unavailable"),
        error(502, "api_error", "bad gateway"),
        reply("ok"),
    )
    slept: list[float] = []
    call_with_retries(lambda: create(client), sleep=slept.append)
    assert len(slept) == 3
    assert 0.8 <= slept[0] <= 1.0 and 1.6 <= slept[1] <= 2.0 and 3.2 <= slept[2] <= 4.0


def test_unauthorised_fails_with_the_api_message_and_no_retry(server, client):
    server.add(error(401, "authentication_error", "invalid x-api-key"))
    with pytest.raises(ModelCallFailed) as info:
        call_with_retries(lambda: create(client), sleep=lambda s: None)
    assert "invalid x-api-key" in str(info.value)
    assert info.value.status_code == 401
    assert info.value.error_type == "authentication_error"
    assert len(server.requests) == 1


def test_bad_request_fails_with_the_api_message(server, client):
    server.add(error(400, "invalid_request_error", "max_tokens: Field required"))
    with pytest.raises(ModelCallFailed, match="max_tokens: Field required") as info:
        call_with_retries(lambda: create(client), sleep=lambda s: None)
    assert info.value.status_code == 400


def test_a_long_retry_after_beyond_the_budget_holds_the_run(server, client):
    server.add(rate_limited(retry_after=3600))
    slept: list[float] = []
    with pytest.raises(ModelUnavailable) as info:
        call_with_retries(lambda: create(client), sleep=slept.append, max_wait=600)
    assert info.value.retry_after == 3600
    assert info.value.status_code == 429
    assert slept == []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_becomes_model_unavailable_after_bounded_retries():
    client = anthropic.Anthropic(
        base_url=f"http://127.0.0.1:{free_port()}", api_key="test", max_retries=0
    )
    slept: list[float] = []
    with client, pytest.raises(ModelUnavailable) as info:
        call_with_retries(lambda: create(client), sleep=slept.append, max_wait=60)
    assert "cannot reach the API" in str(info.value)
    assert info.value.attempts == len(slept) + 1
    assert sum(slept) <= 60
    assert slept[0] >= 4.0, "a network outage backs off longer than an overload"


def test_streamed_reply_over_a_socket(server, client):
    server.add(streamed("Hello from the loopback server, streamed in pieces."))
    with client.messages.stream(model=DEFAULT_MODEL, max_tokens=64, messages=HELLO) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "Hello from the loopback server, streamed in pieces."
    assert final.stop_reason == "end_turn"


def test_an_overload_inside_a_stream_is_retried(server, client):
    events = sse.message_events(message("never finished"))
    broken = b"".join(sse.encode_event(t, d) for t, d in events[:3])
    broken += sse.error_event("overloaded_error", "Overloaded")
    server.add(Reply(200, broken, {"content-type": "text/event-stream"}), streamed("second time"))

    def run_stream():
        with client.messages.stream(model=DEFAULT_MODEL, max_tokens=64, messages=HELLO) as s:
            return s.get_final_message()

    waits: list[Wait] = []
    final = call_with_retries(run_stream, sleep=lambda s: None, on_wait=waits.append)
    assert final.content[0].text == "second time"
    assert "overloaded" in waits[0].reason


def test_real_client_needs_the_api_key_and_says_which_variable():
    with pytest.raises(ProviderError, match="ANTHROPIC_API_KEY"):
        real_client(env={})
    with pytest.raises(ProviderError, match="ANTHROPIC_API_KEY"):
        make_client("anthropic", env={"ANTHROPIC_API_KEY": "  "})
    with pytest.raises(ProviderError, match="unknown provider 'openai'"):
        make_client("openai")


def test_real_client_honours_base_url_and_sends_the_key(server):
    server.add(reply("real"))
    client = make_client(
        "anthropic", env={"ANTHROPIC_API_KEY": "sk-test-123", "ANTHROPIC_BASE_URL": server.url}
    )
    assert create(client).content[0].text == "real"
    client.close()
    recorded = server.requests[0]
    assert recorded.path == "/v1/messages"
    headers = {k.lower(): v for k, v in recorded.headers.items()}
    sent = headers.get("x-api-key", "") + " " + headers.get("authorization", "")
    assert "sk-test-123" in sent
    assert recorded.body["model"] == DEFAULT_MODEL


def test_default_model_is_the_newest_sonnet_the_sdk_knows():
    literal = typing.get_args(anthropic.types.ModelParam)[0]
    known = typing.get_args(literal)
    assert DEFAULT_MODEL in known
    assert DEFAULT_MODEL.startswith("claude-sonnet-")


def test_parse_retry_after_forms():
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None
    past = format_datetime(datetime.now(UTC) - timedelta(minutes=1), usegmt=True)
    assert parse_retry_after({"retry-after": past}) == 0.0
