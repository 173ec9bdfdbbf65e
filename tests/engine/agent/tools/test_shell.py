"""The bash tool and run_command: real bash, real bubblewrap."""

from __future__ import annotations

import os
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from andon.engine.agent.tools.shell import BashTool, run_command
from andon.engine.workspace.sandbox import SandboxConfig, bwrap_available

BWRAP_OK, BWRAP_WHY = bwrap_available()
needs_bwrap = pytest.mark.skipif(not BWRAP_OK, reason=f"bubblewrap unusable: {BWRAP_WHY}")

pytestmark = needs_bwrap


@pytest.fixture
def wt(tmp_path: Path) -> Path:
    root = tmp_path / "wt"
    root.mkdir()
    return root


@pytest.fixture
def bash(wt: Path) -> Iterator[BashTool]:
    tool = BashTool(wt, SandboxConfig(wt), timeout=10)
    yield tool
    tool.close()


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if marker.encode() in fh.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


def test_definition_and_mutating(bash: BashTool) -> None:
    assert bash.definition() == {"type": "bash_20250124", "name": "bash"}
    assert bash.is_mutating({"command": "ls"})
    assert not bash.is_mutating({"restart": True})


def test_state_persists_between_calls(bash: BashTool, wt: Path) -> None:
    assert bash.run({"command": "pwd"}).text.strip() == str(wt.resolve())
    bash.run({"command": "mkdir -p sub && cd sub && export GREETING=hi; COUNT=3"})
    out = bash.run({"command": 'echo "$GREETING $COUNT $(pwd)"'})
    assert out.text.strip() == f"hi 3 {wt.resolve()}/sub"
    assert out.exit_code == 0 and not out.is_error


def test_exit_codes_and_stderr(bash: BashTool) -> None:
    out = bash.run({"command": "echo to-out; echo to-err >&2; exit_with() { return $1; }; "
                               "exit_with 7"})  # fmt: skip
    assert out.exit_code == 7 and out.is_error
    assert "to-out" in out.text and "to-err" in out.text and "exit code 7" in out.text
    # A syntax error does not swallow the next command.
    bad = bash.run({"command": "echo 'unbalanced"})
    assert bad.is_error and bad.exit_code == 2
    assert bash.run({"command": "echo fine"}).text.strip() == "fine"
    # Commands that read stdin get end-of-file, not our protocol.
    assert bash.run({"command": "cat; echo done"}).text.strip() == "done"


def test_exit_and_restart(bash: BashTool) -> None:
    bash.run({"command": "export X=1; cd /tmp"})
    out = bash.run({"command": "exit 4"})
    assert out.exit_code == 4 and "shell exited" in out.text
    assert bash.run({"command": 'echo "[$X]"'}).text.strip() == "[]"
    bash.run({"command": "export Y=2"})
    restarted = bash.run({"restart": True})
    assert not restarted.is_error and "restarted" in restarted.text
    assert bash.run({"command": 'echo "[$Y]"'}).text.strip() == "[]"


def test_malformed_input(bash: BashTool) -> None:
    for inp in ({}, {"command": ""}, {"command": 3}, {"restart": "yes"}):
        out = bash.run(inp)
        assert out.is_error and "command" in out.text


def test_command_that_never_ends_is_killed_with_its_children(wt: Path) -> None:
    tool = BashTool(wt, SandboxConfig(wt), timeout=1)
    marker = f"{uuid.uuid4().int % 10**6}.{uuid.uuid4().int % 997 + 1}"
    try:
        tool.run({"command": "cd /tmp && export KEEP=1"})
        started = time.monotonic()
        out = tool.run({"command": f"setsid sleep 9{marker} & sleep 8{marker}; echo never"})
        assert time.monotonic() - started < 60  # not the 80-odd seconds the command asks
        assert out.is_error and out.exit_code is None and "timed out" in out.text
        assert "restarted" in out.text and "never" not in out.text
        deadline = time.monotonic() + 3
        while _processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _processes_with(marker) == []
        after = tool.run({"command": 'pwd; echo "[$KEEP]"'})
        assert after.text.split() == [str(wt.resolve()), "[]"]
    finally:
        tool.close()


def test_fifty_megabytes_of_output_is_capped_in_bounded_memory(bash: BashTool) -> None:
    tracemalloc.start()
    try:
        out = bash.run({"command": "head -c 50000000 /dev/zero | tr '\\0' a; echo; echo END"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.exit_code == 0
    assert len(out.text.encode()) <= 31_000
    assert out.text.rstrip().endswith("END") and "bytes elided" in out.text
    assert out.full is not None and len(out.full.encode()) <= 1_100_000
    assert out.meta["bytes"] > 50_000_000
    assert peak < 15_000_000, f"peak python memory {peak} bytes"


def test_secrets_in_the_environment_do_not_reach_the_shell(
    wt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-leak1")
    monkeypatch.setenv("MY_SERVICE_TOKEN", "leak2")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "leak3")
    monkeypatch.setenv("DB_Password", "leak4")
    monkeypatch.setenv("MIRROR", "https://user:leak5@example.com/simple")
    monkeypatch.setenv("ANDON_HARMLESS", "visible")
    tool = BashTool(wt, SandboxConfig(wt), env={"EXTRA_OK": "yes", "EXTRA_SECRET": "leak6"})
    try:
        out = tool.run({"command": "env"})
    finally:
        tool.close()
    assert "ANDON_HARMLESS=visible" in out.text and "EXTRA_OK=yes" in out.text
    assert "PATH=" in out.text and "GIT_CONFIG_NOSYSTEM=1" in out.text
    for n in range(1, 7):
        assert f"leak{n}" not in out.text
    result = run_command("env", wt, SandboxConfig(wt), timeout=10)
    assert "ANDON_HARMLESS=visible" in result.output and "leak1" not in result.output


def test_run_command_exit_code_output_and_cwd(wt: Path) -> None:
    (wt / "sub").mkdir()
    r = run_command("pwd; echo oops >&2; exit 3", wt / "sub", SandboxConfig(wt), timeout=10)
    assert r.exit_code == 3 and not r.timed_out
    assert r.output.splitlines() == [str((wt / "sub").resolve()), "oops"]
    assert r.full == r.output and r.duration < 5


def test_run_command_timeout_kills_everything(wt: Path) -> None:
    marker = f"{uuid.uuid4().int % 10**6}.{uuid.uuid4().int % 997 + 1}"
    r = run_command(f"echo started; (sleep 7{marker} &); sleep 6{marker}", wt,
                    SandboxConfig(wt), timeout=0.5)  # fmt: skip
    assert r.timed_out and r.exit_code is None
    assert r.output.startswith("started") and "timed out" in r.output
    deadline = time.monotonic() + 3
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_with(marker) == []


def test_run_command_does_not_wait_for_background_leftovers(wt: Path) -> None:
    started = time.monotonic()
    r = run_command("sleep 300 & echo quick", wt, SandboxConfig(wt), timeout=200)
    assert r.exit_code == 0 and r.output.strip() == "quick"
    assert time.monotonic() - started < 100  # neither the leftover's 300 s nor the timeout
