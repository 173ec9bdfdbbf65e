"""What a run changed: the one diff the review gate shows and the run screen shows.

Everything in the worktree against the commit the run started from, committed or not,
new files included, and setup's artefacts (`excluded`: what the repository's setup
commands left untracked) left out. Read-only: new files are added "intent to add" to a
copy of the worktree's index, so the agent's own index is never touched while it works.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from andon.engine.workspace.git import NO_HOOKS, GitError, _env, run_git


def pathspec(excluded: Sequence[str]) -> list[str]:
    """Everything but setup's artefacts."""
    return ["--", ".", *(f":(exclude,literal){p}" for p in excluded)]


def changes(worktree: Path | str, base_commit: str, excluded: Sequence[str] = (), *,
            stat: bool = False) -> str:
    """The unified diff (or `--numstat` with `stat`) of the worktree against
    `base_commit`, new files included, `excluded` paths left out."""
    path = Path(worktree)
    index = Path(run_git(path, "rev-parse", "--git-path", "index"))
    index = index if index.is_absolute() else path / index
    with tempfile.TemporaryDirectory(prefix="andon-index-") as scratch:
        copy = Path(scratch) / "index"
        if index.exists():
            shutil.copyfile(index, copy)  # git replaces the index by rename: a whole copy
        env = {**_env(), "GIT_INDEX_FILE": str(copy)}

        def git(*args: str) -> str:
            proc = subprocess.run(["git", *NO_HOOKS, *args], cwd=path, env=env,
                                  capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise GitError(list(args), proc.returncode, proc.stderr)
            return proc.stdout

        git("add", "--all", "--intent-to-add", *pathspec(excluded))
        what = ["diff", "--numstat"] if stat else ["diff", "--no-color", "-M"]
        return git(*what, base_commit, *pathspec(excluded))
