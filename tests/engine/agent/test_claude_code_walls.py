"""The walls hold for Claude Code: the same hostile calls as the built-in loop's tests
(paths outside the worktree, a symlink out, the scenarios folder, secrets, the network),
made by the real CLI through Andon's walled tools; its own tools are not there to use."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from andon.engine.agent.tools.editor import EditorTool
from andon.engine.agent.tools.shell import BashTool
from andon.engine.llm.client import ModelClient
from andon.engine.llm.scripted import ScriptedModel
from andon.engine.workspace.sandbox import SandboxConfig
from andon.store import models as m
from tests.conftest import requires
from tests.support.agentkit import Kit

pytest.importorskip("claude_agent_sdk", reason="needs the claude-code extra: "
                    "pip install 'andon[claude-code]'")

SECRET = "sk-ant-api03-never-in-the-agent"


@pytest.fixture
def listener() -> Iterator[int]:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    yield srv.getsockname()[1]
    srv.close()


def _agent(kit: Kit, script: list[dict], folder: Path, hide: list[Path]) -> object:
    from andon.engine.agent.claude_code import ClaudeCodeAgent

    sandbox = SandboxConfig(root=kit.root, hide=hide)
    tools = [EditorTool(kit.root), BashTool(kit.root, sandbox, timeout=60)]
    kit.tools.extend(tools)
    llm = ModelClient(ScriptedModel(script).client(), "scripted", kit.log)
    return ClaudeCodeAgent(llm=llm, tools=tools, log=kit.log, system="You are a test agent.",
                           folder=folder)


@requires("bwrap")
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_hostile_calls_from_claude_code_meet_the_same_walls(
        kit: Kit, outside_tmp: Path, listener: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    scenarios = outside_tmp / "scenarios"
    scenarios.mkdir()
    (scenarios / "holdout.sh").write_text("the holdout answer")
    target = outside_tmp / "target"
    target.mkdir()
    edit = "str_replace_based_edit_tool"
    script = [
        {"tool_use": [
            {"name": "bash", "input": {"command": f"env; cat {scenarios}/holdout.sh; "
                                                  f"exec 3<>/dev/tcp/127.0.0.1/{listener} "
                                                  "&& echo connected"}},
            {"name": edit, "input": {"command": "view", "path": "/etc/passwd"}},
            {"name": edit, "input": {"command": "view", "path": f"{scenarios}/holdout.sh"}},
            {"name": edit, "input": {"command": "create", "path": "../escape.txt",
                                     "file_text": "out"}}]},
        {"tool_use": [{"name": "bash", "input": {"command": f"ln -s {target} out"}}]},
        {"tool_use": [
            {"name": edit, "input": {"command": "create", "path": "out/planted.txt",
                                     "file_text": "through the link"}},
            # Claude Code's own tools are off: asking for them reaches nothing
            {"name": "Bash", "input": {"command": f"touch {target}/own-bash"}},
            {"name": "Write", "input": {"file_path": f"{target}/own-write", "content": "x"}},
        ]},
        {"text": "Tried everything."},
    ]
    agent = _agent(kit, script, outside_tmp / "agent", hide=[scenarios])
    result = agent.run([{"role": "user", "content": "Implement the spec."}],  # type: ignore[attr-defined]
                       attempt=1)
    assert result.status == "done", result.reason
    steps = kit.steps("tool")
    assert [(s.name, s.status) for s in steps] == [
        ("bash", "failed"),  # the connect fails, so the command does
        (edit, "refused"), (edit, "refused"), (edit, "refused"),
        # the link out is removed after the command, so the create makes a real folder
        ("bash", "ok"), (edit, "ok")]
    assert "removed 1 symlink pointing outside" in (steps[4].output or "")
    assert (kit.root / "out" / "planted.txt").read_text() == "through the link"
    shell = steps[0].output or ""
    assert SECRET not in shell and "the holdout answer" not in shell
    assert "connected" not in shell
    assert os.listdir(target) == [] and not (kit.root.parent / "escape.txt").exists()


def test_the_cli_never_gets_the_engines_secrets(
        kit: Kit, outside_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from andon.engine.agent.proxy import ModelProxy

    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_never_in_the_agent")
    agent = _agent(kit, [], outside_tmp / "agent", hide=[])
    proxy = ModelProxy(agent.llm, kit.log, attempt=1, budget=lambda: agent.budget,  # type: ignore[attr-defined]
                       spend=lambda: None, boundary=lambda: None,  # type: ignore[arg-type,return-value]
                       paused=lambda fn: fn())
    try:
        env = agent._env(proxy)  # type: ignore[attr-defined]
    finally:
        proxy.close()
    # the SDK lays this over the engine's own environment: every secret is blanked
    assert env["ANTHROPIC_API_KEY"] == proxy.token and env["GITHUB_TOKEN"] == ""
    assert SECRET not in env.values() and env["ANTHROPIC_BASE_URL"] == proxy.url
    assert env["HOME"] == str(outside_tmp / "agent")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_same_call_again_and_again_ends_the_attempt_as_stuck(
        kit: Kit, outside_tmp: Path) -> None:
    view = {"name": "str_replace_based_edit_tool",
            "input": {"command": "view", "path": "README.md"}}
    script = [{"tool_use": [view]}] * 4 + [{"text": "never reached"}]
    agent = _agent(kit, script, outside_tmp / "agent", hide=[])
    result = agent.run([{"role": "user", "content": "Implement the spec."}],  # type: ignore[attr-defined]
                       attempt=1)
    assert result.status == "stuck" and "3 times" in result.reason
    assert len(kit.steps("tool")) == 2  # the third call was not run
    assert [e.kind for e in kit.events("agent.stuck")] == ["agent.stuck"]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_working_time_before_a_resume_counts_against_the_time_budget(
        kit: Kit, outside_tmp: Path) -> None:
    from andon.engine.agent import checkpoint
    from andon.engine.agent.budget import RunBudget
    from andon.engine.agent.checkpoint import AgentState

    with kit.db.write() as s:  # 10 working minutes before the engine restarted
        checkpoint.save(s, kit.run_id, AgentState(attempt=1, turn=0, messages=[],
                                                  elapsed=600.0))
    agent = _agent(kit, [{"text": "never asked"}], outside_tmp / "agent", hide=[])
    agent.budget = RunBudget(minutes=5)  # type: ignore[attr-defined]
    result = agent.run([{"role": "user", "content": "Implement the spec."}],  # type: ignore[attr-defined]
                       attempt=1)
    assert result.status == "budget" and result.breach.kind == "minutes", result.reason
    assert kit.rows(m.Exchange) == []  # refused at the proxy: the model was never asked
