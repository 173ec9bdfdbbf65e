"""The typer application and what every command shares: the home and JSON output."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console

from andon.engine.factory.home import Home
from andon.store.db import Database

app = typer.Typer(
    name="andon",
    help="Andon: a terminal control room for an AI software factory.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # docstrings wrap at 100 columns: let the terminal reflow them
)
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)

JsonOpt = typer.Option(False, "--json", help="Print JSON for scripts.")


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
