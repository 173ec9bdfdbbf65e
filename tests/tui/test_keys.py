"""The control room at 80x24 as a keyboard person uses it: a long approve dialog keeps
its buttons and names its keys, number keys between a run's tabs leave the keys
working, j/k move in the gates list and a decision keeps the place, and the transcript
says what happened to a refused or waiting tool call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from textual.widgets import Button
from textual.widgets._footer import FooterKey

from andon.engine.factory.home import Home
from andon.store import models as m
from andon.store.db import Database
from andon.tui.app import AndonApp
from andon.tui.screens.gates import GatesScreen
from andon.tui.screens.help import HelpScreen
from andon.tui.screens.run import RunScreen
from andon.tui.widgets.gate_confirm import ApproveGateScreen
from andon.tui.widgets.gate_table import GateTable
from andon.tui.widgets.transcript import TranscriptView
from tests.support.tui import Seeded, frozen_app, settle, wait_for

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
WAIT = 60.0
LONG_DIFF = "--- a/notes.txt\n+++ b/notes.txt\n@@ -0,0 +1,80 @@\n" + "\n".join(
    f"+line {i}" for i in range(80))


def add_gates(db: Database, titles: list[str], kind: str = "review",
              detail: dict[str, Any] | None = None) -> list[int]:
    with db.write() as s:
        spec = m.Spec(path="/specs/a.md", title="A change", category="feature", repo="x")
        s.add(spec)
        s.flush()
        run = m.Run(spec_id=spec.id or 0, title="A change", category="feature", level=2,
                    status=m.WAITING, stage="review")
        s.add(run)
        s.flush()
        ids = []
        for i, title in enumerate(titles):
            gate = m.Gate(run_id=run.id or 0, kind=kind, stage="review", title=title,
                          detail=detail or {}, created_at=NOW - timedelta(minutes=10 - i))
            s.add(gate)
            s.flush()
            ids.append(gate.id or 0)
        return ids


def footer_keys(screen: Any) -> list[str]:
    return [key.key_display or key.key for key in screen.query(FooterKey)]


async def test_a_long_approve_dialog_at_80x24_keeps_its_buttons_and_keys(
        home: Home, db: Database) -> None:
    (gate,) = add_gates(db, ["edit notes.txt"], kind="action",
                        detail={"tool": "str_replace_based_edit_tool",
                                "input": {"command": "create", "path": "notes.txt"},
                                "preview": LONG_DIFF})
    app = AndonApp(home, db, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("g")
        await wait_for(lambda: isinstance(app.screen, GatesScreen)
                       and app.screen.query_one(GateTable).row_count == 1, WAIT)
        await pilot.press("a")
        await wait_for(lambda: isinstance(app.screen, ApproveGateScreen), WAIT)
        dialog = app.screen
        await pilot.pause()
        for button_id, label in (("#approve-yes", "Approve [y]"), ("#approve-no", "Cancel [n]")):
            button = dialog.query_one(button_id, Button)
            assert str(button.label) == label
            region = button.region
            assert region.height > 0 and region.bottom <= 23, region  # above the key bar
        assert {"y", "n", "PgDn", "?"} <= set(footer_keys(dialog))
        assert "x" not in footer_keys(dialog)  # the gates screen's keys are not offered

        box = dialog.query_one("#approve-box")
        await pilot.press("pagedown")
        await wait_for(lambda: box.scroll_y > 0, WAIT)
        focused = app.focused
        await pilot.press("tab")
        assert app.focused is not focused and app.focused in dialog.query("*")
        await pilot.press("question_mark")
        await wait_for(lambda: isinstance(app.screen, HelpScreen), WAIT)
        await pilot.press("escape")
        await wait_for(lambda: app.screen is dialog, WAIT)
        await pilot.press("y")
        await wait_for(lambda: isinstance(app.screen, GatesScreen), WAIT)
        await wait_for(lambda: _status(db, gate) == m.APPROVED, WAIT)


def _status(db: Database, gate_id: int) -> str:
    with db.read() as s:
        row = s.get(m.Gate, gate_id)
        assert row is not None
        return row.status


async def test_number_keys_between_tabs_leave_the_transcript_answering_keys(
        seeded: Seeded) -> None:
    app = frozen_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_run(seeded.runs["running"])
        await wait_for(lambda: isinstance(app.screen, RunScreen) and app.screen.loads > 0,
                       WAIT)
        view = app.screen.query_one(TranscriptView)
        await wait_for(lambda: len(view.entries) > 3, WAIT)
        await pilot.press("2", "1")
        await wait_for(lambda: app.focused is view, WAIT)
        last = view.cursor
        await pilot.press("k")
        assert view.cursor == last - 1
        await pilot.press("home")
        assert view.cursor == 0
        await pilot.press("3")
        await wait_for(lambda: app.focused is app.screen.query_one("#checks-table"), WAIT)


async def test_j_and_k_move_in_the_gates_list_and_a_decision_keeps_the_place(
        home: Home, db: Database) -> None:
    first, second, third = add_gates(db, ["first", "second", "third"])
    app = AndonApp(home, db, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("g")
        await wait_for(lambda: isinstance(app.screen, GatesScreen)
                       and app.screen.query_one(GateTable).row_count == 3, WAIT)
        screen = app.screen
        table = screen.query_one(GateTable)
        await pilot.press("j")
        assert table.selected_gate_id() == second
        await pilot.press("a")  # a review gate: approved at once
        await wait_for(lambda: table.row_count == 2, WAIT)
        assert table.selected_gate_id() == third  # the next gate, not the first row
        await pilot.press("k")
        assert table.selected_gate_id() == first


async def test_a_refused_call_reads_refused_and_a_held_call_waits_for_you(
        seeded: Seeded) -> None:
    run_id = seeded.runs["running"]
    with seeded.db.write() as s:
        s.add(m.Step(run_id=run_id, stage="implement", kind="tool", name="bash",
                     status="refused", input={"command": "rm -rf build"},
                     output="Not run: a person (ana) did not approve this call (rejected): no",
                     started_at=datetime(2026, 11, 25, 14, 59, 45, tzinfo=UTC)))
        run = s.get(m.Run, run_id)
        assert run is not None
        run.status = m.WAITING  # its running call waits at an action gate
        s.add(run)
    app = frozen_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_run(run_id)
        await wait_for(lambda: isinstance(app.screen, RunScreen) and app.screen.loads > 0,
                       WAIT)
        view = app.screen.query_one(TranscriptView)

        def header(command: str) -> str:
            entry = next(e for e in view.entries if command in e.title)
            return view._lines(entry, 80)[0].text.rstrip()

        await wait_for(lambda: any("rm -rf" in e.title for e in view.entries), WAIT)
        assert header("rm -rf build").endswith("refused")
        assert header("tests/test_slug.py").endswith("waiting for you")
