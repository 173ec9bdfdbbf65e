"""Escalation rules, checked on a run's diff before merge. Pure functions over data.

Any escalation opens a gate at every level; at level 4 the run also counts as escalated
(see `policies.matrix`). The rules, named by `Rule`:

- ``protected_path``: a changed path (old or new name of a rename) matches ``protected_paths``
  or an agent harness's settings (``.claude/``, ``.mcp.json``), protected everywhere
- ``diff_too_large``: added + removed lines over ``max_diff_lines`` (binary files count 0)
- ``dependency_changed``: a changed path matches ``dependency_files``
- ``budget_spent``: more than 80% of a per-run budget (dollars, turns or minutes) spent
- ``satisfaction_low``: satisfaction under ``satisfaction_threshold`` (None = no
  scenarios ran, nothing to compare, no escalation)

Glob syntax (`path_matches`), close to .gitignore:
``*`` and ``?`` stay inside one path segment, ``[abc]``/``[!abc]`` are character classes,
``**`` spans any number of directories (including none); a pattern with no ``/`` matches
a file or directory name at any depth (``*.lock``, ``package.json``); a pattern with a
``/`` is anchored at the repository root (a leading ``/`` is allowed); a pattern that
matches a directory also matches everything under it (``migrations`` = ``migrations/**``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from andon.policies.policy import Budget, Policy

#: "more than 80% of a budget spent" escalates.
BUDGET_ESCALATION_FRACTION = 0.8

_LISTED = 5  # paths named in a detail before "and N more"


class Rule(StrEnum):
    PROTECTED_PATH = "protected_path"
    DIFF_TOO_LARGE = "diff_too_large"
    DEPENDENCY_CHANGED = "dependency_changed"
    BUDGET_SPENT = "budget_spent"
    SATISFACTION_LOW = "satisfaction_low"


@dataclass(frozen=True)
class Escalation:
    """One tripped rule and a sentence for the person at the gate."""

    rule: Rule
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.detail}"


@dataclass(frozen=True)
class FileChange:
    """One line of ``git diff --numstat``. Binary files have None line counts."""

    path: str
    added: int | None
    removed: int | None
    old_path: str | None = None  # set for renames and copies

    @property
    def binary(self) -> bool:
        return self.added is None or self.removed is None

    @property
    def lines(self) -> int:
        return (self.added or 0) + (self.removed or 0)

    @property
    def paths(self) -> tuple[str, ...]:
        """Every path this change touches: the old name of a rename, then the new one."""
        if self.old_path and self.old_path != self.path:
            return (self.old_path, self.path)
        return (self.path,)


@dataclass(frozen=True)
class DiffSummary:
    files: tuple[FileChange, ...] = ()

    @property
    def added(self) -> int:
        return sum(f.added or 0 for f in self.files)

    @property
    def removed(self) -> int:
        return sum(f.removed or 0 for f in self.files)

    @property
    def lines(self) -> int:
        """Changed lines: added + removed, binary files counting 0."""
        return self.added + self.removed

    @property
    def paths(self) -> list[str]:
        """Every touched path (both names of renames), in diff order, no duplicates."""
        seen: dict[str, None] = {}
        for change in self.files:
            for path in change.paths:
                seen.setdefault(path, None)
        return list(seen)


@dataclass(frozen=True)
class SpendFractions:
    """Share of each per-run budget used so far: 0.0 none, 1.0 all of it."""

    usd: float = 0.0
    turns: float = 0.0
    minutes: float = 0.0

    @classmethod
    def from_usage(
        cls, budget: Budget, *, usd: float = 0.0, turns: int = 0, minutes: float = 0.0
    ) -> SpendFractions:
        return cls(
            usd=usd / budget.usd, turns=turns / budget.turns, minutes=minutes / budget.minutes
        )


# -- globs ------------------------------------------------------------------------------


def path_matches(pattern: str, path: str) -> bool:
    """Does a repository-relative path match a policy glob? (syntax in the module doc)"""
    return _compile(pattern).match(_normalize(path)) is not None


def matching_pattern(patterns: Iterable[str], path: str) -> str | None:
    """The first pattern that matches the path, or None."""
    for pattern in patterns:
        if path_matches(pattern, path):
            return pattern
    return None


def _normalize(path: str) -> str:
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path.lstrip("/")


@lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str]:
    text = pattern.strip().replace("\\", "/")
    anchored = "/" in text.rstrip("/")
    text = text.strip("/")
    segments = [s for s in text.split("/") if s]
    if not anchored:
        segments = ["**", *segments]
    regex = ""
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            regex += ".*" if last else "(?:[^/]+/)*"
        else:
            regex += _segment(segment) + ("" if last else "/")
    return re.compile(rf"(?s:{regex})(?:/.*)?\Z")


def _segment(segment: str) -> str:
    out = ""
    i = 0
    while i < len(segment):
        char = segment[i]
        if char == "*":
            while i + 1 < len(segment) and segment[i + 1] == "*":
                i += 1
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = segment.find("]", i + 2)
            if end == -1:
                out += re.escape(char)
            else:
                body = segment[i + 1 : end]
                negate = body[:1] in ("!", "^")
                if negate:
                    body = body[1:]
                body = body.replace("\\", "\\\\").replace("^", "\\^")
                out += f"[{'^' if negate else ''}{body}]"
                i = end
        else:
            out += re.escape(char)
        i += 1
    return out


# -- numstat ----------------------------------------------------------------------------


def diff_summary_from_numstat(text: str) -> DiffSummary:
    """Parse ``git diff --numstat`` output (also ``-z`` output, with NUL separators).

    Binary files (``-`` counts) get None line counts; renames (``old => new`` and
    ``dir/{old => new}/file``) keep both paths; C-quoted paths are unquoted.
    Raises ValueError naming a line that is not numstat.
    """
    if "\0" in text:
        return _numstat_z(text)
    files = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split("\t", 2)
        if len(parts) != 3:
            raise ValueError(f"not a git numstat line: {line!r}")
        added, removed = _count(parts[0], line), _count(parts[1], line)
        old_path, path = _split_rename(parts[2])
        files.append(FileChange(path=path, added=added, removed=removed, old_path=old_path))
    return DiffSummary(tuple(files))


def _numstat_z(text: str) -> DiffSummary:
    tokens = text.split("\0")
    files = []
    i = 0
    while i < len(tokens):
        token = tokens[i].lstrip("\n")
        i += 1
        if not token:
            continue
        parts = token.split("\t", 2)
        if len(parts) != 3:
            raise ValueError(f"not a git numstat record: {token!r}")
        added, removed = _count(parts[0], token), _count(parts[1], token)
        if parts[2]:
            files.append(FileChange(parts[2], added, removed))
        else:  # rename: the next two tokens are the old and new path
            if i + 1 >= len(tokens):
                raise ValueError(f"rename without paths in git numstat: {token!r}")
            old_path, path = tokens[i], tokens[i + 1]
            i += 2
            files.append(FileChange(path, added, removed, old_path=old_path))
    return DiffSummary(tuple(files))


def _count(field: str, line: str) -> int | None:
    if field == "-":
        return None
    if not field.isdigit():
        raise ValueError(f"not a git numstat line: {line!r}")
    return int(field)


_BRACE_RENAME = re.compile(r"^(?P<pre>.*)\{(?P<old>.*) => (?P<new>.*)\}(?P<post>.*)$")


def _split_rename(field: str) -> tuple[str | None, str]:
    field = _unquote(field)
    brace = _BRACE_RENAME.match(field)
    if brace:
        pre, post = brace["pre"], brace["post"]
        old = _join(pre, brace["old"], post)
        new = _join(pre, brace["new"], post)
        return old, new
    if " => " in field:
        old, new = field.split(" => ", 1)
        return _unquote(old), _unquote(new)
    return None, field


def _join(pre: str, middle: str, post: str) -> str:
    path = pre + middle + post
    while "//" in path:
        path = path.replace("//", "/")
    return path


def _unquote(path: str) -> str:
    """Undo git's C-style quoting ("a\\tb", octal-escaped UTF-8 bytes)."""
    if len(path) < 2 or not (path.startswith('"') and path.endswith('"')):
        return path
    body = path[1:-1]
    raw = bytearray()
    simple = {"n": 10, "t": 9, "r": 13, '"': 34, "\\": 92, "a": 7, "b": 8, "f": 12, "v": 11}
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in "01234567" and re.fullmatch(r"[0-7]{3}", body[i + 1 : i + 4]):
                raw.append(int(body[i + 1 : i + 4], 8))
                i += 4
                continue
            if nxt in simple:
                raw.append(simple[nxt])
                i += 2
                continue
        raw.extend(char.encode("utf-8"))
        i += 1
    return raw.decode("utf-8", errors="replace")


