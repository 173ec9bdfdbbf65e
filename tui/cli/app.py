"""The typer application and what every command shares: the home and JSON output."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from andon.engine.factory.home import Home
from andon.store.db import Database
from andon.tui.cli import placeholders

placeholders.install()
app = typer.Typer(
    name="andon",
    help="Andon: a terminal control room for an AI software factory.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # docstrings wrap at 100 columns: let the terminal reflow them
)
# Titles, reasons, categories, tool output and error messages are people's and models'
# text: never markup (`Fix the [/api] route` must print as written). Styled output is
# built with rich.text.Text instead.
console = Console(highlight=False, markup=False)
err = Console(stderr=True, highlight=False, markup=False)

JsonOpt = typer.Option(False, "--json", help="Print JSON for scripts.")


def plain(value: Any) -> str:
    """A stored value as a person reads it: no Python reprs (quotes, brackets, None)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value) or "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{k} {plain(v)}" for k, v in value.items()) or "(none)"
    return str(value)


def own_command() -> str:
    """How to type this andon again: `andon` when that name on PATH is this program,
    else its path (after `make demo`, `.venv/bin/andon` is not on PATH)."""
    me = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if me is None or me.name != "andon":  # `python -m andon.tui`
        return f"{sys.executable} -m andon.tui"
    found = shutil.which("andon")
    if found and Path(found).resolve() == me.resolve():
        return "andon"
    try:
        return str(me.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(me.resolve())


class State:
    home_arg: str | None = None
    no_mouse: bool = False


state = State()


def home() -> Home:
    return Home.locate(state.home_arg)


def open_db() -> Database:
    """The factory's database; an uninitialised home is created on first use."""
    h = home()
    return h.open() if h.exists() else h.init()


def emit(data: Any, as_json: bool, render: Callable[[], None]) -> None:
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
    else:
        render()
