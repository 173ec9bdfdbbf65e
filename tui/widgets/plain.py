"""Text from a person or a model is shown as written, never read as markup.

Textual reads a plain ``str`` as markup in table cells, palette entries, select options
and labels, so ``Fix the [/api] route`` would raise and ``[bold]x[/]`` would lose its
brackets. Everything that shows such text goes through these helpers (or a widget made
with ``markup=False``).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.content import Content


def plain(value: Any) -> Any:
    """A table cell or option prompt: a ``str`` becomes literal Text; others pass."""
    return Text(value) if isinstance(value, str) else value


def plain_cells(cells: tuple[Any, ...] | list[Any]) -> tuple[Any, ...]:
    return tuple(plain(cell) for cell in cells)


def literal(text: str) -> Content:
    """Literal Content (a palette entry's name or help)."""
    return Content(text)