# -- rules ------------------------------------------------------------------------------


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_LISTED])
    if len(items) > _LISTED:
        shown += f" and {len(items) - _LISTED} more"
    return shown


#: Protected in every policy: an agent harness's settings in the repository (permission
#: rules, hooks, MCP servers) widen what runs on the next machine that opens it.
AGENT_SETTINGS: tuple[str, ...] = (".claude/", ".mcp.json")


def protected_paths_touched(policy: Policy, diff: DiffSummary) -> Escalation | None:
    hits = []
    patterns = [*policy.protected_paths, *AGENT_SETTINGS]
    for path in diff.paths:
        pattern = matching_pattern(patterns, path)
        if pattern is not None:
            hits.append(f"{path} ({pattern})")
    if not hits:
        return None
    noun = "path" if len(hits) == 1 else "paths"
    return Escalation(Rule.PROTECTED_PATH, f"touches protected {noun}: {_listing(hits)}")


def diff_too_large(policy: Policy, diff: DiffSummary) -> Escalation | None:
    if diff.lines <= policy.max_diff_lines:
        return None
    return Escalation(
        Rule.DIFF_TOO_LARGE,
        f"diff changes {diff.lines} lines (+{diff.added} -{diff.removed}), "
        f"over max_diff_lines {policy.max_diff_lines}",
    )


