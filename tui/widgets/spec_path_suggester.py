"""Path completion for the submit box: suggests the first file or folder that extends
what was typed (folders end in "/", so completion walks down a tree key by key)."""

from __future__ import annotations

import os
from pathlib import Path

from textual.suggester import Suggester

MAX_ENTRIES = 2000  # a huge folder is not listed past this


class PathSuggester(Suggester):
    """Completes filesystem paths relative to `base` (the folder Andon started in).

    Spec files (``*.md``) and folders are offered before other files; hidden entries
    only when the typed name starts with a dot.
    """

    def __init__(self, base: Path | None = None) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.base = base

    async def get_suggestion(self, value: str) -> str | None:
        return complete_path(value, self.base or Path.cwd())


def complete_path(value: str, base: Path) -> str | None:
    if not value:
        return None
    typed_dir, _, prefix = value.rpartition("/")
    folder_text = typed_dir + "/" if "/" in value else ""
    folder = Path(os.path.expanduser(folder_text or ".")) if folder_text != "/" else Path("/")
    if not folder.is_absolute():
        folder = base / folder
    try:
        entries = []
        with os.scandir(folder) as it:
            for i, entry in enumerate(it):
                if i >= MAX_ENTRIES:
                    break
                if entry.name.startswith(prefix):
                    entries.append(entry)
    except OSError:
        return None
    if not prefix.startswith("."):
        entries = [e for e in entries if not e.name.startswith(".")]

    def rank(entry: os.DirEntry[str]) -> tuple[int, str]:
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        return (0 if is_dir or entry.name.endswith(".md") else 1, entry.name)

    for entry in sorted(entries, key=rank):
        try:
            suffix = "/" if entry.is_dir() else ""
        except OSError:
            suffix = ""
        suggestion = folder_text + entry.name + suffix
        if suggestion != value:
            return suggestion
    return None
