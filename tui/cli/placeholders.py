"""What `--help` shows beside an option: the value's name, as people read help.

typer's rich help prints the value's Python type beside every parameter: `<bool>` beside
each flag (which takes no value), `<str>` where a word like CATEGORY says what to type,
and `<int>` beside an argument whose name already shows. Here a flag shows nothing, an
argument its name only, an option its metavar or its own name in capitals (click's
convention), and a choice its choices.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperOption

_typer_display = TyperOption.display_type_rich


def _option_placeholder(self: TyperOption, ctx: Any) -> str | None:
    if self.is_flag or self.count:
        return None
    if self.metavar is not None:
        return self.metavar
    if self.type_descriptor.is_choice:
        shown = _typer_display(self, ctx)
        return shown.strip("<>") if shown else None
    return (self.name or "value").upper()


def _argument_placeholder(self: Any, ctx: Any) -> str | None:
    return None  # the argument's name is the placeholder, shown already


def install() -> None:
    """Once, when the CLI is built (tui.cli.app)."""
    # Replacing a method on typer's classes is the point here (typer has no hook for it).
    TyperOption.display_type_rich = _option_placeholder  # type: ignore[method-assign]
    TyperArgument.display_type_rich = _argument_placeholder  # type: ignore[method-assign]
