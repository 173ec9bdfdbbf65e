"""A run's workspace: a git worktree on branch `andon/<run-id>`, cut from the base.

The agent works only here. The engine commits its work (`commit_all`), and the engine
alone moves the base branch (`engine.workspace.merge`). Worktrees live under the home's
`worktrees/` folder and are removed when the run ends, as `[engine] keep_worktrees`
says (`retention`, `finish`, `sweep`); removing one never touches the main repository's
objects or other branches.

Repositories named in andon.toml may carry settings (`repo_settings`)::

    [repos.sample]
    path = "~/src/sample"
    base = "main"
    setup = ["python -m pip install -e ."]   # run in each new worktree after prepare
    merge = "merge"                           # or "rebase"
    push = "origin"                           # push the base there after a merge
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from andon.engine.errors import UserError
from andon.engine.factory.config import RepoConfig
from andon.engine.textcap import cap
from andon.engine.workspace import links
from andon.engine.workspace.changes import changes, pathspec
from andon.engine.workspace.environment import scrubbed_env
from andon.engine.workspace.git import GitError, is_ancestor, repo_lock, rev_parse, run_git, try_git
from andon.engine.workspace.sandbox import SandboxConfig, wrap
from andon.store.db import Database

SETUP_TIMEOUT = 900.0
KEEP_CHOICES = ("never", "failed", "always")


@dataclass
class Workspace:
    repo: Path
    path: Path
    branch: str
    base: str
    base_commit: str
    excluded: list[str] = field(default_factory=list)  # setup's artifacts, never committed

    def head(self) -> str:
        return rev_parse(self.path, "HEAD")


@dataclass
class RepoSettings:
    """Where a spec's repository is and how the engine treats it."""

    path: Path
    base: str
    name: str | None = None  # the key in andon.toml's [repos], if named there
    setup: list[str] = field(default_factory=list)
    network: bool = False  # setup on the merged base (post-merge) may use the network
    merge: str = "merge"
    push: str | None = None


def branch_for(run_id: int) -> str:
    return f"andon/{run_id}"


def path_for(worktrees: Path, run_id: int) -> Path:
    return worktrees / f"run-{run_id}"


def resolve_repo(path: Path) -> Path:
    if not path.exists():
        raise UserError(f"repository {path} does not exist")
    status, out, err = try_git(path, "rev-parse", "--show-toplevel")
    if status != 0:
        raise UserError(f"{path} is not a git repository ({err.strip()})")
    return Path(out.strip())


def repo_settings(name: str, entry: RepoConfig | None, *, spec_base: str | None,
                  spec_path: str | Path, config_path: Path) -> RepoSettings:
    """The settings of the repository a spec names: its `[repos.NAME]` in andon.toml
    (`entry`, checked when the file was read), or a path (relative to the spec's folder)
    with default settings."""
    if entry is None:
        path = Path(name).expanduser()
        if not path.is_absolute():
            path = (Path(spec_path).parent / path).resolve()
        if not path.exists():
            raise UserError(f"spec {spec_path}: field 'repo': '{name}' is neither a "
                            f"repository named in {config_path} nor a path")
        return RepoSettings(path=path, base=spec_base or "main")
    base = spec_base if spec_base and spec_base != "main" else (entry.base or spec_base)
    return RepoSettings(path=Path(entry.path).expanduser(), base=base or "main",
                        name=name, setup=list(entry.setup), network=entry.network,
                        merge=entry.merge, push=entry.push)


# -- creating and reusing worktrees ----------------------------------------------------


def prepare(repo: Path, base: str, worktrees: Path, run_id: int,
            base_commit: str | None = None) -> Workspace:
    """Create the run's worktree from the base's current tip, or reuse it when resuming
    (`base_commit`: where the run started, as recorded; it is kept)."""
    repo = resolve_repo(repo)
    branch = branch_for(run_id)
    path = path_for(worktrees, run_id)
    try:
        tip = rev_parse(repo, f"refs/heads/{base}")
    except GitError:
        raise UserError(f"{repo}: base branch '{base}' does not exist") from None
    if path.exists() and (path / ".git").exists():
        start = base_commit or run_git(path, "merge-base", "HEAD", f"refs/heads/{base}")
        return Workspace(repo, path, branch, base, start)
    if path.exists():  # a leftover folder that is no longer a worktree
        shutil.rmtree(path, ignore_errors=True)
    worktrees.mkdir(parents=True, exist_ok=True)
    with repo_lock(repo):
        try_git(repo, "worktree", "prune")
        exists = try_git(repo, "rev-parse", "--verify", f"refs/heads/{branch}")[0] == 0
        if exists:  # resuming a run whose worktree was removed: its branch holds the work
            elsewhere = _checked_out(repo, branch)
            if elsewhere is not None and elsewhere != path:
                # Another engine's home (it died; recovery gave the run to this one): its
                # turns are commits on the branch; what it left uncommitted is past the
                # checkpoint the run resumes from.
                run_git(repo, "worktree", "remove", "--force", str(elsewhere))
            run_git(repo, "worktree", "add", "-q", str(path), branch)
            start = base_commit or run_git(repo, "merge-base", branch, f"refs/heads/{base}")
        else:
            run_git(repo, "worktree", "add", "-q", "-b", branch, str(path), tip)
            start = tip
    return Workspace(repo, path, branch, base, start)


