"""Text from a person or a model is shown as written, never read as markup: a title
like "Fix the [/api] route" (which Rich refuses to parse) and "[bold]x[/]" (which it
would swallow) go through `andon submit`, `runs`, `show`, `gates`, `level`, the board,
the palette, the run screen, the gates inbox and the toasts, and come out literally."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.command import CommandPalette
from textual.widgets import Label
from textual.widgets._toast import Toast

from andon.engine.factory.home import Home
from andon.store import models as m
from andon.store.db import Database
from andon.tui.app import AndonApp
from andon.tui.screens.gates import GatesScreen
from andon.tui.screens.run import RunScreen
from andon.tui.widgets.checks_view import ChecksTable
from andon.tui.widgets.gate_detail import GateDetail
from andon.tui.widgets.gate_table import GateTable
from andon.tui.widgets.run_header import RunHeader
from andon.tui.widgets.runs_table import RunsTable
from andon.tui.widgets.transcript import TranscriptView
from tests.conftest import make_repo, write_spec
from tests.support.tui import highlighted_command, settle, wait_for

TITLE = "Fix the [/api] route"  # Rich raises MarkupError on this
BOLD = "[bold]x[/] stays"  # Rich would print "x stays"
WAIT = 60.0  # a generous deadline: the machine may be loaded


def andon(home: Home, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "andon.tui", "--home", str(home.root), *argv],
                          capture_output=True, text=True, timeout=120)


def submitted_spec(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "repo")
    return write_spec(tmp_path / "specs", "route", f"""
        title: "{TITLE}"
        category: bugfix
        repo: {repo}
        checks: ["python -m pytest -q"]
        """)


def test_the_command_line_prints_titles_and_names_as_written(tmp_path: Path,
                                                             home: Home) -> None:
    spec = submitted_spec(tmp_path)
    out = andon(home, "submit", str(spec))
    assert out.returncode == 0, out.stderr
    assert f"queued run 1: {TITLE} [bugfix]" in out.stdout
    for argv in (["runs"], ["show", "1"]):
        out = andon(home, *argv)
        assert out.returncode == 0, out.stderr
        assert "[/api]" in out.stdout
    runs = json.loads(andon(home, "runs", "--json").stdout)
    assert [r["title"] for r in runs] == [TITLE]  # queued once, not twice

    db = home.open()
    with db.write() as s:
        s.add(m.Gate(run_id=1, kind="review", stage="review", title=BOLD, detail={}))
    db.close()
    out = andon(home, "gates")
    assert out.returncode == 0, out.stderr
    out = andon(home, "gate", "1")
    assert out.returncode == 0, out.stderr
    assert f"gate 1 (review, run 1, pending): {BOLD}" in out.stdout

    out = andon(home, "level", "x[/b]", "3", "--reason", "r")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "x[/b]" in out.stderr
    assert out.stderr.startswith("error:")


def seed(db: Database) -> dict[str, int]:
    """A run titled with markup, waiting at a gate whose title, command, the model's text,
    a tool's output and a check's name all hold markup too."""
    with db.write() as s:
        spec = m.Spec(path="/specs/route.md", title=TITLE, category="bugfix", repo="x")
        s.add(spec)
        s.flush()
        run = m.Run(spec_id=spec.id or 0, title=TITLE, category="bugfix", level=2,
                    status=m.WAITING, stage="implement", reason=BOLD)
        s.add(run)
        s.flush()
        run_id = run.id or 0
        gate = m.Gate(run_id=run_id, kind="action", stage="implement", title=BOLD,
                      detail={"tool": "bash", "command": "echo '[/x]' [bold]y[/]"})
        s.add(gate)
        s.add(m.Event(run_id=run_id, kind="stage", stage="implement",
                      message="implement started"))
        s.add(m.Event(run_id=run_id, kind="model.text", stage="implement", message=BOLD,
                      data={"turn": 1}))
        s.add(m.Step(run_id=run_id, stage="implement", kind="tool", name="bash",
                     status="ok", input={"command": "cat [/x]"}, output=BOLD, exit_code=0))
        s.add(m.Step(run_id=run_id, stage="validate", kind="check", name="pytest [/x]",
                     status="ok", output=BOLD, exit_code=0))
        s.flush()
        return {"run": run_id, "gate": gate.id or 0}


def plain(renderable: Any) -> str:
    return renderable.plain if isinstance(renderable, Text) else str(renderable)


async def test_screens_tables_palette_and_toasts_show_markup_as_written(
        home: Home, db: Database) -> None:
    ids = seed(db)
    app = AndonApp(home, db)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        board = app.screen
        table = board.query_one(RunsTable)
        await wait_for(lambda: table.row_count == 1, WAIT)
        assert TITLE in [plain(c) for c in table.get_row_at(0)]

        await pilot.press("slash", *"[/a")  # the search text shows in the runs bar
        await wait_for(lambda: "[/a" in str(board.query_one("#runs-title", Label).content),
                       WAIT)
        await pilot.press("escape")

        await pilot.press("ctrl+p", *"Fix the")  # a run found by its title in the palette
        await wait_for(lambda: isinstance(app.screen, CommandPalette)
                       and (highlighted_command(app) or "").startswith("Open run"), WAIT)
        assert highlighted_command(app) == f"Open run #{ids['run']}: {TITLE}"
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, RunScreen) and app.screen.loads > 0,
                       WAIT)
        screen = app.screen
        assert TITLE in plain(screen.query_one(RunHeader).content)
        assert BOLD in str(screen.query_one("#gate-bar", Label).content)
        view = screen.query_one(TranscriptView)
        await wait_for(lambda: len(view.entries) >= 3, WAIT)
        shown = "\n".join(s.text for e in view.entries for s in view._lines(e, 100))
        assert BOLD in shown and "cat [/x]" in shown
        await pilot.press("3")
        checks = screen.query_one(ChecksTable)
        await wait_for(lambda: checks.row_count == 1, WAIT)
        assert "pytest [/x]" in [plain(c) for c in checks.get_row_at(0)]

        await pilot.press("g")
        await wait_for(lambda: isinstance(app.screen, GatesScreen)
                       and app.screen.query_one(GateTable).row_count == 1, WAIT)
        gates = app.screen
        assert BOLD in [plain(c) for c in gates.query_one(GateTable).get_row_at(0)]
        detail = gates.query_one(GateDetail).visible_text()
        assert BOLD in detail and "echo '[/x]' [bold]y[/]" in detail

        engine = home.open()  # the engine says something: it reaches a toast as written
        with engine.write() as s:
            s.add(m.Event(run_id=ids["run"], kind="run.failed", message=f"{TITLE} {BOLD}"))
        engine.close()
        await wait_for(lambda: any(f"{TITLE} {BOLD}" in str(t.render())
                                   for t in app.screen.query(Toast)), WAIT)
        await pilot.press("escape")
        assert app.is_running

