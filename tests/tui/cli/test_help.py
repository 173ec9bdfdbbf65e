"""Every command's --help at 80 columns names values the way people read help: a flag
shows no placeholder, an option the name of what to type, never a Python type."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import typer.main
from typer.testing import CliRunner

from andon.tui.cli import app

TYPE_PLACEHOLDER = re.compile(r"<(?:bool|str|int|float|path|list\[[a-z]+\]|[a-z]+ range)>")


def commands(command: Any, path: list[str]) -> Iterator[list[str]]:
    yield path
    for name, sub in (getattr(command, "commands", None) or {}).items():
        if not sub.hidden:
            yield from commands(sub, [*path, name])


def test_no_help_shows_a_python_type_and_flags_show_none() -> None:
    runner = CliRunner()
    seen = 0
    for path in commands(typer.main.get_command(app), []):
        shown = runner.invoke(app, [*path, "--help"], terminal_width=80).output
        assert "--help" in shown, (path, shown)
        assert not TYPE_PLACEHOLDER.findall(shown), (path, shown)
        seen += 1
    assert seen > 20  # every command, sub-commands included

    runs = runner.invoke(app, ["runs", "--help"], terminal_width=80).output
    assert re.search(r"--category\s+-c\s+CATEGORY\s", runs)
    assert re.search(r"--json\s+Print JSON", runs)  # a flag: nothing between
