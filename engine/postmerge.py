"""The post-merge watch: the spec's checks run again on the merged base.

They run in a temporary detached worktree of the merge commit (with the repository's
setup commands), never in the person's own checkout. When they fail, the run's change
is reverted on the base by a revert commit (`engine.merge.revert_run`), so a broken
change does not stay in the base while a person is told.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.checks import CheckResult, run_checks
from engine.merge import revert_run
from engine.runlog import RunLog
from engine.sandbox import SandboxConfig
from engine.workspace import run_setup, temporary_worktree


@dataclass
class WatchResult:
    passed: bool
    checks: list[CheckResult] = field(default_factory=list)
    setup_failed: str | None = None
    revert: str | None = None  # the revert commit, when the checks failed
    revert_failed: bool = False  # the revert conflicts with later changes to the base

    @property
    def failures(self) -> list[str]:
        if self.setup_failed:
            return [f"setup `{self.setup_failed}` failed"]
        return [f"`{c.command}` " + ("timed out" if c.timed_out else f"(exit {c.exit_code})")
                for c in self.checks if not c.passed]


def watch(log: RunLog, *, repo: Path, base: str, run_id: int, merged: str, previous: str,
          worktrees: Path, checks: list[str], setup: list[str],
          sandbox: Callable[[Path], SandboxConfig], timeout: float, setup_timeout: float,
          revert_message: Callable[[list[str]], str]) -> WatchResult:
    """Run the checks on `merged`; on failure revert the run on `base`."""
    with temporary_worktree(repo, merged, worktrees, f"post-merge-{run_id}") as path:
        result = WatchResult(passed=True)
        for command in setup:
            with log.step("setup", command, input={"command": command}) as step:
                out = run_setup(path, command, setup_timeout)
                step.output, step.exit_code = out.output, out.exit_code
                step.status = "ok" if out.passed else "failed"
            if not out.passed:
                result.setup_failed = command
                break
        if result.setup_failed is None:
            result.checks = run_checks(log, checks, path, sandbox(path), timeout)
        result.passed = result.setup_failed is None and all(c.passed for c in result.checks)
        if result.passed:
            return result
        with log.step("revert", base) as step:
            commit = revert_run(repo, base, run_id, merged, previous, path,
                                revert_message(result.failures))
            if commit is None:
                result.revert_failed = True
                step.status = "failed"
                step.output = (f"the revert of {merged[:10]} conflicts with what {base} "
                               "gained since; a person must fix the base")
            else:
                result.revert = commit
                step.output = f"{base} -> {commit[:10]} (reverts {merged[:10]})"
        return result
