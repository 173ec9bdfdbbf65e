"""Diff and code colours taken from the app's theme, so a light theme reads as well as
a dark one: added and removed lines tinted with the theme's own success and error
colours over its background, code in Rich's light or dark ANSI syntax theme."""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from textual.app import App


@dataclass(frozen=True)
class DiffColours:
    added: Style  # the line's background
    removed: Style
    added_mark: Style  # the + and - in the first column
    removed_mark: Style
    hunk: Style
    syntax: str  # a Rich syntax theme


DARK = DiffColours(added=Style(bgcolor="#24452E"), removed=Style(bgcolor="#441E27"),
                   added_mark=Style(color="green", bold=True),
                   removed_mark=Style(color="red", bold=True),
                   hunk=Style(color="cyan", dim=True), syntax="ansi_dark")


def diff_colours(app: App[object]) -> DiffColours:
    """The colours of the app's current theme."""
    theme = app.current_theme
    variables = app.get_css_variables()
    return DiffColours(
        added=Style(bgcolor=variables["success-muted"]),
        removed=Style(bgcolor=variables["error-muted"]),
        added_mark=Style(color=variables["text-success"], bold=True),
        removed_mark=Style(color=variables["text-error"], bold=True),
        hunk=Style(color=variables["text-accent"], dim=True),
        syntax="ansi_dark" if theme.dark else "ansi_light")


def syntax_theme(app: App[object]) -> str:
    """Rich's syntax theme for code shown on the app's theme."""
    return "ansi_dark" if app.current_theme.dark else "ansi_light"
