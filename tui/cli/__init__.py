"""`andon`: the command line. With no command it opens the control room."""

from __future__ import annotations

import sys
from importlib import metadata

import typer
from rich.text import Text

from andon.engine.errors import UserError
from andon.policies.files import PolicyFileError
from andon.store.db import fault_message, storage_fault
from andon.tui.cli import (  # noqa: F401  (importing a command module registers its commands)
    demo,
    doctor,
    factory,
    gates,
    policies,
    replay,
    report,
    runs,
    scenarios,
    serve,
    specs,
)
from andon.tui.cli.app import app, err, state


def _print_version(value: bool) -> None:
    if value:
        print(f"andon {metadata.version('andon')}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    home: str = typer.Option(None, "--home", envvar="ANDON_HOME",
                             help="The factory's home folder (default: the user data folder)."),
    no_mouse: bool = typer.Option(False, "--no-mouse", help="Do not capture the mouse."),
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="Print the installed version and exit."),
) -> None:
    state.home_arg = home
    state.no_mouse = no_mouse
    if ctx.invoked_subcommand is None:
        from andon.tui.cli.app import home as current_home
        from andon.tui.cli.app import open_db

        db = open_db()
        from andon.tui.app import AndonApp

        # With no daemon for this home, the control room runs an engine itself.
        AndonApp(current_home(), db, start_engine=True).run(mouse=not no_mouse)


OWN_HOME = {"demo"}  # commands whose --home means something of their own


def hoist_home(argv: list[str]) -> list[str]:
    """`--home DIR` is the root's option, but people type it after the command too
    (`andon runs --home DIR`): move it to the front so both spellings work. `demo`
    has a `--home` of its own (where to build the demo) and is left alone."""
    if not argv or "--" in argv or argv[0] in OWN_HOME:
        return argv
    out, moved, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--home" and i + 1 < len(argv):
            moved += argv[i:i + 2]
            i += 2
            continue
        if arg.startswith("--home="):
            moved.append(arg)
        else:
            out.append(arg)
        i += 1
    return moved + out


def main() -> None:
    try:
        app(args=hoist_home(sys.argv[1:]))
    except (UserError, PolicyFileError) as exc:
        # The message names tables as `[engine]`: it is text, never markup.
        err.print(Text.assemble(("error:", "bold red"), f" {exc}"), soft_wrap=True)
        sys.exit(2)
    except Exception as exc:
        fault = storage_fault(exc)
        if fault is None:
            raise
        # A full disk (or a write lock never let go) is one line, not a traceback.
        from andon.tui.cli.app import home as current_home

        try:
            where = str(current_home().root)
        except Exception:
            where = state.home_arg or "the factory's home"
        err.print("error: " + fault_message(fault, where), markup=False, soft_wrap=True)
        sys.exit(1)
