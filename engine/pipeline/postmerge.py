"""The post-merge watch: the spec's checks run again on the merged base.

They run in a temporary detached worktree of the merge commit (with the repository's
setup commands), never in the person's own checkout. When they fail, the run's change
is reverted on the base by a revert commit (`engine.workspace.merge.revert_run`), so a broken
change does not stay in the base while a person is told.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from andon.engine.errors import NotFound, UserError
from andon.engine.pipeline.checks import CheckResult, run_checks
from andon.engine.run.identity import home_id
from andon.engine.run.log import RunLog
from andon.engine.run.state import PipelineState
from andon.engine.workspace.merge import revert_run
from andon.engine.workspace.sandbox import SandboxConfig, SandboxUnavailable
from andon.engine.workspace.worktree import CommandOutput, run_setup, temporary_worktree
from andon.store import models as m
from andon.store.clock import utcnow
from andon.store.db import Database


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
          revert_message: Callable[[list[str]], str],
          setup_network: bool = False, home: str | None = None) -> WatchResult:
    """Run the checks on `merged`; on failure revert the run on `base`. The setup
    commands run in the sandbox too (they build code the agent wrote), with the
    network only when `setup_network` (the repository entry's `network`)."""
    with temporary_worktree(repo, merged, worktrees, f"post-merge-{run_id}") as path:
        result = WatchResult(passed=True)
        walls = sandbox(path)
        walls = replace(walls, network=setup_network)
        for command in setup:
            with log.step("setup", command, input={"command": command}) as step:
                try:
                    out = run_setup(path, command, setup_timeout, sandbox=walls)
                except SandboxUnavailable as exc:
                    out = CommandOutput(command, None, str(exc), False, 0.0)
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
                                revert_message(result.failures), home)
            if commit is None:
                result.revert_failed = True
                step.status = "failed"
                step.output = (f"the revert of {merged[:10]} conflicts with what {base} "
                               "gained since; a person must fix the base")
            else:
                result.revert = commit
                step.output = f"{base} -> {commit[:10]} (reverts {merged[:10]})"
        return result


def revert_merged_run(home: Any, db: Database, run_id: int, *, user: str,
                      reason: str | None = None) -> str:
    """A person reverts a merged run: a revert commit on the base (the engine makes it,
    as for the watch), the run marked "reverted", and the circuit breaker told (a
    reverted dark merge demotes its category). Returns the revert commit."""
    from andon.engine.gates.gate import breaker_after

    with db.read() as s:
        run = s.get(m.Run, run_id)
        spec = s.get(m.Spec, run.spec_id) if run else None
    if run is None:
        raise NotFound(f"no run {run_id}")
    if run.status != m.MERGED:
        raise UserError(f"run {run_id} is {run.status}: only a merged run can be reverted")
    state = PipelineState.of(run)
    merged, previous = state.merged or run.merge_commit, state.previous
    if not (run.repo_path and run.base and merged and previous):
        raise UserError(f"run {run_id} does not record where it merged; revert it with git")
    title = spec.title if spec else run.title
    why = reason or "reverted by a person"
    identity = home_id(db)
    message = (f"Revert andon run {run_id}: {title}\n\n{why} ({user}).\n\n"
               f"Andon-Reverts: {run_id}\nAndon-Home: {identity}\n"
               f"Andon-Category: {run.category}")
    log = RunLog(db, run_id)
    with temporary_worktree(Path(run.repo_path), merged, home.worktrees,
                            f"revert-{run_id}") as scratch, log.step(
            "revert", run.base, stage="post-merge") as step:
        commit = revert_run(run.repo_path, run.base, run_id, merged, previous, scratch,
                            message, identity)
        if commit is None:
            step.status = "failed"
            step.output = f"the revert conflicts with what {run.base} gained since"
            raise UserError(f"run {run_id}'s change conflicts with later changes to "
                            f"{run.base}; revert it by hand")
        step.output = f"{run.base} -> {commit[:10]} (reverts {merged[:10]})"
    log.transition(m.REVERTED, f"reverted on {run.base} as {commit[:10]} by {user}: {why}",
                   reason=f"reverted by {user}: {why}", finished_at=utcnow(),
                   detail={"commit": commit, "user": user})
    breaker_after(db, run_id)
    return commit
