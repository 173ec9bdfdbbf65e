"""Putting a run's work into the base branch: only the engine does this.

`merge_run` integrates the run's branch with the base's current tip, the way the
repository is configured (`merge = "merge"`: one merge commit naming the run;
`"rebase"`: the run's commits replayed on the tip, then the base fast-forwarded), and
moves the base with a compare-and-swap. It is idempotent: a run whose work is already in
the base (found by its `Andon-Run: N` trailer among the commits the base gained since
the run started, so even after a crash between merging and recording it) is never
merged twice. A conflict is reported with the files, and the worktree is left clean.

`revert_run` undoes a merged run on the base (after the post-merge checks failed), and
`push` sends the base to a configured remote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from andon.engine.run.identity import HOME_TRAILER, REVERT_TRAILER, RUN_TRAILER
from andon.engine.workspace.git import (
    GitError,
    commits_with_trailer,
    git_with_input,
    is_ancestor,
    move_branch,
    repo_lock,
    rev_parse,
    run_git,
    try_git,
    unmerged_files,
)
from andon.engine.workspace.worktree import Workspace

CAS_RETRIES = 5


@dataclass
class MergeResult:
    status: Literal["merged", "already", "conflict", "empty"]
    commit: str | None = None  # the base's new tip holding the run's work
    previous: str | None = None  # the base's tip just before the merge
    files: list[str] = field(default_factory=list)  # conflicting files
    detail: str = ""


def already_merged(repo: Path | str, base: str, run_id: int, since: str,
                   home: str | None = None) -> str | None:
    """The commit that put run `run_id` (of home `home`) into `base`, looking only at
    what the base gained after `since` (where the run started): a factory that was set up
    again, and counts runs from 1 again, or another home's run 1 on the same repository,
    is never mistaken for this one."""
    span = merged_span(repo, base, run_id, since, home)
    return span[0] if span else None


def _of_run(repo: Path | str, span: str, key: str, run_id: int, home: str | None,
            first_parent: bool = False) -> list[str]:
    """Commits in `span` with the trailer `key: run_id` and, when `home` is given, the
    trailer `Andon-Home: home` (newest first)."""
    found = commits_with_trailer(repo, span, key, str(run_id), first_parent=first_parent)
    if home is None or not found:
        return found
    ours = set(commits_with_trailer(repo, span, HOME_TRAILER, home,
                                    first_parent=first_parent))
    return [sha for sha in found if sha in ours]


def merged_span(repo: Path | str, base: str, run_id: int, since: str,
                home: str | None = None) -> tuple[str, str] | None:
    """(the commit holding run `run_id`'s work in `base`, the base's tip before it), or
    None when the run is not in the base (see `already_merged`)."""
    span = f"{since}..refs/heads/{base}"
    found = _of_run(repo, span, RUN_TRAILER, run_id, home, first_parent=True)
    if not found:
        return None
    newest = found[0]
    parents = run_git(repo, "rev-list", "--parents", "-n", "1", newest).split()[1:]
    if len(parents) > 1:  # a merge commit: the base was its first parent
        return newest, parents[0]
    return newest, rev_parse(repo, f"{found[-1]}^")  # rebased: before the oldest


def merge_run(ws: Workspace, run_id: int, message: str, mode: str = "merge",
              home: str | None = None) -> MergeResult:
    """Merge the run's branch into the base (see the module docstring).

    Runs of one engine take turns (the repository lock), so they never race each other
    to the base; the compare-and-swap still guards against anyone else moving it."""
    with repo_lock(ws.repo):
        return _merge_run(ws, run_id, message, mode, home)


def _merge_run(ws: Workspace, run_id: int, message: str, mode: str,
               home: str | None) -> MergeResult:
    base_ref = f"refs/heads/{ws.base}"
    for _ in range(CAS_RETRIES):
        span = merged_span(ws.repo, ws.base, run_id, ws.base_commit, home)
        if span:
            done, before = span
            return MergeResult("already", done, previous=before,
                               detail=f"already in {ws.base} as {done[:10]}")
        tip = rev_parse(ws.repo, base_ref)
        head = ws.head()
        if is_ancestor(ws.repo, head, ws.base_commit):
            return MergeResult("empty", detail="the run changed nothing")
        if not is_ancestor(ws.repo, tip, head):
            conflict = _integrate(ws, tip, mode)
            if conflict is not None:
                return conflict
            head = ws.head()
        if mode == "rebase" and not run_git(ws.path, "rev-list", "--merges", f"{tip}..{head}"):
            new = head  # fast-forward: linear history
        else:  # (a branch that merged the base to resolve a conflict cannot be linear)
            tree = run_git(ws.path, "rev-parse", f"{head}^{{tree}}")
            new = run_git(ws.path, "commit-tree", tree, "-p", tip, "-p", head, "-m", message)
        try:
            move_branch(ws.repo, ws.base, new, tip)
        except GitError:
            if rev_parse(ws.repo, base_ref) != tip:
                continue  # the base moved under us: integrate again
            raise
        return MergeResult("merged", new, previous=tip,
                           detail=f"{ws.base} {tip[:10]} -> {new[:10]}")
    raise GitError(["merge"], 1, f"{ws.base} kept moving; gave up after {CAS_RETRIES} tries")


def _integrate(ws: Workspace, tip: str, mode: str) -> MergeResult | None:
    """Bring the base's new tip into the run's branch; None when that went cleanly."""
    if mode == "rebase":
        status, out, err = try_git(ws.path, "rebase", "--quiet", "--no-autostash", tip)
        abort = ("rebase", "--abort")
    else:
        status, out, err = try_git(ws.path, "merge", "--no-edit", "-q", "--no-ff", tip)
        abort = ("merge", "--abort")
    if status == 0:
        return None
    files = unmerged_files(ws.path)
    try_git(ws.path, *abort)
    detail = (err or out).strip()
    if not files:
        raise GitError([mode, tip], status, detail)
    return MergeResult("conflict", files=files,
                       detail=f"{ws.base} moved to {tip[:10]} and conflicts with the run "
                              f"in {', '.join(files)}")


def conflict_markers(ws: Workspace) -> list[str]:
    """Merge the base's tip into the run's branch and leave the conflicts in the files
    (markers) for the agent to resolve; the next commit of the worktree concludes the
    merge. Returns the conflicting files (empty: it merged cleanly)."""
    tip = rev_parse(ws.repo, f"refs/heads/{ws.base}")
    status, _, _ = try_git(ws.path, "merge", "--no-edit", "-q", "--no-ff", tip)
    return [] if status == 0 else unmerged_files(ws.path)


def revert_run(repo: Path | str, base: str, run_id: int, merged: str, previous: str,
               scratch: Path, message: str, home: str | None = None) -> str | None:
    """Undo run `run_id`'s merge (`previous`..`merged`) on the base's current tip, in
    the detached worktree `scratch`; returns the revert commit, or None when the revert
    conflicts with what the base gained since (a person must fix it). Idempotent: an
    existing revert (trailer `Andon-Reverts: N`) is returned as is."""
    with repo_lock(repo):
        return _revert_run(repo, base, run_id, merged, previous, scratch, message, home)


def reverted(repo: Path | str, base: str, run_id: int, merged: str,
             home: str | None = None) -> str | None:
    """The commit on `base` after `merged` that reverts run `run_id`, if there is one."""
    found = _of_run(repo, f"{merged}..refs/heads/{base}", REVERT_TRAILER, run_id, home)
    return found[0] if found else None


def _revert_run(repo: Path | str, base: str, run_id: int, merged: str, previous: str,
                scratch: Path, message: str, home: str | None) -> str | None:
    for _ in range(CAS_RETRIES):
        found = reverted(repo, base, run_id, merged, home)
        if found:
            return found
        tip = rev_parse(repo, f"refs/heads/{base}")
        if tip == merged:
            tree = run_git(repo, "rev-parse", f"{previous}^{{tree}}")
            new = run_git(repo, "commit-tree", tree, "-p", tip, "-m", message)
        else:
            run_git(scratch, "checkout", "-q", "--detach", tip)
            diff = run_git(scratch, "diff", "--binary", merged, previous, strip=False)
            if diff.strip():
                status, _, _ = git_with_input(scratch, diff, "apply", "--3way", "--index")
                if status != 0:
                    try_git(scratch, "reset", "-q", "--hard", tip)
                    return None
            run_git(scratch, "commit", "--no-verify", "-q", "--allow-empty", "-m", message)
            new = rev_parse(scratch, "HEAD")
        try:
            move_branch(repo, base, new, tip)
        except GitError:
            if rev_parse(repo, f"refs/heads/{base}") != tip:
                continue
            raise
        return new
    raise GitError(["revert"], 1, f"{base} kept moving; gave up after {CAS_RETRIES} tries")


def push(repo: Path | str, remote: str, base: str) -> str:
    """Push the base branch to `remote`; returns git's report. Raises GitError."""
    status, out, err = try_git(repo, "push", "--porcelain", remote,
                               f"refs/heads/{base}:refs/heads/{base}")
    if status != 0:
        raise GitError(["push", remote, base], status, err or out)
    return (out or err).strip()
