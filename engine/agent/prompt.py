"""The system prompt: what the agent is asked to do, and the facts of the repository."""

from __future__ import annotations

from pathlib import Path

from andon.engine.spec.specfile import section
from andon.engine.workspace.git import run_git
from andon.store import models as m

MAX_TREE_FILES = 300
MAX_README_CHARS = 4_000


def system_prompt(spec: m.Spec, worktree: Path) -> str:
    intent = section(spec.body, "intent") or spec.body.strip()
    acceptance = section(spec.body, "acceptance criteria") or "(none given)"
    checks = "\n".join(f"- `{c}`" for c in spec.checks) or "- (none)"
    files = run_git(worktree, "ls-files").splitlines()
    tree = "\n".join(files[:MAX_TREE_FILES])
    if len(files) > MAX_TREE_FILES:
        tree += f"\n... and {len(files) - MAX_TREE_FILES} more files"
    return instructions(worktree=worktree, title=spec.title, intent=intent,
                        acceptance=acceptance, checks=checks, tree=tree,
                        readme=_readme(worktree))


def instructions(*, worktree: Path, title: str, intent: str, acceptance: str, checks: str,
                 tree: str, readme: str) -> str:
    """The instructions around a run's facts (the readiness fingerprint hashes them
    rendered with placeholders, so any change to the wording starts a new window)."""
    return f"""You are a software engineer working in a git worktree at {worktree}.
Make the change the spec asks for, completely and carefully, then stop.

Use the str_replace_based_edit_tool to view and edit files and the bash tool to run
commands. Paths are relative to the worktree (or absolute inside it). You cannot leave
the worktree, reach the network, or move git branches: Andon commits and merges your work.
Run the checks below before you finish; when they pass and the acceptance criteria are
met, reply with a short summary and no tool call.

# Spec: {title}

## Intent
{intent}

## Acceptance criteria
{acceptance}

## Checks you can run
{checks}

# Repository
Files tracked by git:
{tree}
{readme}"""


def _readme(worktree: Path) -> str:
    for name in ("README.md", "README.rst", "README.txt", "README"):
        path = worktree / name
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")[:MAX_README_CHARS]
            return f"\n{name}:\n{text}"
    return ""
