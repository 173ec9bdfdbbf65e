"""After the forge merged a run: the base branch's required CI on the merge commit, and
a revert through a pull request when it fails.

The revert is a commit on the base's current tip that undoes the run's merge (`git
revert -m 1`), pushed to `andon/revert-<run>` and delivered like any change: a pull
request, its required checks, and the forge's merge of exactly that head. What was done
is kept in the run's progress record, so a crash part way resumes the same revert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from andon.engine.forge import remote
from andon.engine.forge.client import CheckRun, PullRequest
from andon.engine.forge.landing import Landing
from andon.engine.forge.weather import ForgeError
from andon.engine.run.state import RevertPull
from andon.engine.workspace.git import rev_parse, run_git, try_git
from andon.engine.workspace.worktree import temporary_worktree


@dataclass
class Reverted:
    pull: PullRequest | None = None
    commit: str | None = None  # the revert's merge commit on the base, once merged
    why: str = ""  # why it did not merge (conflict, red checks, refused)
    failing: list[CheckRun] = field(default_factory=list)


def base_ci(landing: Landing, merged: str, patience: float) -> list[CheckRun] | None:
    """The base's required checks that fail on the merge commit, waiting up to
    `patience` seconds for them to report (None: some never did)."""
    checks = landing.required_checks(merged, patience)
    for name in checks.required:
        run = checks.runs.get(name)
        with landing.log.step("forge", f"required check {name}") as step:
            step.output = (run.detail or run.state) if run else "missing"
            step.status = "ok" if run and run.state == "success" else "failed"
            step.data = {"head": merged, "url": run.url if run else ""}
    return None if checks.waiting and not checks.failing else checks.failing


def revert_through_pull(landing: Landing, *, run_id: int, merged: str, worktrees: Path,
                        title: str, body: str, message: str) -> Reverted:
    """Undo the run's merge on the forge through a pull request (see the module)."""
    ws, settings = landing.ws, landing.settings
    branch = f"andon/revert-{run_id}"
    known = landing.state().revert
    head = known.head if known is not None else None
    if not head:
        tip = landing.ride(lambda: remote.fetch(ws.repo, settings, ws.base))
        with temporary_worktree(ws.repo, tip, worktrees, f"revert-{run_id}") as path:
            status, out, err = try_git(path, "revert", "--no-commit", "-m", "1", merged)
            if status != 0:
                try_git(path, "revert", "--abort")
                return Reverted(why=f"the revert conflicts with what {ws.base} gained "
                                    f"since: {(err or out).strip()[:200]}")
            run_git(path, "commit", "--no-verify", "-q", "--allow-empty", "-m",
                    f"{title}\n\n{message}")
            head = rev_parse(path, "HEAD")
            try:
                landing.ride(lambda: remote.push(ws.repo, settings, branch, head))
            except remote.Foreign as foreign:
                raise ForgeError(f"{branch} on {settings.name} holds someone else's "
                                 f"commit {foreign.sha[:10]}: delete it, or revert by "
                                 f"hand") from None
        landing.mark(revert=RevertPull(head))
    else:
        landing.ride(lambda: remote.push(ws.repo, settings, branch, head))
    pull = None
    if known is not None and known.number:
        number = known.number
        pull = landing.ride(lambda: landing.forge.get_pull(number))
    if pull is None or pull.state == "closed":
        pull = (landing.ride(lambda: landing.forge.find_pull(branch, ws.base))
                if pull is None else None)
    if pull is None or pull.state == "closed":
        pull = landing.ride(lambda: landing.forge.open_pull(branch, ws.base, title, body))
        landing.log.event("forge", f"opened the revert: {pull.url}", number=pull.number)
    landing.mark(revert=RevertPull(head, pull.number, pull.url))
    if pull.state == "merged":
        return Reverted(pull, pull.merge_commit)
    checks = landing.required_checks(head)
    if checks.failing:
        return Reverted(pull, why="its required checks fail too", failing=checks.failing)
    number = pull.number
    outcome = landing.ride(lambda: landing.merge_once(number, head, title, message))
    if not outcome.merged:
        return Reverted(pull, why=f"{settings.name} refused to merge it: "
                                  f"{outcome.detail or outcome.refused}")
    return Reverted(pull, outcome.sha)
