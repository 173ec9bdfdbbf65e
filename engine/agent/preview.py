"""What a mutating tool call would do, shown to a person at an action gate.

For bash: the exact command (or "restart the shell"). For the text editor: the unified
diff the edit would make, computed without touching the file (when the edit cannot
apply, the preview says why; the tool will refuse it the same way when run).
"""

from __future__ import annotations

import difflib
from typing import Any

from andon.engine.agent.tools.editor import TOOL_NAME as EDITOR
from andon.engine.agent.tools.shell import TOOL_NAME as BASH


def preview(tool: Any, tool_input: dict[str, Any]) -> str:
    name = getattr(tool, "name", "")
    if name == BASH:
        command = tool_input.get("command")
        if isinstance(command, str):
            return command
        return "restart the shell" if tool_input.get("restart") is True else str(tool_input)
    if name == EDITOR:
        try:
            return _editor_diff(tool, tool_input)
        except Exception as exc:  # the preview must never break the loop
            return f"{tool_input.get('command')} {tool_input.get('path')}: {exc}"
    return f"{name} {tool_input}"


def _editor_diff(tool: Any, inp: dict[str, Any]) -> str:
    command = inp.get("command")
    raw = inp.get("path")
    # Read the way the tool reads (confined, never by name): refuses paths outside.
    rel, current = tool.peek(raw)
    exists = current is not None
    old = current or ""
    if command == "create":
        new = inp.get("file_text")
        if not isinstance(new, str):
            return f"create {rel}: no file_text given (the edit will fail)"
        return _diff(old, new, rel, created=not exists)
    if not exists:
        return f"{command} {rel}: the file does not exist (the edit will fail)"
    if command == "str_replace":
        needle, new = inp.get("old_str"), inp.get("new_str") or ""
        if not isinstance(needle, str) or not needle or not isinstance(new, str):
            return f"str_replace {rel}: bad old_str/new_str (the edit will fail)"
        count = old.count(needle)
        if count != 1:
            return (f"str_replace {rel}: old_str matches {count} times, not once "
                    "(the edit will fail)")
        return _diff(old, old.replace(needle, new, 1), rel)
    if command == "insert":
        line = inp.get("insert_line")
        text = inp.get("insert_text", inp.get("new_str"))
        lines = old.split("\n")
        trailing = old.endswith("\n")
        if trailing:
            lines = lines[:-1]
        if old == "":
            lines = []
        if (not isinstance(line, int) or isinstance(line, bool) or not isinstance(text, str)
                or not 0 <= line <= len(lines)):
            return f"insert {rel}: bad insert_line/insert_text (the edit will fail)"
        added = text.split("\n")
        if text.endswith("\n"):
            added = added[:-1]
        new_text = "\n".join(lines[:line] + added + lines[line:])
        return _diff(old, new_text + ("\n" if trailing or not lines else ""), rel)
    return f"{command} {rel}"


def _diff(old: str, new: str, rel: str, *, created: bool = False) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True),
        fromfile="/dev/null" if created else f"a/{rel}", tofile=f"b/{rel}")
    out = [line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
           for line in lines]
    return "".join(out) or f"(no change to {rel})\n"
