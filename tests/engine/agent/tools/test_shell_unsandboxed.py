"""Without the sandbox (a policy allowing it), what the agent's shell starts in the
background still does not outlive the shell: no PID namespace holds it, so every tool
process carries a mark in its environment and closing the shell kills what has it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

from tests.support.walls import DEADLINE, processes_with, wait_until


def _path_without_bwrap(folder: Path) -> str:
    folder.mkdir()
    for name in ("git", "bash", "sh", "setsid", "sleep", "env"):
        found = shutil.which(name)
        if found:
            (folder / name).symlink_to(found)
    return str(folder)


def test_a_setsid_background_loop_dies_with_an_unsandboxed_shell(tmp_path: Path) -> None:
    wt = tmp_path / "wt"
    wt.mkdir()
    marker = f"andon-escapee-{uuid.uuid4().hex}"
    program = textwrap.dedent(f"""
        from pathlib import Path
        from andon.engine.agent.tools.shell import BashTool, run_command
        from andon.engine.workspace.sandbox import SandboxConfig, bwrap_available
        assert not bwrap_available()[0]
        wt = Path({str(wt)!r})
        walls = SandboxConfig(wt, allow_unsandboxed=True)
        shell = BashTool(wt, walls, timeout=30)
        loop = "setsid bash -c 'while :; do sleep 1; done' {marker}-shell >/dev/null 2>&1 &"
        print(shell.run({{"command": loop + " echo started"}}).text)
        shell.close()
        check = "setsid bash -c 'while :; do sleep 1; done' {marker}-check >/dev/null 2>&1 &"
        print(run_command(check + " echo checked", wt, walls, timeout=30).output)
    """)
    try:
        done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                              timeout=DEADLINE,
                              env={**os.environ, "PATH": _path_without_bwrap(tmp_path / "bin")})
        assert done.returncode == 0, done.stderr
        assert "started" in done.stdout and "checked" in done.stdout
        assert wait_until(lambda: not processes_with(marker)), processes_with(marker)
    finally:
        for pid in processes_with(marker):  # leave nothing behind when it fails
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
