"""How the agent asks: max_tokens follows the model's limit (capped by configuration),
thinking and effort come from the policy or the spec, and thinking blocks go back to the
model across tool use. The real SDK against a loopback Messages API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from andon.engine.errors import SpecError, UserError
from andon.engine.factory.home import Home
from andon.engine.llm.asking import FALLBACK_MAX_TOKENS, Asking
from andon.engine.pipeline.stages import Pipeline
from andon.engine.run.queue import submit
from andon.engine.spec.specfile import parse_spec
from andon.policies.policy import Policy
from andon.policies.stored import save_policies
from andon.store.db import Database
from tests.conftest import name_repo, write_spec
from tests.support import messages_server as ms

MODEL = "claude-sonnet-5-5"
THOUGHT = "The greeting goes in its own file; I will create it."


def _run(tmp_path: Path, home: Home, db: Database, sample_repo: Path,
         monkeypatch: pytest.MonkeyPatch, *, policy: dict[str, Any], spec: str = "",
         limit: int | None = 64_000) -> list[dict[str, Any]]:
    """One run through the pipeline: a thinking turn with a tool call, then done; the
    request bodies the loopback service received."""
    name_repo(home, sample_repo)
    save_policies(db, [Policy(category="feature", level=4, allow_unsandboxed=True,
                              **policy)], user="tester")  # the request is what counts here
    path = write_spec(tmp_path / "specs", "greet", "title: greet\ncategory: feature\n"
                      f"repo: sample\nmodel: {MODEL}\n{spec}")
    run_id = submit(db, path).id or 0
    with ms.MessagesServer() as server:
        if limit is not None:
            server.model(MODEL, max_tokens=limit)
        server.add(
            ms.streamed("Writing it.", thinking=THOUGHT, tool_use=[{
                "name": "str_replace_based_edit_tool",
                "input": {"command": "create", "path": "greet.txt", "file_text": "hi\n"}}]),
            ms.streamed("Done."))
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-" + "k" * 20)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        Pipeline(home, db, run_id).execute()
    return [r.body for r in server.requests
            if r.method == "POST" and r.path.startswith("/v1/messages") and r.body]


def test_the_policy_sets_thinking_effort_and_a_cap_below_the_models_limit(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    bodies = _run(tmp_path, home, db, sample_repo, monkeypatch,
                  policy={"thinking": 4096, "effort": "high", "max_tokens": 50_000})
    assert len(bodies) == 2
    for body in bodies:
        assert body["max_tokens"] == 50_000  # the policy's cap, below the model's 64k
        assert body["thinking"] == {"type": "enabled", "budget_tokens": 4096}
        assert body["output_config"] == {"effort": "high"}

    # the thinking block comes back first in its turn, signature and all, before the call
    turn = bodies[1]["messages"][1]
    assert turn["role"] == "assistant"
    assert turn["content"][0] == {"type": "thinking", "thinking": THOUGHT,
                                  "signature": f"sig-{len(THOUGHT)}-{THOUGHT[:8]}"}
    assert [b["type"] for b in turn["content"]] == ["thinking", "text", "tool_use"]


def test_the_spec_wins_and_max_tokens_follows_the_models_limit(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    bodies = _run(tmp_path, home, db, sample_repo, monkeypatch,
                  policy={"thinking": 4096, "effort": "high"},
                  spec="thinking: adaptive\neffort: low\n", limit=128_000)
    assert {b["max_tokens"] for b in bodies} == {128_000}  # no cap: the model's own limit
    assert all(b["thinking"] == {"type": "adaptive"} for b in bodies)
    assert all(b["output_config"] == {"effort": "low"} for b in bodies)


def test_a_service_that_cannot_say_the_limit_gets_the_fallback_and_nothing_unasked(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    bodies = _run(tmp_path, home, db, sample_repo, monkeypatch, policy={}, limit=None)
    assert {b["max_tokens"] for b in bodies} == {FALLBACK_MAX_TOKENS}
    assert not any("thinking" in b or "output_config" in b for b in bodies)


def test_options_cap_and_check_the_thinking_budget() -> None:
    assert Asking(max_tokens=10_000).options(64_000)["max_tokens"] == 10_000
    assert Asking(max_tokens=100_000).options(64_000)["max_tokens"] == 64_000
    assert Asking(max_tokens=20_000).options(None)["max_tokens"] == 20_000
    assert Asking(thinking="off").options(None)["thinking"] == {"type": "disabled"}
    with pytest.raises(UserError, match=r"thinking = 8192 must be below max_tokens \(8192"):
        Asking(thinking=8192).options(None)


@pytest.mark.parametrize(("line", "needle"), [
    ("thinking: 100", "'thinking'"),
    ("thinking: lots", "'adaptive', 'off' or a budget of tokens >= 1024 (got 'lots')"),
    ("effort: extreme", "must be one of low, medium, high, xhigh, max (got 'extreme')"),
    ("max_tokens: 0", "'max_tokens'"),
])
def test_bad_settings_in_a_spec_name_the_field_and_value(tmp_path: Path, line: str,
                                                         needle: str) -> None:
    path = write_spec(tmp_path, "bad", f"title: t\ncategory: feature\nrepo: r\n{line}\n")
    with pytest.raises(SpecError) as info:
        parse_spec(path)
    assert str(path) in str(info.value) and needle in str(info.value), str(info.value)


def test_bad_settings_in_a_policy_name_the_field_and_value() -> None:
    with pytest.raises(ValueError, match=r"thinking[\s\S]*got 512"):
        Policy(category="feature", thinking=512)
    with pytest.raises(ValueError, match=r"effort[\s\S]*got 'max!'"):
        Policy(category="feature", effort="max!")
