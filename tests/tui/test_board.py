"""The board: what a person sees at a glance, live as the store changes, by keyboard."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from andon.engine.factory.home import Home
from andon.engine.service.cord import cord_pulled
from andon.store import models as m
from andon.store.db import Database
from andon.tui.app import AndonApp
from andon.tui.screens.board import BoardScreen
from andon.tui.screens.help import HelpScreen
from andon.tui.screens.run import RunScreen
from andon.tui.widgets.board_header import BoardHeader
from andon.tui.widgets.lines_table import LinesTable
from andon.tui.widgets.runs_table import RunsTable
from tests.conftest import write_spec
from tests.support.tui import (
    FROZEN_NOW,
    Seeded,
    frozen_app,
    highlighted_command,
    settle,
    wait_for,
)


def cells(table: RunsTable | LinesTable, key: str) -> dict[str, str]:
    row = table.get_row(key)
    names = [table.COLUMNS[i].key for i in table.shown_columns]
    return {name: str(getattr(cell, "plain", cell)) for name, cell in zip(names, row,
                                                                          strict=True)}


def row_keys(table: RunsTable | LinesTable) -> list[str]:
    return [str(row.key.value) for row in table.ordered_rows]


def header(app: AndonApp) -> str:
    data = app.screen.query_one(BoardHeader).data
    assert data is not None
    return BoardHeader.render_text(data, wide=True).plain




async def test_a_run_submitted_by_another_process_shows_by_itself(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    spec = write_spec(tmp_path, "docs",
                      f"title: Fix the docs\ncategory: docs\nrepo: {sample_repo}\n")
    app = AndonApp(home, db)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(RunsTable)
        assert table.row_count == 0
        assert "No runs yet" in str(app.screen.query_one("#empty").render())
        subprocess.run([sys.executable, "-m", "andon.tui", "--home", str(home.root), "submit",
                        str(spec)], check=True, capture_output=True)
        # No key pressed: the board notices the other process's commit by itself (how fast
        # is bench/board.py's business; a loaded machine must not fail this).
        await wait_for(lambda: table.row_count == 1)
        assert cells(table, "1")["status"] == "queued"
        assert cells(table, "1")["title"] == "Fix the docs"

        # A change made elsewhere updates the row in place: a few cells, not a rebuild.
        with db.write() as s:
            run = s.get(m.Run, 1)
            assert run is not None
            run.status, run.stage, run.started_at = m.RUNNING, "implement", FROZEN_NOW
        await wait_for(lambda: cells(table, "1")["status"] == "running")
        assert cells(table, "1")["stages"] == "●●▶···"
        assert 0 < table.updates <= 4  # status, stages, time, cost (now it started)
        lines = app.screen.query_one(LinesTable)
        assert cells(lines, "docs")["run"] == "1"


async def test_the_header_says_mode_cord_needs_you_and_today(seeded: Seeded) -> None:
    app = frozen_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        text = header(app)
        assert "off" in text  # no daemon and no embedded engine in tests
        assert "cord released" in text
        assert "⚑ 1 needs you" in text
        # 7 runs created today, 2 merged, one of them untouched: dark 50%.
        assert "today 7 runs · 2 merged · dark 50%" in text
        # Real money apart from the scripted model's simulated money; an unknown price
        # is never counted as free.
        assert "spend $0.52 ~$0.09+?" in text

        # Nothing waiting any more: the eye is no longer drawn.
        with seeded.db.write() as s:
            gate = s.get(m.Gate, seeded.gates["review"])
            assert gate is not None
            gate.status = m.APPROVED
        await wait_for(lambda: "nothing needs you" in header(app))


async def test_lines_show_level_counts_success_and_spend(seeded: Seeded) -> None:
    app = frozen_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        lines = app.screen.query_one(LinesTable)
        assert row_keys(lines) == ["bugfix", "deps", "docs", "feature", "migration"]
        docs, deps = cells(lines, "docs"), cells(lines, "deps")
        feature = cells(lines, "feature")
        assert docs["level"] == "2 ▮▮▮ 4"  # dark
        assert deps["level"] == "2 ▮▮▯ 4"
        assert feature["level"] == "2 ▮▯▯ 4"
        assert deps["wait"] == "1" and deps["run"] == "·"
        assert feature["run"] == "1" and feature["queue"] == "1"
        assert docs["ok"] == "100%" and feature["ok"] == "0%" and deps["ok"] == "–"
        assert docs["spend"] == "~$0.05+?"  # the simulated run and the unknown one
        assert cells(lines, "bugfix")["spend"] == "$0.23"


async def test_live_runs_show_stage_strip_time_turns_tokens_and_cost(seeded: Seeded) -> None:
    app = frozen_app(seeded)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        runs = app.screen.query_one(RunsTable)
        r = seeded.runs
        # Live runs first (newest first), then the latest finished ones.
        assert row_keys(runs) == [str(r[k]) for k in ("queued", "unknown", "running",
                                                      "waiting", "failed", "touched", "dark",
                                                      "old_failed")]
        running = cells(runs, str(r["running"]))
        assert running == {"run": str(r["running"]), "status": "running",
                           "stages": "●●▶···", "category": "feature",
                           "title": "Add a slugify helper", "time": "3m30s", "turns": "4",
                           "tokens": "12.3k", "cost": "~$0.04"}
        assert cells(runs, str(r["unknown"]))["cost"] == "unknown"
        assert cells(runs, str(r["waiting"]))["status"] == "⚑review"
        assert cells(runs, str(r["waiting"]))["stages"] == "●●●●⚑·"
        assert cells(runs, str(r["failed"]))["stages"] == "●●●✗··"
        assert cells(runs, str(r["queued"]))["cost"] == "·"


async def test_elapsed_time_ticks_without_reading_the_store(seeded: Seeded) -> None:
    now = [FROZEN_NOW]
    app = AndonApp(seeded.home, seeded.db, clock=lambda: now[0])
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        runs = app.screen.query_one(RunsTable)
        key = str(seeded.runs["running"])
        loads = app.screen.loads
        now[0] = FROZEN_NOW + timedelta(seconds=30)
        await wait_for(lambda: cells(runs, key)["time"] == "4m00s")
        assert app.screen.loads == loads


async def test_filters_and_search_by_key(seeded: Seeded) -> None:
    app = frozen_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        runs = app.screen.query_one(RunsTable)
        r = seeded.runs
        await pilot.press("f")  # live
        await settle(pilot)
        assert sorted(row_keys(runs)) == sorted(str(r[k]) for k in (
            "queued", "unknown", "running", "waiting"))
        await pilot.press("f", "f")  # waiting, then failed
        await settle(pilot)
        assert app.screen.filter == "failed"
        assert row_keys(runs) == [str(r["failed"]), str(r["old_failed"])]

        await pilot.press("escape")  # back to recent
        await pilot.press("slash")
        await pilot.press(*"slug")
        await pilot.press("enter")
        await settle(pilot)
        assert row_keys(runs) == [str(r["running"])]
        assert runs.has_focus
        await pilot.press("escape")
        await settle(pilot)
        assert len(row_keys(runs)) == 8

        # Enter on a production line shows that line's runs.
        app.screen.query_one(LinesTable).focus()
        await pilot.press("down", "down", "down", "enter")  # feature
        await settle(pilot)
        assert row_keys(runs) == [str(r["queued"]), str(r["running"]), str(r["old_failed"])]


async def test_enter_opens_the_run_and_escape_comes_back(seeded: Seeded) -> None:
    app = frozen_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("down", "down", "enter")  # the running run
        await settle(pilot)
        assert isinstance(app.screen, RunScreen)
        assert app.screen.run_id == seeded.runs["running"]
        await pilot.press("escape")
        assert isinstance(app.screen, BoardScreen)


async def test_the_cord_is_pulled_at_once_and_its_reason_may_follow(seeded: Seeded) -> None:
    app = frozen_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("C")
        await pilot.press("escape")  # changed their mind: nothing happens
        await settle(pilot)
        assert not cord_pulled(seeded.db)
        await pilot.press("C")
        await pilot.press("enter")  # in a hurry: stop now, say why later
        await wait_for(lambda: cord_pulled(seeded.db))
        await wait_for(lambda: "CORD PULLED" in header(app))
        await pilot.press("C")  # pulled: C releases
        await wait_for(lambda: not cord_pulled(seeded.db))
        await pilot.press("C")
        await pilot.press(*"leak", "enter")
        await wait_for(lambda: cord_pulled(seeded.db))
        await wait_for(lambda: "CORD PULLED" in header(app))
        assert "leak" in header(app)
        assert app.screen.query_one(BoardHeader).has_class("-cord-pulled")
        await pilot.press("C")
        await wait_for(lambda: not cord_pulled(seeded.db))
        await wait_for(lambda: "cord released" in header(app))


async def test_help_lists_the_keys_of_the_screen(seeded: Seeded) -> None:
    app = frozen_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = {key: text for key, text, _enabled in app.screen.rows}
        for key, words in [("/", "Search"), ("f", "Filter"), ("enter", "Open"),
                           ("C", "Cord"), ("q", "Quit"), ("ctrl+p", "palette"),
                           ("g", "Gates")]:
            assert words in keys[key], (key, keys)
        await pilot.press("escape")
        assert isinstance(app.screen, BoardScreen)


async def test_the_palette_runs_board_actions_and_opens_runs(seeded: Seeded) -> None:
    app = frozen_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"failed")
        await wait_for(lambda: "failed" in (highlighted_command(app) or "").lower())
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.filter == "failed"

        await pilot.press("ctrl+p")
        await pilot.press(*f"#{seeded.runs['waiting']}")
        await wait_for(lambda: f"{seeded.runs['waiting']}" in (highlighted_command(app) or ""))
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RunScreen)
        assert app.screen.run_id == seeded.runs["waiting"]


async def test_all_runs_come_in_pages(home: Home, db: Database) -> None:
    with db.write() as s:
        spec = m.Spec(path="/s.md", title="Many", category="docs", repo="x")
        s.add(spec)
        s.flush()
        s.add_all([m.Run(spec_id=spec.id or 0, title=f"run {i}", category="docs",
                         status=m.MERGED) for i in range(450)])
    app = AndonApp(home, db)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        runs = app.screen.query_one(RunsTable)
        app.screen.set_filter("all")
        await settle(pilot)
        assert runs.row_count == 200
        assert app.screen.data.more
        await pilot.press("end")
        await settle(pilot)
        assert runs.row_count == 400
        await pilot.press("end")
        await settle(pilot)
        assert runs.row_count == 450 and not app.screen.data.more


async def test_80x24_shows_the_essentials_and_160_more(seeded: Seeded) -> None:
    app = frozen_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        runs = app.screen.query_one(RunsTable)
        shown = [runs.COLUMNS[i].key for i in runs.shown_columns]
        assert "category" not in shown and "cost" in shown and "stages" in shown
        await pilot.resize_terminal(160, 50)
        await settle(pilot)
        shown = [runs.COLUMNS[i].key for i in runs.shown_columns]
        assert "category" in shown
        assert runs.row_count == 8


async def test_typing_ahead_lands_in_the_search(seeded: Seeded) -> None:
    """Over SSH keys arrive in bursts: "/slug" then Enter, all at once."""
    from textual import events

    app = frozen_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for key, char in [("slash", "/"), ("s", "s"), ("l", "l"), ("u", "u"), ("g", "g"),
                          ("enter", "\r")]:
            app.post_message(events.Key(key, char))
        await settle(pilot)
        assert isinstance(app.screen, BoardScreen)  # "s" did not open the specs screen
        assert app.screen.search == "slug"
        assert row_keys(app.screen.query_one(RunsTable)) == [str(seeded.runs["running"])]


async def test_a_gate_opening_or_a_run_failing_elsewhere_toasts_and_rings(
        seeded: Seeded) -> None:
    app = frozen_app(seeded)
    rings: list[int] = []
    app.bell = lambda: rings.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert rings == []  # what happened before the app opened is history, not news
        db = Database(seeded.home.db_path)
        run_id = seeded.runs["waiting"]
        with db.write() as s:
            s.add(m.Event(run_id=run_id, kind="gate.opened", message="gate 9 opened (review)"))
            s.add(m.Event(run_id=run_id, kind="model.text", message="thinking"))
            s.add(m.Event(run_id=run_id, kind="run.failed", message="checks failed: `pytest`"))
        await wait_for(lambda: len(app._notifications) >= 2)
        shown = {(n.title, n.message) for n in app._notifications}
        assert ("Needs you", f"run {run_id}: gate 9 opened (review)") in shown
        assert ("Run failed", f"run {run_id}: checks failed: `pytest`") in shown
        assert not any("thinking" in n.message for n in app._notifications)
        assert rings
        db.close()
