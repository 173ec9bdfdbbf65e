"""What a run changed, as the run screen shows it: the same diff the review gate shows
(`andon.engine.workspace.changes`), split per file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from andon.store import models as m

# -- the diff -------------------------------------------------------------------------

DIFF_LIMIT = 2_000_000  # characters of diff shown; the rest is cut with a note


@dataclass
class FileDiff:
    path: str
    old_path: str | None
    added: int
    removed: int
    text: str  # the file's part of the unified diff, from its first hunk
    status: str = "modified"  # added, deleted, renamed, modified, binary, link


@dataclass
class DiffData:
    files: list[FileDiff]
    source: str  # what was compared, for the header
    note: str = ""  # why there is no diff, or that it was cut


def parse_diff(text: str) -> list[FileDiff]:
    files: list[FileDiff] = []
    chunks = text.split("\ndiff --git ")
    if chunks and chunks[0].startswith("diff --git "):
        chunks[0] = chunks[0][len("diff --git "):]
    elif chunks:
        chunks = chunks[1:]
    for chunk in chunks:
        lines = chunk.split("\n")
        header = lines[0]
        path = header.split(" b/", 1)[1] if " b/" in header else header
        old_path = None
        status = "modified"
        body_start = len(lines)
        for i, line in enumerate(lines[1:], start=1):
            if line.startswith("@@"):
                body_start = i
                break
            if line.startswith(("new file mode 120000", "old mode 120000",
                                "new mode 120000", "deleted file mode 120000")):
                status = "link"  # git shows a symlink's target, never reads through it
            elif line.startswith("new file"):
                status = "added"
            elif line.startswith("deleted file"):
                status = "deleted"
            elif line.startswith("rename from "):
                old_path, status = line[len("rename from "):], "renamed"
            elif line.startswith("rename to "):
                path = line[len("rename to "):]
            elif line.startswith("Binary files"):
                status = "binary"
            elif line.startswith("+++ ") and line[4:] != "/dev/null":
                path = line[6:] if line.startswith("+++ b/") else line[4:]
        body = lines[body_start:]
        added = sum(1 for ln in body if ln.startswith("+"))
        removed = sum(1 for ln in body if ln.startswith("-"))
        files.append(FileDiff(path, old_path, added, removed,
                              "\n".join(body).rstrip("\n"), status))
    return files


def _git(cwd: str | Path, *args: str) -> str | None:
    from andon.engine.workspace.git import try_git  # GitPython is slow to import: not before a diff

    status, out, _err = try_git(cwd, *args)
    return out if status == 0 else None


def _worktree_changes(run: m.Run) -> str | None:
    """The review gate's diff of a live run (setup's artefacts left out); None when git
    cannot tell (the worktree is going away under us)."""
    from andon.engine.run.state import PipelineState
    from andon.engine.workspace.changes import changes
    from andon.engine.workspace.git import GitError

    try:
        return changes(run.worktree or "", run.base_commit or "",
                       PipelineState.of(run).excluded)
    except (GitError, OSError):
        return None


def load_diff(run: m.Run) -> DiffData:
    """What the run changed: the merge for merged runs, else the worktree or branch vs base.

    Read-only: never touches the worktree's index (the agent may be working in it). A
    live run's diff is the one its review gate shows (`andon.engine.workspace.changes`).
    """
    repo, base = run.repo_path, run.base_commit
    text: str | None = None
    source = ""
    if run.merge_commit and repo and Path(repo).exists():
        text = _git(repo, "diff", "--no-color", "-M", f"{run.merge_commit}^1", run.merge_commit)
        source = f"merge {run.merge_commit[:10]}"
    elif run.worktree and base and Path(run.worktree).exists():
        text = _worktree_changes(run)
        source = f"worktree vs {base[:10]}"
    elif base and repo and Path(repo).exists():
        tip = run.head_commit or run.branch
        if tip:
            text = _git(repo, "diff", "--no-color", "-M", base, tip)
            source = f"{tip[:20]} vs {base[:10]}"
    if text is None:
        why = "no changes yet" if run.status in m.ACTIVE_STATUSES else \
            "the run's workspace and branch are gone"
        if not run.base_commit:
            why = "the run has no workspace yet"
        return DiffData([], source, why)
    note = ""
    if len(text) > DIFF_LIMIT:
        text, note = text[:DIFF_LIMIT], f"diff cut at {DIFF_LIMIT:,} characters"
    files = parse_diff(text)
    if not files:
        note = note or "no changes"
    return DiffData(files, source, note)
