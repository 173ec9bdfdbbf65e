"""A run's workspace: a git worktree on branch `andon/<run-id>`, cut from the base.

The agent works only here. The engine commits its work, and the engine alone moves the
base branch (see `merge`).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from engine.errors import UserError
from engine.git import GitError, checked_out_at, is_ancestor, rev_parse, run_git, try_git


@dataclass
class Workspace:
    repo: Path
    path: Path
    branch: str
    base: str
    base_commit: str

    def head(self) -> str:
        return rev_parse(self.path, "HEAD")


def branch_for(run_id: int) -> str:
    return f"andon/{run_id}"


def resolve_repo(path: Path) -> Path:
    if not path.exists():
        raise UserError(f"repository {path} does not exist")
    status, out, err = try_git(path, "rev-parse", "--show-toplevel")
    if status != 0:
        raise UserError(f"{path} is not a git repository ({err.strip()})")
    return Path(out.strip())


def prepare(repo: Path, base: str, worktrees: Path, run_id: int) -> Workspace:
    """Create (or reuse, when resuming) the run's worktree from the base's current tip."""
    repo = resolve_repo(repo)
    branch = branch_for(run_id)
    path = worktrees / f"run-{run_id}"
    try:
        base_commit = rev_parse(repo, f"refs/heads/{base}")
    except GitError:
        raise UserError(f"{repo}: base branch '{base}' does not exist") from None
    if path.exists() and (path / ".git").exists():
        return Workspace(repo, path, branch, base, run_git(path, "merge-base", "HEAD", base))
    worktrees.mkdir(parents=True, exist_ok=True)
    exists = try_git(repo, "rev-parse", "--verify", f"refs/heads/{branch}")[0] == 0
    if exists:
        run_git(repo, "worktree", "add", str(path), branch)
    else:
        run_git(repo, "worktree", "add", "-b", branch, str(path), base_commit)
    return Workspace(repo, path, branch, base, base_commit)


def commit_all(ws: Workspace, message: str, trailers: dict[str, str] | None = None) -> str | None:
    """Commit everything the agent changed; returns the new commit, or None if nothing changed."""
    run_git(ws.path, "add", "--all")
    if try_git(ws.path, "diff", "--cached", "--quiet")[0] == 0:
        return None
    body = message
    if trailers:
        body += "\n\n" + "\n".join(f"{key}: {value}" for key, value in trailers.items())
    run_git(ws.path, "commit", "--no-verify", "-q", "-m", body)
    return ws.head()


def diff(ws: Workspace, *, stat: bool = False) -> str:
    """Everything the run changed against where it started (committed or not)."""
    run_git(ws.path, "add", "--all", "--intent-to-add")
    args = ["diff", "--numstat"] if stat else ["diff", "--no-color", "-M"]
    return run_git(ws.path, *args, ws.base_commit, strip=False)


def merge(ws: Workspace, message: str) -> str:
    """Put the run's branch into the base as one merge commit, and return it.

    The merge commit is made in the run's worktree (after bringing the base in when it
    moved), then the base branch is advanced to it. Where the base is checked out, that
    checkout is fast-forwarded so its files follow; otherwise the ref moves with a
    compare-and-swap, so a base that moved meanwhile is never overwritten.
    """
    base_ref = f"refs/heads/{ws.base}"
    tip = rev_parse(ws.repo, base_ref)
    head = ws.head()
    if is_ancestor(ws.repo, head, tip):
        return tip  # already merged: merging is idempotent
    if not is_ancestor(ws.repo, tip, head):
        run_git(ws.path, "merge", "--no-edit", "-q", tip)
        head = ws.head()
    tree = run_git(ws.path, "rev-parse", f"{head}^{{tree}}")
    commit = run_git(ws.path, "commit-tree", tree, "-p", tip, "-p", head, "-m", message)
    checkout = checked_out_at(ws.repo, ws.base)
    if checkout is not None:
        run_git(checkout, "merge", "--ff-only", "-q", commit)
    else:
        run_git(ws.repo, "update-ref", base_ref, commit, tip)
    return commit


def remove(ws: Workspace, *, delete_branch: bool = False) -> None:
    """Remove the worktree; never touches the main repository's objects or other branches."""
    if ws.path.exists():
        status, _, _ = try_git(ws.repo, "worktree", "remove", "--force", str(ws.path))
        if status != 0:
            shutil.rmtree(ws.path, ignore_errors=True)
    try_git(ws.repo, "worktree", "prune")
    if delete_branch:
        try_git(ws.repo, "branch", "-D", ws.branch)