def _checked_out(repo: Path, branch: str) -> Path | None:
    """The worktree that has `branch` checked out, if any."""
    current: Path | None = None
    for line in run_git(repo, "worktree", "list", "--porcelain").splitlines():
        if line.startswith("worktree "):
            current = Path(line.removeprefix("worktree "))
        elif line == f"branch refs/heads/{branch}":
            return current
    return None


@contextlib.contextmanager
def temporary_worktree(repo: Path, commit: str, worktrees: Path,
                       name: str) -> Iterator[Path]:
    """A detached worktree of `commit` under `worktrees/name`, removed afterwards."""
    path = worktrees / name
    remove_path(repo, path)
    worktrees.mkdir(parents=True, exist_ok=True)
    with repo_lock(repo):
        run_git(repo, "worktree", "add", "-q", "--detach", str(path), commit)
    try:
        yield path
    finally:
        remove_path(repo, path)


# -- setup commands --------------------------------------------------------------------


@dataclass
class CommandOutput:
    command: str
    exit_code: int | None
    output: str
    timed_out: bool
    seconds: float

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


def run_setup(path: Path, command: str, timeout: float = SETUP_TIMEOUT,
              sandbox: SandboxConfig | None = None,
              env: dict[str, str] | None = None) -> CommandOutput:
    """Run one of the repository's setup commands in a worktree.

    The commands come from the factory's own configuration (like a CI setup step), but
    what they run (a build backend, a package's install hooks) may be code the agent
    wrote: on a merged base (the post-merge watch) they run inside `sandbox`, with the
    network only where the repository's entry says `network = true`. Without a sandbox
    (preparing a run's worktree from the base) they run as trusted code. Either way:
    the scrubbed environment (plus `env`: the token recovery finds them by, see
    engine.workspace.processes), the worktree as the working folder, and a timeout that
    kills everything they started. Raises SandboxUnavailable as `wrap` does."""
    argv = ["bash", "--noprofile", "--norc", "-c", command]
    if sandbox is not None:
        argv = wrap(argv, sandbox, cwd=path)
    started = time.monotonic()
    proc = subprocess.Popen(
        argv, cwd=path,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env=scrubbed_env(extra=env), start_new_session=True,
    )
    timed_out = False
    try:
        raw, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        raw, _ = proc.communicate()
    text = cap(raw.decode("utf-8", errors="replace"), 64_000)
    return CommandOutput(command, None if timed_out else proc.returncode, text, timed_out,
                         time.monotonic() - started)


def untracked(ws: Workspace) -> list[str]:
    """Paths git would add that are not tracked (folders as one entry)."""
    out = run_git(ws.path, "ls-files", "--others", "--exclude-standard", "--directory", "-z",
                  strip=False)
    return sorted(p.rstrip("/") for p in out.split("\x00") if p)


# -- committing and diffing ---------------------------------------------------------------


def _pathspec(ws: Workspace) -> list[str]:
    return pathspec(ws.excluded)


def commit_all(ws: Workspace, message: str, trailers: dict[str, str] | None = None, *,
               on_refused: Callable[[list[links.Link]], object] | None = None) -> str | None:
    """Commit everything the agent changed (but setup's artifacts, and symlinks out of
    the repository: removed, and told to `on_refused`); returns the new commit, or None
    if nothing changed."""
    run_git(ws.path, "add", "--all", *_pathspec(ws))
    refused = links.unstage(ws.path)
    if refused and on_refused is not None:
        on_refused(refused)
    if try_git(ws.path, "diff", "--cached", "--quiet")[0] == 0:
        return None
    body = message
    if trailers:
        body += "\n\n" + "\n".join(f"{key}: {' '.join(str(value).split())}"
                                   for key, value in trailers.items())
    run_git(ws.path, "commit", "--no-verify", "-q", "-m", body)
    return ws.head()


def diff(ws: Workspace, *, stat: bool = False) -> str:
    """Everything the run changed against where it started (committed or not): the
    same diff the run screen shows (`changes`)."""
    return changes(ws.path, ws.base_commit, ws.excluded, stat=stat)


