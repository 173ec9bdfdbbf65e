"""`andon doctor`: check the factory's home, database, tools and engine."""

from __future__ import annotations

import typer
from rich.table import Table
from rich.text import Text

from andon.tui.cli.app import JsonOpt, app, console, emit, home

MARK = {"ok": Text("ok", style="green"), "warn": Text("warn", style="yellow"),
        "fail": Text("FAIL", style="bold red")}


@app.command()
def doctor(
    fix: bool = typer.Option(False, "--fix",
                             help="Make the home private again (folders 0700, files 0600) "
                                  "and rename misspelt keys in andon.toml."),
    as_json: bool = JsonOpt,
) -> None:
    """Check the home (exists, private), andon.toml, the database (opens, migrated,
    integrity), git, bubblewrap, the API key (never shown) and the engine; say what to fix.
    Exits 1 when a check fails."""
    from andon.engine.factory.configfix import ConfigFix, fix_config
    from andon.engine.ops.doctor import fix_permissions, healthy, run_checks

    h = home()
    fixed = fix_permissions(h) if fix and h.root.exists() else []
    renamed = fix_config(h.config_path) if fix else ConfigFix()
    checks = run_checks(h)

    def render() -> None:
        for path in fixed:
            console.print(Text(f"fixed permissions of {path}"))
        for change in renamed.renamed:
            console.print(Text(f"renamed {change} in {h.config_path}"))
        if renamed.backup is not None:
            console.print(Text(f"{h.config_path} was rewritten without its comments; the "
                               f"old file is {renamed.backup}"))
        table = Table(box=None, header_style="bold", show_header=False)
        for _ in range(3):
            table.add_column()
        for check in checks:
            table.add_row(MARK.get(check.status, check.status), check.name,
                          Text(check.detail))
            if check.fix and check.status != "ok":
                table.add_row("", "", Text.assemble(("fix: ", "dim"), check.fix))
        console.print(table)

    emit({"healthy": healthy(checks), "fixed": [str(p) for p in fixed],
          "renamed": renamed.renamed,
          "backup": str(renamed.backup) if renamed.backup else None,
          "checks": [c.to_json() for c in checks]}, as_json, render)
    if not healthy(checks):
        raise typer.Exit(1)
