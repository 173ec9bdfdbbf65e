"""Symlinks that point outside the repository: refused at every level.

The agent's shell can make any symlink in its worktree (`ln -s / rootlink`). Committed
and merged, such a link points from the base into the host (or, after a clone, into
whoever's machine). So a link whose target leaves the repository (an absolute target,
or one climbing above the top with `..`) never reaches a commit: `sweep` removes the
ones the agent made after each of its commands, and says so, so the agent is told why;
`unstage` is the last wall, run by every commit on what is actually staged (a link made
by a background process after the last command is caught there).
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from andon.engine.workspace.confine import Confined, Refused, points_outside
from andon.engine.workspace.git import run_git, try_git

LINK_MODE = "120000"


@dataclass(frozen=True)
class Link:
    path: str  # relative to the worktree's top
    target: str

    def __str__(self) -> str:
        return f"{self.path} -> {self.target}"


def note(links: list[Link]) -> str:
    """What the agent is told about links it made that were removed."""
    listed = ", ".join(str(link) for link in links[:20])
    if len(links) > 20:
        listed += f" and {len(links) - 20} more"
    return (f"[andon] removed {len(links)} symlink{'s' if len(links) != 1 else ''} "
            f"pointing outside the repository: {listed}. Symlinks out of the worktree are "
            "refused at every level and never committed; copy what you need into the "
            "repository, or link to a path inside it with a relative target.")


def _outward(files: Confined, rel: str) -> Link | None:
    """The link at `rel` when it is a symlink pointing outside; read without following."""
    try:
        with files.place(rel, follow=False) as at:
            st = at.lstat()
            if st is None or not stat.S_ISLNK(st.st_mode):
                return None
            target = os.readlink(at.name, dir_fd=at.dir_fd)
            where = at.rel
    except (OSError, Refused):
        return None  # gone, or behind a link out: not something git would add
    return Link(where, target) if points_outside(where, target) else None


def _remove(files: Confined, link: Link) -> None:
    with contextlib.suppress(OSError, Refused):
        if _outward(files, link.path) is not None:
            files.unlink(link.path)


def sweep(root: Path) -> list[Link]:
    """Remove the symlinks out of the repository that a commit would pick up now
    (untracked or changed, not ignored); returns them. Nothing when `root` is not a
    git worktree."""
    status, out, _ = try_git(root, "ls-files", "-z", "--others", "--modified",
                             "--exclude-standard")
    if status != 0:
        return []
    files = Confined(root)
    found = [link for rel in dict.fromkeys(p for p in out.split("\x00") if p)
             if (link := _outward(files, rel)) is not None]
    for link in found:
        _remove(files, link)
    return found


def unstage(root: Path) -> list[Link]:
    """After `git add`: take every staged symlink pointing outside back out of the index
    (and remove it from the worktree); returns them. Judged on the staged blob, which
    is what the commit would hold, whatever the worktree does meanwhile."""
    raw = run_git(root, "diff", "--cached", "--raw", "-z", "--no-abbrev", "--no-renames",
                  strip=False)
    fields = raw.split("\x00")
    refused: list[Link] = []
    for meta, path in zip(fields[0::2], fields[1::2], strict=False):
        parts = meta.lstrip(":").split()
        if len(parts) < 5 or parts[1] != LINK_MODE:
            continue
        target = run_git(root, "cat-file", "blob", parts[3], strip=False)
        if points_outside(path, target):
            refused.append(Link(path, target))
    if refused:
        run_git(root, "reset", "-q", "--", *(f":(literal){link.path}" for link in refused))
        files = Confined(root)
        for link in refused:
            _remove(files, link)
    return refused