def merging(ws: Workspace) -> bool:
    """Is a merge of the base (conflicts for the agent to resolve) in progress here?"""
    return try_git(ws.path, "rev-parse", "-q", "--verify", "MERGE_HEAD")[0] == 0


def changed(ws: Workspace) -> bool:
    """Has the run's branch anything the base did not have when the run started?"""
    return run_git(ws.path, "rev-list", "--count", f"{ws.base_commit}..HEAD") != "0"


# -- disk use, removal and retention --------------------------------------------------------


def disk_usage(path: Path | str | None) -> int | None:
    """Bytes a worktree takes on disk (like `du`: allocated blocks, hard links once,
    symlinks not followed); None when it does not exist (removed)."""
    if path is None:
        return None
    root = Path(path)
    if not root.exists():
        return None
    seen: set[tuple[int, int]] = set()
    total = 0
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
            total += getattr(st, "st_blocks", 0) * 512 or st.st_size
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
    return total


def remove(ws: Workspace, *, delete_branch: bool = False) -> None:
    """Remove the worktree; never touches the main repository's objects or other branches.

    `delete_branch` deletes the run's own branch, and only when its work is already in
    the base (so nothing is lost)."""
    remove_path(ws.repo, ws.path)
    if delete_branch:
        with contextlib.suppress(GitError):
            tip = rev_parse(ws.repo, f"refs/heads/{ws.branch}")
            if is_ancestor(ws.repo, tip, f"refs/heads/{ws.base}"):
                try_git(ws.repo, "branch", "-D", ws.branch)


def remove_path(repo: Path | str, path: Path | str) -> None:
    path = Path(path)
    with repo_lock(repo):
        if path.exists():
            status, _, _ = try_git(repo, "worktree", "remove", "--force", str(path))
            if status != 0:
                shutil.rmtree(path, ignore_errors=True)
        try_git(repo, "worktree", "prune")


@dataclass(frozen=True)
class Retention:
    """`[engine] keep_worktrees`: "never", "failed" (keep runs that did not merge),
    "always", or a number of hours (every worktree is kept that long after its run)."""

    mode: str = "failed"
    hours: float | None = None

    def keep_now(self, status: str) -> bool:
        """Keep the worktree when a run ends with `status`?"""
        if self.mode == "hours" or self.mode == "always":
            return True
        if self.mode == "failed":
            return status not in ("merged", "reverted", "rejected", "cancelled")
        return False

    def expired(self, finished_at: datetime | None, now: datetime) -> bool:
        """May a kept worktree go now (hours mode only)?"""
        if self.mode != "hours" or self.hours is None or finished_at is None:
            return False
        return now - finished_at >= timedelta(hours=self.hours)


def retention(value: Any, where: str = "[engine] keep_worktrees") -> Retention:
    if value is None:
        return Retention()
    if isinstance(value, bool):
        raise UserError(f"{where}: must be \"never\", \"failed\", \"always\" or hours "
                        f"(got {value!r})")
    if isinstance(value, int | float):
        if value < 0:
            raise UserError(f"{where}: hours must be >= 0 (got {value})")
        return Retention("hours", float(value))
    if isinstance(value, str):
        text = value.strip().lower()
        if text in KEEP_CHOICES:
            return Retention(text)
        number = text.removesuffix("h").strip()
        with contextlib.suppress(ValueError):
            return retention(float(number), where)
    raise UserError(f"{where}: must be \"never\", \"failed\", \"always\" or a number of "
                    f"hours (got {value!r})")


def sweep(db: Database, keep: Retention, now: datetime | None = None) -> list[int]:
    """Remove the worktrees of finished runs that the retention setting no longer keeps
    (hours passed, or the setting changed); returns the runs whose worktree went."""
    from sqlmodel import col, select

    from andon.store import models as m
    from andon.store.clock import utcnow

    now = now or utcnow()
    with db.read() as s:
        rows = s.exec(select(m.Run).where(col(m.Run.status).in_(m.TERMINAL_STATUSES),
                                          col(m.Run.worktree).is_not(None))).all()
    removed = []
    for run in rows:
        if not run.worktree or not Path(run.worktree).exists() or not run.repo_path:
            continue
        if keep.keep_now(run.status) and not keep.expired(run.finished_at, now):
            continue
        ws = Workspace(Path(run.repo_path), Path(run.worktree), run.branch or "",
                       run.base or "main", run.base_commit or "")
        remove(ws, delete_branch=bool(run.branch))
        with db.write() as s:
            row = s.get(m.Run, run.id)
            if row is not None:
                row.data = {**(row.data or {}), "worktree_removed_at": now.isoformat()}
                s.add(row)
                s.add(m.Event(run_id=run.id, kind="workspace",
                              message=f"worktree {Path(run.worktree).name} removed "
                                      f"(keep_worktrees: {keep.mode})"))
        removed.append(run.id or 0)
    return removed
