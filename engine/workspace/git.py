"""Every git command the engine runs. Repository hooks never run: a planted hook is code
from the agent's side of the wall, and the engine is the one holding the keys."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import git as gitpython
from filelock import FileLock

NO_HOOKS = ("-c", "core.hooksPath=/dev/null", "-c", "commit.gpgsign=false")
IDENTITY = {
    "GIT_AUTHOR_NAME": "Andon",
    "GIT_AUTHOR_EMAIL": "andon@localhost",
    "GIT_COMMITTER_NAME": "Andon",
    "GIT_COMMITTER_EMAIL": "andon@localhost",
}


class GitError(RuntimeError):
    def __init__(self, args: list[str], status: int, stderr: str) -> None:
        self.args_, self.status, self.stderr = args, status, stderr.strip()
        super().__init__(f"git {' '.join(args)} failed ({status}): {self.stderr}")


class CheckoutBlocked(GitError):
    """The checkout of a branch refused to follow it (a stale index.lock, untracked or
    changed files in the way): the branch did not move. `problem` and `fix` say what
    and what a person does about it; `files` are the paths in the way."""

    def __init__(self, checkout: Path, branch: str, stderr: str) -> None:
        super().__init__(["merge", "--ff-only"], 1, stderr)
        self.checkout, self.branch = checkout, branch
        self.problem, self.fix, self.files = _diagnose(checkout, branch, stderr)


_LOCK = re.compile(r"Unable to create '([^']*index\.lock)': File exists")


def _listed(stderr: str, after: str) -> list[str]:
    """The tab-indented paths git lists after the line containing `after`."""
    lines = stderr.splitlines()
    for n, line in enumerate(lines):
        if after in line:
            listed = []
            for x in lines[n + 1:]:
                if not x.startswith("\t"):
                    break
                listed.append(x.strip())
            return [p for p in listed if p]
    return []


def _diagnose(checkout: Path, branch: str, stderr: str) -> tuple[str, str, list[str]]:
    lock = _LOCK.search(stderr)
    if lock:
        return (f"{lock.group(1)} exists in the checkout of {branch} (left by a git "
                "command that crashed, or one still running)",
                f"if no git command is running in {checkout}, delete {lock.group(1)}",
                [lock.group(1)])
    files = [str(checkout / f) for f in
             _listed(stderr, "untracked working tree files would be overwritten")]
    if files:
        return (f"untracked files in the checkout of {branch} would be overwritten: "
                f"{', '.join(files)}",
                f"move or delete them from {checkout}", files)
    files = [str(checkout / f) for f in
             _listed(stderr, "local changes to the following files would be overwritten")]
    if files:
        return (f"uncommitted changes in the checkout of {branch} would be overwritten: "
                f"{', '.join(files)}",
                f"commit, stash or discard them in {checkout}", files)
    first = next((line for line in stderr.splitlines() if line.strip()), "no reason given")
    return (f"the checkout of {branch} at {checkout} refused to move to the merge: {first}",
            f"see `git status` in {checkout}", [])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(IDENTITY)
    env["GIT_TERMINAL_PROMPT"] = "0"
    return env


def run_git(cwd: Path | str, *args: str, check: bool = True, strip: bool = True) -> str:
    """Run `git -c core.hooksPath=/dev/null ARGS` in `cwd` and return its stdout."""
    argv = ["git", *NO_HOOKS, *args]
    try:
        out = gitpython.Git(str(cwd)).execute(
            argv, env=_env(), with_extended_output=False, strip_newline_in_stdout=strip
        )
    except gitpython.GitCommandError as exc:
        if not check:
            return ""
        code = exc.status if isinstance(exc.status, int) and exc.status else 1
        raise GitError(list(args), code, str(exc.stderr or "")) from None
    return str(out)


def try_git(cwd: Path | str, *args: str) -> tuple[int, str, str]:
    """Run git and return (status, stdout, stderr) without raising."""
    argv = ["git", *NO_HOOKS, *args]
    status, out, err = gitpython.Git(str(cwd)).execute(
        argv, env=_env(), with_extended_output=True, with_exceptions=False
    )
    return int(status or 0), str(out), str(err)


def rev_parse(cwd: Path | str, ref: str) -> str:
    return run_git(cwd, "rev-parse", "--verify", f"{ref}^{{commit}}")


def is_ancestor(cwd: Path | str, older: str, newer: str) -> bool:
    status, _, _ = try_git(cwd, "merge-base", "--is-ancestor", older, newer)
    return status == 0


def checked_out_at(repo: Path | str, branch: str) -> Path | None:
    """The worktree where `branch` is checked out, if any."""
    current: Path | None = None
    for line in run_git(repo, "worktree", "list", "--porcelain").splitlines():
        if line.startswith("worktree "):
            current = Path(line.removeprefix("worktree "))
        elif line == f"branch refs/heads/{branch}":
            return current
    return None


def commits_with_trailer(cwd: Path | str, ref: str, key: str, value: str,
                         limit: int | None = None, first_parent: bool = False) -> list[str]:
    """Commits reachable from `ref` (newest first) whose message has the trailer
    `key: value`, e.g. `Andon-Run: 12`. Parsed with git's own trailer rules."""
    args = ["log", "--format=%H%x00%(trailers:key=" + key + ",valueonly,separator=%x01)",
            ref]
    if limit is not None:
        args.insert(1, f"--max-count={limit}")
    if first_parent:
        args.insert(1, "--first-parent")
    found = []
    for line in run_git(cwd, *args).splitlines():
        sha, _, values = line.partition("\x00")
        if value in (v.strip() for v in values.split("\x01")):
            found.append(sha)
    return found


