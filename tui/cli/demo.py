"""`andon demo`: build a demo factory and open the control room on it."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table
from rich.text import Text

from andon.engine.errors import UserError
from andon.engine.factory.home import Home
from andon.engine.ops import demo as demo_factory
from andon.engine.service.lock import EngineRunning
from andon.store import models as m
from andon.store import queries as q
from andon.store.db import Database

if TYPE_CHECKING:
    from andon.engine.service.runner import Engine
from andon.tui.cli.app import JsonOpt, app, console, emit, own_command, state


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
        help="No control room: run the engine for SECONDS (or until Ctrl-C / SIGTERM), "
             "print the runs and exit. 0: only build the factory."),
    time_scale: float = typer.Option(
        1.0, "--time-scale", min=0.001,
        help="Shrink the scripted model's delays and the recurring schedule by this "
             "factor (tests use 0.05 to run the first minute in seconds)."),
    screenshot: str = typer.Option(
        None, "--screenshot", metavar="FILE.svg",
        help="With --headless: before stopping, save an SVG of the board (docs/board.svg)."),
    screenshot_size: str = typer.Option(
        "110x32", "--screenshot-size", metavar="COLSxROWS",
        help="The terminal the --screenshot board is drawn in, e.g. 80x24."),
    as_json: bool = JsonOpt,
) -> None:
    """A demo factory: sample repository, four policies, six specs, one control room."""
    # The demo is always a factory of its own, in its home's SQLite file: never a real
    # factory's database named in the environment.
    os.environ.pop("ANDON_DATABASE_URL", None)
    demo_factory.check_model(model)
    size = terminal_size(screenshot_size)
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
        _control_room(home, time_scale)
        console.print(f"the demo factory stays in {home.root}; its runs resume when you "
                      f"reopen it:\n  {reopen(home.root)}", soft_wrap=True, markup=False)
        return
    runs = (_run_headless(home, headless, time_scale, screenshot, size) if headless > 0
            else _runs(home))
    _summary(home, built, runs, as_json)


def terminal_size(text: str) -> tuple[int, int]:
    """"80x24" as (80, 24); a clear error naming the option and the value otherwise."""
    cols, sep, rows = text.lower().partition("x")
    if sep and cols.isdigit() and rows.isdigit() and int(cols) >= 20 and int(rows) >= 5:
        return int(cols), int(rows)
    raise UserError(f"--screenshot-size: {text!r} is not COLUMNSxROWS (at least 20x5), "
                    "e.g. 80x24")


def _tell(built: demo_factory.DemoFactory) -> None:
    console.print(Text.assemble(("demo factory", "bold"),
                                f" built in {built.home.root} (model: {built.model})"))
    console.print(f"  sample repository {built.repo}, specs in {built.home.root / 'specs'}")
    for name, what in demo_factory.SPECS.items():
        console.print(f"  {name:16} {what}")
    for note in built.notes:
        console.print(Text.assemble(("note: ", "yellow"), note))
    console.print(f"reopen it later with:\n  {reopen(built.home.root)}", soft_wrap=True,
                  markup=False)


def reopen(root: Path) -> str:
    return f"{own_command()} demo --home {root}"


def _control_room(home: Home, time_scale: float) -> None:
    """The control room with an engine in this process (unless a daemon runs the home):
    the TUI's own, or at a shrunk time scale the demo's (with its faster schedule)."""
    from andon.tui.app import AndonApp

    db = home.open()
    try:
        if time_scale == 1.0:
            AndonApp(home, db, start_engine=True).run(mouse=not state.no_mouse)
            return
        with _engine(home, db, time_scale) as engine:
            app = AndonApp(home, db)
            app.engine = engine  # the app shows it as its own and stops it on quit
            app.run(mouse=not state.no_mouse)
    finally:
        db.close()


@contextmanager
def _engine(home: Home, db: Database, time_scale: float) -> Iterator[Engine | None]:
    """The demo's engine in this process, unless one already runs for this home (a
    daemon: then the runs are its work)."""
    try:
        engine = demo_factory.start_engine(home, db, time_scale=time_scale)
    except EngineRunning as exc:
        console.print(f"{exc}: its runs are shown")
        yield None
        return
    try:
        yield engine
    finally:
        engine.stop(timeout=5)


def _run_headless(home: Home, seconds: float, time_scale: float,
                  screenshot: str | None = None,
                  size: tuple[int, int] = (110, 32)) -> list[m.Run]:
    """Run the engine for `seconds` (SIGTERM or Ctrl-C end it sooner); the runs as they
    stood before the engine stopped (stopping interrupts the runs still waiting)."""
    done = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: done.set())
                for sig in (signal.SIGTERM, signal.SIGINT)}
    db = home.open()
    try:
        with _engine(home, db, time_scale):
            done.wait(seconds)
            if screenshot:
                _screenshot(home, db, Path(screenshot), size)
            return _runs(home)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        db.close()


def _screenshot(home: Home, db: Database, path: Path, size: tuple[int, int] = (110, 32),
                ) -> None:
    """The board as an SVG, the way a person would see it in a terminal of `size`."""
    import asyncio

    from andon.tui.app import AndonApp

    async def shoot() -> str:
        app = AndonApp(home, db)
        async with app.run_test(size=size) as pilot:
            await pilot.pause(1.0)
            return app.export_screenshot(title="andon")

    path.write_text(asyncio.run(shoot()), encoding="utf-8")
    console.print(f"board saved to {path}")


def _runs(home: Home) -> list[m.Run]:
    db = home.open()
    try:
        runs = reversed(q.list_runs(db, limit=200))
        return [r for r in runs if not (r.data or {}).get("history")]  # today's runs only
    finally:
        db.close()


def _summary(home: Home, built: demo_factory.DemoFactory | None, runs: list[m.Run],
             as_json: bool) -> None:
    data = {
        "home": str(home.root),
        "repo": str(home.root / demo_factory.REPO_KEY),
        "model": built.model if built else home.config.engine.provider,
        "specs": {k: str(v) for k, v in built.specs.items()} if built else {},
        "notes": built.notes if built else [],
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
