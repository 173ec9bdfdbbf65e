"""Anthropic's text editor client tool (`text_editor_20250728`), confined to a worktree.

Commands: view (a file, optionally a line range; or a folder, two levels deep), create,
str_replace (exactly one match), insert (after line N; 0 inserts at the top). Paths may
be relative to the worktree or absolute inside it. Anything that resolves outside the
worktree (`..`, other absolute paths, symlinks out, including through a symlinked
folder) and anything under `.git` is refused. Binary and very large files are refused
with a message that says so. Bad input gives an error outcome, never an exception.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from andon.engine.agent.tools.base import ToolOutcome
from andon.engine.textcap import cap

TOOL_TYPE = "text_editor_20250728"
TOOL_NAME = "str_replace_based_edit_tool"
COMMANDS = ("view", "create", "str_replace", "insert")
MUTATING = frozenset({"create", "str_replace", "insert"})

MAX_FILE_BYTES = 2 * 1024 * 1024
OUTPUT_LIMIT = 30_000
FULL_LIMIT = 200_000
LISTING_LIMIT = 1_000
SNIPPET_LINES = 4
SKIP_DIRS = frozenset({"node_modules", "__pycache__"})


class EditorError(Exception):
    """A refusal or a bad input: becomes an error outcome with this message."""


class EditorTool:
    name = TOOL_NAME

    def __init__(
        self,
        root: Path,
        max_characters: int | None = None,
        max_file_bytes: int = MAX_FILE_BYTES,
    ) -> None:
        self.root = Path(os.path.realpath(root))
        self.max_characters = max_characters
        self.max_file_bytes = max_file_bytes

    # -- protocol -------------------------------------------------------------------

    def definition(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": TOOL_TYPE, "name": TOOL_NAME}
        if self.max_characters is not None:
            d["max_characters"] = self.max_characters
        return d

    def is_mutating(self, tool_input: dict[str, Any]) -> bool:
        if not isinstance(tool_input, dict):
            return False
        return tool_input.get("command") in MUTATING

    def close(self) -> None:
        return None

    def run(self, tool_input: dict[str, Any]) -> ToolOutcome:
        try:
            if not isinstance(tool_input, dict):
                raise EditorError("tool input must be an object with a 'command' field")
            command = tool_input.get("command")
            if command not in COMMANDS:
                raise EditorError(
                    f"unknown command {command!r}; use one of: {', '.join(COMMANDS)}"
                )
            handler = getattr(self, f"_{command}")
            text, meta = handler(tool_input)
        except EditorError as exc:
            return ToolOutcome(text=f"Error: {exc}", is_error=True, full=f"Error: {exc}")
        except OSError as exc:
            msg = f"Error: {exc.strerror or exc}"
            return ToolOutcome(text=msg, is_error=True, full=msg)
        limit = OUTPUT_LIMIT
        if self.max_characters is not None:
            limit = min(limit, self.max_characters)
        return ToolOutcome(text=cap(text, limit=limit), full=cap(text, FULL_LIMIT), meta=meta)

    # -- paths ----------------------------------------------------------------------

    def _display(self, path: Path) -> str:
        rel = path.relative_to(self.root)
        return str(self.root / rel)

    def resolve(self, raw: Any) -> Path:
        """The real path inside the worktree that `raw` names; EditorError otherwise."""
        if not isinstance(raw, str) or not raw.strip():
            raise EditorError("'path' must be a non-empty string")
        if "\x00" in raw:
            raise EditorError("'path' must not contain NUL bytes")
        given = Path(raw)
        candidate = given if given.is_absolute() else self.root / given
        lexical = Path(os.path.normpath(candidate))
        if not _inside(lexical, self.root):
            # An absolute path may name the worktree through a symlinked prefix.
            real_given = Path(os.path.realpath(candidate))
            if not _inside(real_given, self.root):
                raise EditorError(
                    f"{raw} is outside the worktree {self.root}; only files inside it "
                    "can be viewed or edited"
                )
        real = Path(os.path.realpath(candidate))
        if not _inside(real, self.root):
            raise EditorError(
                f"{raw} resolves (through a symlink) to {real}, outside the worktree "
                f"{self.root}; refused"
            )
        for p in (lexical, real):
            if _inside(p, self.root) and ".git" in p.relative_to(self.root).parts:
                raise EditorError(f"{raw} is inside .git, which is off limits")
        return real

    # -- commands -------------------------------------------------------------------

    def _view(self, inp: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        path = self.resolve(inp.get("path"))
        view_range = inp.get("view_range")
        if path.is_dir():
            if view_range is not None:
                raise EditorError("view_range is only allowed when viewing a file")
            return self._listing(path), {"path": str(path)}
        if not path.exists():
            raise EditorError(f"{self._display(path)} does not exist")
        text = self._read_text(path)
        lines = text.split("\n")
        if text.endswith("\n"):
            lines = lines[:-1]
        start, end = 1, len(lines)
        if view_range is not None:
            start, end = self._check_range(view_range, len(lines))
        numbered = "\n".join(f"{i:6}\t{lines[i - 1]}" for i in range(start, end + 1))
        header = f"Here's the content of {self._display(path)} with line numbers:\n"
        if not lines:
            return f"{self._display(path)} is empty.", {"path": str(path)}
        return header + numbered + "\n", {"path": str(path)}

    def _check_range(self, view_range: Any, n: int) -> tuple[int, int]:
        if (
            not isinstance(view_range, list | tuple)
            or len(view_range) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in view_range)
        ):
            raise EditorError("view_range must be a list of two integers [start, end]")
        start, end = view_range
        if end == -1:
            end = n
        if start < 1 or start > max(n, 1):
            raise EditorError(f"view_range start {start} is out of range; the file has {n} lines")
        if end < start or end > n:
            raise EditorError(
                f"view_range end {view_range[1]} is out of range; it must be between "
                f"{start} and {n} (or -1 for the end of the file)"
            )
        return start, end

    def _listing(self, folder: Path) -> str:
        entries: list[str] = []
        truncated = False
        for dirpath, dirnames, filenames in os.walk(folder):
            here = Path(dirpath)
            depth = len(here.relative_to(folder).parts)
            dirnames[:] = sorted(
                d for d in dirnames if not d.startswith(".") and d not in SKIP_DIRS
            )
            names = [(d, True) for d in dirnames] + [
                (f, False) for f in sorted(filenames) if not f.startswith(".")
            ]
            for name, is_dir in names:
                entries.append(str(here / name) + ("/" if is_dir else ""))
                if len(entries) >= LISTING_LIMIT:
                    truncated = True
                    break
            if truncated:
                break
            if depth >= 1:
                dirnames[:] = []
        entries.sort()
        head = (
            f"Here are the files and folders up to 2 levels deep in {folder}, "
            "excluding hidden items:\n"
        )
        body = "\n".join(entries) if entries else "(empty)"
        if truncated:
            body += f"\n[listing stopped after {LISTING_LIMIT} entries]"
        return head + body + "\n"

    def _create(self, inp: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        path = self.resolve(inp.get("path"))
        file_text = inp.get("file_text")
        if not isinstance(file_text, str):
            raise EditorError("create needs 'file_text' (a string)")
        if path == self.root or path.is_dir():
            raise EditorError(f"{self._display(path)} is a folder; create needs a file path")
        existed = path.exists()
        self._make_parents(path)
        self._write(path, file_text)
        verb = "overwritten" if existed else "created"
        return f"File {verb}: {self._display(path)}", {"path": str(path), "created": not existed}

    def _str_replace(self, inp: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        path = self.resolve(inp.get("path"))
        old = inp.get("old_str")
        new = inp.get("new_str", "")
        if not isinstance(old, str) or old == "":
            raise EditorError("str_replace needs 'old_str' (a non-empty string)")
        if new is None:
            new = ""
        if not isinstance(new, str):
            raise EditorError("'new_str' must be a string")
        self._require_file(path)
        text = self._read_text(path)
        count = text.count(old)
        if count == 0:
            raise EditorError(
                f"no match for old_str in {self._display(path)}; nothing was replaced. "
                "old_str must match the file exactly, including whitespace"
            )
        if count > 1:
            lines = _match_lines(text, old)
            raise EditorError(
                f"old_str occurs {count} times in {self._display(path)} (at lines "
                f"{', '.join(map(str, lines))}); nothing was replaced. Include more "
                "context so that it matches exactly once"
            )
        at = text.index(old)
        new_text = text[:at] + new + text[at + len(old) :]
        self._write(path, new_text)
        first = text[:at].count("\n") + 1
        last = first + new.count("\n")
        snippet = _snippet(new_text, first, last)
        return (
            f"The file {self._display(path)} has been edited. Here's a snippet of the "
            f"result:\n{snippet}\nReview the changes and make sure they are as expected.",
            {"path": str(path)},
        )

    def _insert(self, inp: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        path = self.resolve(inp.get("path"))
        line = inp.get("insert_line")
        new = inp.get("insert_text", inp.get("new_str"))
        if not isinstance(line, int) or isinstance(line, bool):
            raise EditorError("insert needs 'insert_line' (an integer; 0 inserts at the top)")
        if not isinstance(new, str):
            raise EditorError("insert needs 'insert_text' (a string)")
        self._require_file(path)
        text = self._read_text(path)
        lines = text.split("\n")
        trailing = text.endswith("\n")
        if trailing:
            lines = lines[:-1]
        if text == "":
            lines = []
        if line < 0 or line > len(lines):
            raise EditorError(
                f"insert_line {line} is out of range; it must be between 0 and {len(lines)}"
            )
        added = new.split("\n")
        if new.endswith("\n"):
            added = added[:-1]
        result = lines[:line] + added + lines[line:]
        new_text = "\n".join(result) + ("\n" if trailing or not lines else "")
        self._write(path, new_text)
        snippet = _snippet(new_text, line + 1, line + max(len(added), 1))
        return (
            f"The file {self._display(path)} has been edited. Here's a snippet of the "
            f"result:\n{snippet}\nReview the changes and make sure they are as expected.",
            {"path": str(path)},
        )

    # -- file access ----------------------------------------------------------------

    def _require_file(self, path: Path) -> None:
        if path.is_dir():
            raise EditorError(f"{self._display(path)} is a folder, not a file")
        if not path.exists():
            raise EditorError(f"{self._display(path)} does not exist; use create to make it")

    def _read_text(self, path: Path) -> str:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise EditorError(f"{self._display(path)} is not a regular file")
            if st.st_size > self.max_file_bytes:
                raise EditorError(
                    f"{self._display(path)} is too large ({st.st_size} bytes; the limit is "
                    f"{self.max_file_bytes}); use the bash tool (head, sed -n, grep) to "
                    "look at parts of it"
                )
            data = fh.read(self.max_file_bytes + 1)
        if b"\x00" in data[:8192]:
            raise EditorError(f"{self._display(path)} looks like a binary file; refused")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise EditorError(
                f"{self._display(path)} is not valid UTF-8 text (binary?); refused"
            ) from None

    def _make_parents(self, path: Path) -> None:
        parent = path.parent
        missing: list[Path] = []
        while not parent.exists():
            missing.append(parent)
            parent = parent.parent
        for folder in reversed(missing):
            if not _inside(Path(os.path.realpath(folder)), self.root):
                raise EditorError(f"{folder} is outside the worktree; refused")
            folder.mkdir()

    def _write(self, path: Path, text: str) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
        fd = os.open(path, flags, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _match_lines(text: str, needle: str) -> list[int]:
    lines, start = [], 0
    while True:
        at = text.find(needle, start)
        if at < 0:
            return lines
        lines.append(text[:at].count("\n") + 1)
        start = at + 1


def _snippet(text: str, first: int, last: int) -> str:
    lines = text.split("\n")
    if text.endswith("\n"):
        lines = lines[:-1]
    lo = max(1, first - SNIPPET_LINES)
    hi = min(len(lines), last + SNIPPET_LINES)
    return "\n".join(f"{i:6}\t{lines[i - 1]}" for i in range(lo, hi + 1))
