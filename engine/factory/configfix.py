"""`andon doctor --fix` for andon.toml: rename misspelt keys, keeping the file's comments.

Only an unambiguous mistake is fixed: a key (or table) that is unknown and close to
exactly one allowed key not already given (`ConfigError.rename`). The file is edited as
text, line by line, so comments and layout stay; the edit is kept only when the edited
file parses to exactly the old data with that one key renamed. When the text edit cannot
be made (an unusual layout), the file is rewritten from its data: that loses its comments,
so the old file is kept beside it as `andon.toml.bak` and the result says so.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from andon.engine.factory.config import ConfigError, parse

MAX_FIXES = 20
_HEADER = re.compile(r"^\s*\[(?!\[)\s*([^\]]+?)\s*\]\s*(#.*)?$")
_ARRAY_HEADER = re.compile(r"^\s*\[\[")


@dataclass
class ConfigFix:
    renamed: list[str] = field(default_factory=list)  # "[engine] concurency -> concurrency"
    comments_lost: bool = False
    backup: Path | None = None
    left: ConfigError | None = None  # what still needs a person, if anything


def fix_config(path: Path) -> ConfigFix:
    """Rename every misspelt key of `path` that has one clear meaning; write it back."""
    result = ConfigFix()
    if not path.exists():
        return result
    original = text = path.read_text(encoding="utf-8")
    for _ in range(MAX_FIXES):
        try:
            parse(text, path)
            result.left = None
            break
        except ConfigError as exc:
            result.left = exc
            if exc.rename is None:
                break
            table, old, new = exc.rename
            edited = rename_key(text, table, old, new)
            if edited is None:
                edited = tomli_w.dumps(_renamed(tomllib.loads(text), table, old, new))
                result.comments_lost = True
            text = edited
            where = f"[{'.'.join(table)}] " if table else ""
            result.renamed.append(f"{where}{old} -> {new}")
    if text != original:
        if result.comments_lost:
            result.backup = path.with_name(path.name + ".bak")
            _write(result.backup, original)
        _write(path, text)
    return result


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _renamed(data: dict[str, Any], table: tuple[str, ...], old: str, new: str
             ) -> dict[str, Any]:
    """`data` with key `old` of `table` called `new` (same place in the order)."""
    if not table:
        return {new if k == old else k: v for k, v in data.items()}
    head, *rest = table
    return {k: _renamed(v, tuple(rest), old, new) if k == head else v
            for k, v in data.items()}


def _path(header: str) -> tuple[str, ...]:
    return tuple(part.strip().strip("\"'") for part in header.split("."))


def rename_key(text: str, table: tuple[str, ...], old: str, new: str) -> str | None:
    """`text` with one key renamed in place, or None when no safe text edit was found."""
    lines = text.splitlines(keepends=True)
    current: tuple[str, ...] | None = ()
    changed = False
    key = re.compile(rf"^(\s*)([\"']?){re.escape(old)}\2(?=\s*[=.])")
    for i, line in enumerate(lines):
        header = _HEADER.match(line)
        if _ARRAY_HEADER.match(line):
            current = None
            continue
        if header:
            current = _path(header.group(1))
            if not table and current and current[0] == old:  # [engin] or [engin.x]
                lines[i] = line.replace(old, new, 1)
                changed = True
            continue
        if current is None:
            continue
        if current == table and key.match(line):
            lines[i] = key.sub(lambda m: f"{m.group(1)}{m.group(2)}{new}{m.group(2)}", line,
                               count=1)
            changed = True
        elif table and current == table[:-1]:
            lines[i], hit = _inline(line, table[-1], old, new)
            changed = changed or hit
    if not changed:
        return None
    edited = "".join(lines)
    try:
        expected = _renamed(tomllib.loads(text), table, old, new)
        return edited if tomllib.loads(edited) == expected else None
    except tomllib.TOMLDecodeError:
        return None


def _inline(line: str, name: str, old: str, new: str) -> tuple[str, bool]:
    """`name = { ..., old = 1 }` -> `name = { ..., new = 1 }`."""
    if not re.match(rf"^\s*[\"']?{re.escape(name)}[\"']?\s*=\s*\{{", line):
        return line, False
    pattern = re.compile(rf"([{{,]\s*)([\"']?){re.escape(old)}\2(\s*=)")
    def swap(m: re.Match[str]) -> str:
        return (f"{m.group(1)}{m.group(2)}{new}{m.group(2)}{m.group(3)}")
    edited, count = pattern.subn(swap, line, count=1)
    return edited, count > 0
