"""`andon demo`: build a demo factory and open the control room on it."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from engine import demo as demo_factory
from engine.errors import UserError
from engine.home import Home
from store import queries as q
from tui.cli.app import JsonOpt, app, console, emit


@app.command()
def demo(
    home_dir: str = typer.Option(
        None, "--home", metavar="DIR",
        help="Build the demo factory in this new folder (default: a new temporary folder). "
             "A folder that already holds a demo factory is reopened as it is."),
    model: str = typer.Option(
        "scripted", "--model",
        help="scripted: a scripted model, no API key. anthropic: the real API "
             "(needs ANTHROPIC_API_KEY)."),
    headless: float = typer.Option(
        None, "--headless", metavar="SECONDS",
        help="No control room: run the engine for SECONDS, print the runs and exit "
             "(0: only build the factory)."),
    time_scale: float = typer.Option(
        1.0, "--time-scale", min=0.001,
        help="Multiply the scripted model's delays (tests use 0.05 to run the first "
             "minute in seconds)."),
    as_json: bool = JsonOpt,
) -> None:
    """A demo factory: sample repository, four policies, six specs, one control room."""
    demo_factory.check_model(model)
    root = Path(home_dir).expanduser().resolve() if home_dir else None
    if root is not None and demo_factory.is_demo_home(root):
        home, built = Home(root), None
        if not as_json:
            console.print(f"reopening the demo factory in {root}")
    else:
        built = demo_factory.build_demo(root or demo_factory.default_root(), model=model,
                                        time_scale=time_scale)
        home = built.home
        if not as_json:
            _tell(built)
    if headless is None:
        _control_room(home)
        return
    if headless > 0:
        loop = demo_factory.DemoLoop(home).start()
        try:
            time.sleep(headless)
        finally:
            loop.stop()
    _summary(home, built, as_json)


def _tell(built: demo_factory.DemoFactory) -> None:
    console.print(f"[bold]demo factory[/] built in {built.home.root} "
                  f"(model: {built.model})", markup=True)
    console.print(f"  sample repository {built.repo}, specs in {built.home.root / 'specs'}")
    for name, what in demo_factory.SPECS.items():
        console.print(f"  {name:16} {what}")
    for note in built.notes:
        console.print(f"[yellow]note:[/] {note}", markup=True)
    console.print(f"reopen it later with: andon --home {built.home.root}")


def _control_room(home: Home) -> None:
    from tui.app import AndonApp

    db = home.open()
    loop = demo_factory.DemoLoop(home).start()
    try:
        AndonApp(home, db).run()
    finally:
        loop.stop()
        db.close()


def _summary(home: Home, built: demo_factory.DemoFactory | None, as_json: bool) -> None:
    if not home.exists():
        raise UserError(f"no factory at {home.root}")
    db = home.open()
    try:
        runs = list(reversed(q.list_runs(db, limit=200)))
    finally:
        db.close()
    data = {
        "home": str(home.root),
        "repo": str(built.repo) if built else str(home.root / demo_factory.REPO_KEY),
        "model": built.model if built else None,
        "specs": {k: str(v) for k, v in built.specs.items()} if built else {},
        "runs": [{"id": r.id, "title": r.title, "category": r.category, "level": r.level,
                  "status": r.status, "stage": r.stage, "attempt": r.attempt,
                  "reason": r.reason, "model": r.model} for r in runs],
    }

    def render() -> None:
        table = Table(box=None, header_style="bold")
        for name in ("run", "status", "stage", "category", "lvl", "title", "reason"):
            table.add_column(name)
        for r in runs:
            table.add_row(str(r.id), r.status, r.stage or "", r.category, str(r.level),
                          r.title, (r.reason or "")[:60])
        console.print(table if runs else "no runs yet")

    emit(data, as_json, render)
