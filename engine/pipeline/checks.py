"""The spec's checks: commands the agent may see, run in the worktree like its shell."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from andon.engine.agent.tools.shell import run_command
from andon.engine.run.log import RunLog
from andon.engine.workspace.sandbox import SandboxConfig

CHECK_TIMEOUT = 600.0


@dataclass
class CheckResult:
    command: str
    exit_code: int | None
    output: str
    timed_out: bool

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


def run_checks(log: RunLog, commands: list[str], worktree: Path, sandbox: SandboxConfig,
               timeout: float = CHECK_TIMEOUT) -> list[CheckResult]:
    results = []
    for command in commands:
        with log.step("check", command, input={"command": command}) as step:
            outcome = run_command(command, worktree, sandbox, timeout)
            result = CheckResult(command, outcome.exit_code, outcome.output, outcome.timed_out)
            step.output = outcome.full or outcome.output
            step.exit_code = outcome.exit_code
            step.status = "ok" if result.passed else "failed"
            step.data = {"timed_out": outcome.timed_out, "seconds": round(outcome.duration, 3)}
        verdict = "passed" if result.passed else (
            "timed out" if result.timed_out else f"failed (exit {result.exit_code})")
        log.event("check", f"{command}: {verdict}", passed=result.passed)
        results.append(result)
    return results