def dependency_files_changed(policy: Policy, diff: DiffSummary) -> Escalation | None:
    hits = [p for p in diff.paths if matching_pattern(policy.dependency_files, p) is not None]
    if not hits:
        return None
    noun = "file" if len(hits) == 1 else "files"
    return Escalation(Rule.DEPENDENCY_CHANGED, f"changes dependency {noun}: {_listing(hits)}")


def budget_spent(spend: SpendFractions | None) -> Escalation | None:
    if spend is None:
        return None
    over = [
        f"{name} {fraction:.0%}"
        for name, fraction in (
            ("dollars", spend.usd),
            ("turns", spend.turns),
            ("minutes", spend.minutes),
        )
        if fraction > BUDGET_ESCALATION_FRACTION
    ]
    if not over:
        return None
    return Escalation(
        Rule.BUDGET_SPENT,
        f"more than {BUDGET_ESCALATION_FRACTION:.0%} of the run budget spent: {', '.join(over)}",
    )


def satisfaction_low(policy: Policy, satisfaction: float | None) -> Escalation | None:
    if satisfaction is None or satisfaction >= policy.satisfaction_threshold:
        return None
    return Escalation(
        Rule.SATISFACTION_LOW,
        f"satisfaction {satisfaction:.2f} is under the threshold "
        f"{policy.satisfaction_threshold:.2f}",
    )


def check_escalations(
    policy: Policy,
    diff: DiffSummary,
    spend: SpendFractions | None = None,
    satisfaction: float | None = None,
) -> list[Escalation]:
    """Every rule the run trips, in `Rule` order; empty when the merge may go ahead
    as the level says."""
    found = [
        protected_paths_touched(policy, diff),
        diff_too_large(policy, diff),
        dependency_files_changed(policy, diff),
        budget_spent(spend),
        satisfaction_low(policy, satisfaction),
    ]
    return [escalation for escalation in found if escalation is not None]
