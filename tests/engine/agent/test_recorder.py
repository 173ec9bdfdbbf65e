"""The flight recorder: every request and response of a run, with secrets redacted."""

from __future__ import annotations

import json

import anthropic
import pytest

from andon.engine.llm.recorder import REDACTED, Redactor
from andon.store import models as m
from tests.support import messages_server as ms
from tests.support.agentkit import START, Kit

API_KEY = "sk-ant-api03-" + "Zq9" * 20 + "-AA"
OTHER_KEY = "sk-ant-admin01-abcdefghijklmnopqrstuv_0123"
TOKEN = "ghp_s3cr3tT0kenValue42"


def test_requests_and_responses_are_recorded_without_secrets(
        kit: Kit, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    monkeypatch.setenv("DEPLOY_TOKEN", TOKEN)
    (kit.root / "settings.py").write_text(
        f"KEY = '{API_KEY}'\nADMIN = '{OTHER_KEY}'\nTOKEN = '{TOKEN}'\n")
    with ms.MessagesServer() as server:
        server.add(
            ms.streamed("Reading settings.", tool_use=[
                {"name": "str_replace_based_edit_tool",
                 "input": {"command": "view", "path": "settings.py"}}]),
            ms.streamed(f"The token is {TOKEN}; I will not repeat it."))
        client = anthropic.Anthropic(base_url=server.url, api_key=API_KEY, max_retries=0)
        try:
            result = kit.agent(client, model="claude-sonnet-5-5").run(START, attempt=1)
        finally:
            client.close()
        # the model really saw the file (the tool output is not censored)...
        sent = json.dumps(server.requests[1].body)
        assert API_KEY in sent and TOKEN in sent
    assert result.status == "done"

    exchanges = kit.rows(m.Exchange)
    assert [x.turn for x in exchanges] == [1, 2]
    recorded = json.dumps([[x.request, x.response] for x in exchanges])
    # ...but the recording never holds a secret
    for secret in (API_KEY, OTHER_KEY, TOKEN, "sk-ant-"):
        assert secret not in recorded
    assert recorded.count(REDACTED) >= 4

    first, second = exchanges
    assert first.request["model"] == "claude-sonnet-5-5" and first.request["stream"] is True
    assert [t["name"] for t in first.request["tools"]] == ["str_replace_based_edit_tool", "bash"]
    assert first.response["attempt"] == 1 and first.response["streamed"] is True
    message = first.response["message"]
    assert message["stop_reason"] == "tool_use"
    assert message["content"][1]["input"] == {"command": "view", "path": "settings.py"}
    assert second.response["message"]["content"][0]["text"] == (
        f"The token is {REDACTED}; I will not repeat it.")
    tool_result = second.request["messages"][-1]["content"][0]
    assert REDACTED in tool_result["content"] and "settings.py" in tool_result["content"]


def test_the_redactor_leaves_ordinary_values_alone() -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/home/me", "SHORT_KEY": "abc",
           "DB_PASSWORD": "correct horse battery", "EDITOR": "vim",
           "PROXY": "http://user:hunter2pw@proxy.local:8080",
           "QUOTED_SECRET": 'pa"ss\\wo\nrd-42'}
    redact = Redactor(env, extra=["scripted"])
    data = {"a": ["/usr/bin:/bin is on PATH", "abc", "vim", "scripted"],
            "b": "pw: correct horse battery", "c": "via http://user:hunter2pw@proxy.local:8080",
            "n": 3, "k": "key sk-ant-api03-xyz_123-abc", "q": ['x pa"ss\\wo\nrd-42 y']}
    assert redact(data) == {
        "a": ["/usr/bin:/bin is on PATH", "abc", "vim", "scripted"],
        "b": f"pw: {REDACTED}", "c": f"via {REDACTED}", "n": 3, "k": f"key {REDACTED}",
        "q": [f"x {REDACTED} y"]}
