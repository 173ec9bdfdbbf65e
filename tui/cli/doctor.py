"""`andon doctor`: check the factory's home, database, tools and engine."""

from __future__ import annotations

import typer
from rich.table import Table

from andon.tui.cli.app import JsonOpt, app, console, emit, home

MARK = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[bold red]FAIL[/]"}


@app.command()
def doctor(
    fix: bool = typer.Option(False, "--fix",
                             help="Make the home private again (folders 0700, files 0600)."),
    as_json: bool = JsonOpt,
) -> None:
    """Check the home (exists, private), andon.toml, the database (opens, migrated,
    integrity), git, bubblewrap, the API key (never shown) and the engine; say what to fix.
    Exits 1 when a check fails."""
    from andon.engine.ops.doctor import fix_permissions, healthy, run_checks

    h = home()
    fixed = fix_permissions(h) if fix and h.root.exists() else []
    checks = run_checks(h)

    def render() -> None:
        for path in fixed:
            console.print(f"fixed permissions of {path}")
        table = Table(box=None, header_style="bold", show_header=False)
        for _ in range(3):
            table.add_column()
        for check in checks:
            table.add_row(MARK.get(check.status, check.status), check.name, check.detail)
            if check.fix and check.status != "ok":
                table.add_row("", "", f"[dim]fix:[/] {check.fix}")
        console.print(table)

    emit({"healthy": healthy(checks), "fixed": [str(p) for p in fixed],
          "checks": [c.to_json() for c in checks]}, as_json, render)
    if not healthy(checks):
        raise typer.Exit(1)
