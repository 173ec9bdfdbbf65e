"""Anthropic's text editor client tool (`text_editor_20250728`), confined to a worktree.

Commands: view (a file, optionally a line range; or a folder, two levels deep), create,
str_replace (exactly one match), insert (after line N; 0 inserts at the top). Paths may
be relative to the worktree or absolute inside it. Anything that resolves outside the
worktree (`..`, other absolute paths, symlinks out, including through a symlinked
folder) and anything under `.git` is refused. Binary and very large files are refused
with a message that says so. Bad input gives an error outcome, never an exception.

The editor runs in the engine, outside the sandbox, while the agent's own processes may
change the worktree at the same moment: every file is reached through
`workspace.confine` (descriptors, one component at a time, no symlink followed by the
kernel), never by name after a check, so no race leads a read or a write outside.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from andon.engine.agent.tools.base import ToolOutcome
from andon.engine.textcap import cap
from andon.engine.workspace.confine import Confined, Refused

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
        self.files = Confined(root)
        self.root = self.files.root
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
        except (EditorError, Refused) as exc:
            return ToolOutcome(text=f"Error: {exc}", is_error=True, full=f"Error: {exc}",
                               meta={"refused": True} if isinstance(exc, Refused) else {})
        except OSError as exc:
            msg = f"Error: {exc.strerror or exc}"
            return ToolOutcome(text=msg, is_error=True, full=msg)
        limit = OUTPUT_LIMIT
        if self.max_characters is not None:
            limit = min(limit, self.max_characters)
        return ToolOutcome(text=cap(text, limit=limit), full=cap(text, FULL_LIMIT), meta=meta)

    # -- paths ----------------------------------------------------------------------

    def _display(self, parts: tuple[str, ...] | str) -> str:
        rel = parts if isinstance(parts, str) else "/".join(parts)
        return str(self.root / rel) if rel and rel != "." else str(self.root)

    def _path(self, inp: dict[str, Any]) -> str:
        """The input's path, checked to name something inside the worktree (Refused:
        outside it, or in .git)."""
        raw = inp.get("path")
        if not isinstance(raw, str) or not raw.strip():
            raise EditorError("'path' must be a non-empty string")
        self.files.parts(raw)
        return raw

    def peek(self, raw: Any) -> tuple[str, str | None]:
        """(the path relative to the worktree, its text or None when it does not
        exist), read the same confined way the tool reads; for previews at a gate."""
        try:
            raw = self._path({"path": raw})
            rel, kind = self._kind(raw)
            if kind == "dir":
                raise EditorError(f"{self._display(rel)} is a folder")
            return rel, (self._read_text(raw) if kind else None)
        except Refused as exc:
            raise EditorError(str(exc)) from None

    # -- commands -------------------------------------------------------------------

    def _kind(self, raw: str) -> tuple[str, str | None]:
        """(where `raw` really is, relative; "dir", "file", "other" or None if missing)."""
        try:
            with self.files.place(raw) as at:
                st = at.lstat()
                rel = at.rel
        except (FileNotFoundError, NotADirectoryError):
            return "/".join(self.files.parts(raw)), None
        if st is None:
            return rel, None
        if stat.S_ISDIR(st.st_mode):
            return rel, "dir"
        return rel, "file" if stat.S_ISREG(st.st_mode) else "other"

    def _view(self, inp: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        raw = self._path(inp)
        view_range = inp.get("view_range")
        rel, kind = self._kind(raw)
        shown = self._display(rel)
        if kind == "dir":
            if view_range is not None:
                raise EditorError("view_range is only allowed when viewing a file")
            return self._listing(raw), {"path": shown}
        if kind is None:
            raise EditorError(f"{shown} does not exist")
        text = self._read_text(raw)
        lines = text.split("\n")
        if text.endswith("\n"):
            lines = lines[:-1]
        start, end = 1, len(lines)
        if view_range is not None:
            start, end = self._check_range(view_range, len(lines))
        numbered = "\n".join(f"{i:6}\t{lines[i - 1]}" for i in range(start, end + 1))
        header = f"Here's the content of {shown} with line numbers:\n"
        if not lines:
            return f"{shown} is empty.", {"path": shown}
        return header + numbered + "\n", {"path": shown}

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

    def _listing(self, raw: str) -> str:
        entries: list[str] = []
        truncated = False
        folder = ""
        for parts, is_dir in self.files.entries(raw, 2, _hidden_entry):
            entries.append(self._display(parts) + ("/" if is_dir else ""))
            if len(entries) >= LISTING_LIMIT:
                truncated = True
                break
        with self.files.place(raw) as at:
            folder = self._display(at.rel)
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
        raw = self._path(inp)
        if not self.files.parts(raw):
            raise EditorError(f"{self.root} is a folder; create needs a file path")
        file_text = inp.get("file_text")
        if not isinstance(file_text, str):
            raise EditorError("create needs 'file_text' (a string)")
        rel, kind = self._kind(raw)
        if kind == "dir":
            raise EditorError(f"{self._display(rel)} is a folder; create needs a file path")
        try:
            created, at = self.files.write_bytes(raw, file_text.encode("utf-8"))
        except IsADirectoryError:
            raise EditorError(f"{self._display(rel)} is a folder; create needs a file "
                              "path") from None
        shown = self._display(at.rel)
        verb = "created" if created else "overwritten"
        return f"File {verb}: {shown}", {"path": shown, "created": created}

    def _str_replace(self, inp: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        raw = self._path(inp)
        old = inp.get("old_str")
        new = inp.get("new_str", "")
        if not isinstance(old, str) or old == "":
            raise EditorError("str_replace needs 'old_str' (a non-empty string)")
        if new is None:
            new = ""
        if not isinstance(new, str):
            raise EditorError("'new_str' must be a string")
        shown = self._require_file(raw)
        text = self._read_text(raw)
        count = text.count(old)
        if count == 0:
            raise EditorError(
                f"no match for old_str in {shown}; nothing was replaced. "
                "old_str must match the file exactly, including whitespace"
            )
        if count > 1:
            lines = _match_lines(text, old)
            raise EditorError(
                f"old_str occurs {count} times in {shown} (at lines "
                f"{', '.join(map(str, lines))}); nothing was replaced. Include more "
                "context so that it matches exactly once"
            )
        at = text.index(old)
        new_text = text[:at] + new + text[at + len(old) :]
        shown = self._write(raw, new_text)
        first = text[:at].count("\n") + 1
        last = first + new.count("\n")
        snippet = _snippet(new_text, first, last)
        return (
            f"The file {shown} has been edited. Here's a snippet of the "
            f"result:\n{snippet}\nReview the changes and make sure they are as expected.",
            {"path": shown},
        )

    def _insert(self, inp: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        raw = self._path(inp)
        line = inp.get("insert_line")
        new = inp.get("insert_text", inp.get("new_str"))
        if not isinstance(line, int) or isinstance(line, bool):
            raise EditorError("insert needs 'insert_line' (an integer; 0 inserts at the top)")
        if not isinstance(new, str):
            raise EditorError("insert needs 'insert_text' (a string)")
        self._require_file(raw)
        text = self._read_text(raw)
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
        shown = self._write(raw, new_text)
        snippet = _snippet(new_text, line + 1, line + max(len(added), 1))
        return (
            f"The file {shown} has been edited. Here's a snippet of the "
            f"result:\n{snippet}\nReview the changes and make sure they are as expected.",
            {"path": shown},
        )

    # -- file access (always through self.files: descriptors, never names) -----------

    def _require_file(self, raw: str) -> str:
        rel, kind = self._kind(raw)
        if kind == "dir":
            raise EditorError(f"{self._display(rel)} is a folder, not a file")
        if kind is None:
            raise EditorError(f"{self._display(rel)} does not exist; use create to make it")
        return self._display(rel)

    def _read_text(self, raw: str) -> str:
        data, st, at = self.files.read_bytes(raw, self.max_file_bytes)
        shown = self._display(at.rel)
        if st.st_size > self.max_file_bytes:
            raise EditorError(
                f"{shown} is too large ({st.st_size} bytes; the limit is "
                f"{self.max_file_bytes}); use the bash tool (head, sed -n, grep) to "
                "look at parts of it"
            )
        if b"\x00" in data[:8192]:
            raise EditorError(f"{shown} looks like a binary file; refused")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise EditorError(f"{shown} is not valid UTF-8 text (binary?); refused") from None

    def _write(self, raw: str, text: str) -> str:
        """Replace an existing file's content; where it was written, for the record."""
        _, at = self.files.write_bytes(raw, text.encode("utf-8"), create=False)
        return self._display(at.rel)


def _hidden_entry(name: str) -> bool:
    return name.startswith(".") or name in SKIP_DIRS


def _match_lines(text: str, needle: str) -> list[int]:
    lines: list[int] = []
    start = 0
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
