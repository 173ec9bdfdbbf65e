"""The run's branch on the forge's git remote: pushed with a lease, fetched back.

A push never overwrites commits someone else put on the run's branch: it carries
`--force-with-lease` on what the remote had when we looked, and a remote branch holding
commits this repository does not have is reported (`Foreign`) for the caller to take in
and check again, not pushed over.
"""

from __future__ import annotations

import re
from pathlib import Path

from andon.engine.forge.settings import ForgeSettings
from andon.engine.forge.weather import ForgePermission, ForgeWeather
from andon.engine.workspace.git import GitError, is_ancestor, run_git, try_git

_DENIED = re.compile(r"permission|denied|403|401|authentication|not allowed|protected",
                     re.IGNORECASE)


class Foreign(Exception):
    """The remote branch moved to commits that are not ours (someone pushed)."""

    def __init__(self, sha: str) -> None:
        super().__init__(f"the remote branch is at {sha[:10]}, which the run never made")
        self.sha = sha


def remote_head(repo: Path, settings: ForgeSettings, branch: str) -> str | None:
    """The remote's commit for `branch` (None: no such branch); weather when the remote
    does not answer."""
    status, out, err = try_git(repo, "ls-remote", "--heads", settings.remote,
                               f"refs/heads/{branch}")
    if status != 0:
        _refused(settings, "read", err or out)
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        if ref.strip() == f"refs/heads/{branch}":
            return sha.strip()
    return None


def fetch(repo: Path, settings: ForgeSettings, branch: str) -> str:
    """Bring the remote's `branch` into the repository's objects; returns its commit."""
    status, out, err = try_git(repo, "fetch", "-q", "--no-tags", settings.remote,
                               f"refs/heads/{branch}")
    if status != 0:
        _refused(settings, "fetch", err or out)
    return run_git(repo, "rev-parse", "FETCH_HEAD^{commit}")


def push(repo: Path, settings: ForgeSettings, branch: str, head: str) -> bool:
    """Put `head` on the remote's `branch`; False when it was there already. Raises
    `Foreign` when the remote branch holds commits the run never made."""
    there = remote_head(repo, settings, branch)
    if there == head:
        return False
    if there is not None and not _known(repo, there, head):
        raise Foreign(there)
    status, out, err = try_git(repo, "push", "--porcelain", "--no-verify",
                               f"--force-with-lease=refs/heads/{branch}:{there or ''}",
                               settings.remote, f"{head}:refs/heads/{branch}")
    if status != 0:
        if "stale info" in (err + out) or "rejected" in (err + out):
            moved = remote_head(repo, settings, branch)
            if moved == head:
                return False
            if moved is not None:
                raise Foreign(moved)
        _refused(settings, "push", err or out)
    return True


def _known(repo: Path, sha: str, head: str) -> bool:
    """Is the remote's commit one of ours: in the run's history (an earlier push)?"""
    try:
        return is_ancestor(repo, sha, head)
    except GitError:
        return False


def _refused(settings: ForgeSettings, what: str, detail: str) -> None:
    text = detail.strip().splitlines()[-1] if detail.strip() else "no answer"
    if _DENIED.search(detail):
        need = ("Contents: write (classic: repo)" if settings.kind == "github"
                else "the write_repository scope and at least the Developer role")
        raise ForgePermission(f"git {what} to {settings.remote} refused ({text}): the "
                              f"credentials git uses for {settings.project} need {need}")
    raise ForgeWeather(f"git {what} to {settings.remote} failed ({text})")