def unmerged_files(cwd: Path | str) -> list[str]:
    """Paths left in conflict by a merge, rebase or revert in this worktree."""
    out = run_git(cwd, "diff", "--name-only", "--diff-filter=U", "-z", strip=False)
    return sorted({p for p in out.split("\x00") if p})


def move_branch(repo: Path | str, branch: str, new: str, old: str) -> None:
    """Advance `branch` from `old` to `new`. Where the branch is checked out, that
    checkout is fast-forwarded so its files follow (it must be clean of conflicting
    changes, else CheckoutBlocked says what is in the way); elsewhere the ref moves with a
    compare-and-swap, so a branch that moved meanwhile is never overwritten (GitError)."""
    with repo_lock(repo):
        checkout = checked_out_at(repo, branch)
        if checkout is not None:
            if rev_parse(checkout, "HEAD") != old:
                raise GitError(["merge", "--ff-only"], 1, f"{branch} moved meanwhile")
            status, out, err = try_git(checkout, "merge", "--ff-only", "-q", new)
            if status != 0:
                raise CheckoutBlocked(checkout, branch, err or out)
        else:
            run_git(repo, "update-ref", f"refs/heads/{branch}", new, old)


@functools.lru_cache(maxsize=256)
def _common_dir(repo: str) -> str:
    out = run_git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir")
    return str(Path(out).resolve())


_locks: dict[str, FileLock] = {}
_locks_guard = threading.Lock()


@contextlib.contextmanager
def repo_lock(repo: Path | str) -> Iterator[None]:
    """Serialise what the engine does to a repository's shared state (its checkout of
    the base, `git worktree add/remove/prune`): two runs merging at once otherwise
    collide on the checkout's index.lock. A file lock in the git directory, so runs in
    other threads and processes wait too; re-entrant within a thread."""
    path = os.path.join(_common_dir(str(Path(repo).resolve())), "andon-engine.lock")
    with _locks_guard:
        lock = _locks.setdefault(path, FileLock(path, timeout=600))
    with lock:
        yield


def git_with_input(cwd: Path | str, stdin: str, *args: str) -> tuple[int, str, str]:
    """Run git with `stdin` fed to it; returns (status, stdout, stderr)."""
    proc = subprocess.run(["git", *NO_HOOKS, *args], cwd=cwd, input=stdin, text=True,
                          capture_output=True, env=_env(), check=False)
    return proc.returncode, proc.stdout, proc.stderr
