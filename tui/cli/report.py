"""`andon report [CATEGORY]`: which categories may run dark, in numbers."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.text import Text

from andon.engine.errors import UserError
from andon.engine.readiness.document import readiness_json
from andon.engine.readiness.load import category_readiness
from andon.engine.readiness.report import Readiness
from andon.policies.stored import stored_policies
from andon.tui.cli.app import JsonOpt, app, console, emit, err, open_db
from andon.tui.readiness_text import figure_lines, verdict_label


@app.command()
def report(
    category: str = typer.Argument(None, help="One category (default: every category)."),
    html: Path = typer.Option(None, "--html", help="Also write one self-contained HTML page "
                              "(charts inline, nothing fetched) to this file."),
    as_json: bool = JsonOpt,
) -> None:
    """Readiness per category: shadow agreement, false merges and reverts with their 95%
    bounds, escalations, cost and time per change, and whether it may run dark."""
    db = open_db()
    if category is not None and category not in stored_policies(db):
        known = ", ".join(stored_policies(db)) or "none"
        raise UserError(f"no policy for category '{category}' (known: {known})")
    reports = category_readiness(db, [category] if category else None)
    data = [readiness_json(r) for r in reports]
    if html is not None:
        from andon.tui.readiness_html import write_html

        write_html(html, reports)
        err.print(Text(f"report written to {html}"))
    emit(data if category is None else data[0], as_json, lambda: _render(reports))


def _render(reports: list[Readiness]) -> None:
    if not reports:
        console.print("no categories (run `andon init`)")
    for index, rep in enumerate(reports):
        if index:
            console.print()
        rec = rep.recommendation
        label = verdict_label(rep)
        title = Text(f"{rep.category}", style="bold")
        title.append(f"  level {rep.level}  ", style="")
        title.append(label, style="yellow" if label == "not yet" else "green")
        console.print(title)
        for line in figure_lines(rep):
            console.print(Text(f"  {line}"), soft_wrap=True)
        if rec is not None:
            console.print(Text(f"  {rec.sentence}", style="bold"), soft_wrap=True)
