"""Specs and queue: submit a spec by path (with completion), a bad spec's error, requeue,
cancel, and the schedules list."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select
from textual.widgets import Input, Static

from andon.engine.factory.home import Home
from andon.store import models as m
from andon.store.db import Database
from andon.tui.app import AndonApp
from andon.tui.screens.specs import SpecsScreen
from andon.tui.widgets.spec_confirm import SpecConfirmScreen
from andon.tui.widgets.spec_path_suggester import complete_path
from andon.tui.widgets.spec_submit import SpecSubmitScreen
from andon.tui.widgets.spec_tables import QueueTable, ScheduleTable, SpecTable
from tests.conftest import name_repo, write_spec
from tests.tui.test_gates import control_room, notifications, wait_for

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def runs(db: Database) -> list[m.Run]:
    with db.read() as s:
        return list(s.exec(select(m.Run).order_by(m.Run.id)).all())


def cells(table: QueueTable | SpecTable | ScheduleTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def open_specs(app: AndonApp, pilot, base: Path,  # type: ignore[no-untyped-def]
                     monkeypatch: pytest.MonkeyPatch) -> SpecsScreen:
    monkeypatch.chdir(base)  # paths are typed relative to where andon started
    await pilot.press("s")
    await wait_for(lambda: isinstance(app.screen, SpecsScreen))
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    assert isinstance(app.screen, SpecsScreen)
    return app.screen


def good_spec(folder: Path, name: str = "slugify", schedule: str | None = None) -> Path:
    front = "title: Add slugify\ncategory: feature\nrepo: sample\n"
    if schedule:
        front += f"schedule: \"{schedule}\"\n"
    return write_spec(folder, name, front)


def test_path_completion_walks_down_folders_and_prefers_specs(tmp_path: Path) -> None:
    (tmp_path / "specs" / "nested").mkdir(parents=True)
    (tmp_path / "specs" / "add-slugify.md").write_text("x")
    (tmp_path / "specs" / "add-slugify.txt").write_text("x")
    (tmp_path / "specs" / ".hidden.md").write_text("x")
    assert complete_path("sp", tmp_path) == "specs/"
    assert complete_path("specs", tmp_path) == "specs/"
    assert complete_path("specs/a", tmp_path) == "specs/add-slugify.md"
    assert complete_path("specs/add-slugify.m", tmp_path) == "specs/add-slugify.md"
    assert complete_path("specs/n", tmp_path) == "specs/nested/"
    assert complete_path("specs/.h", tmp_path) == "specs/.hidden.md"
    assert complete_path(str(tmp_path / "specs" / "add-slugify.t"), Path("/")) == str(
        tmp_path / "specs" / "add-slugify.txt")
    assert complete_path("nothing-here", tmp_path) is None
    assert complete_path("no/such/folder/x", tmp_path) is None


async def test_submit_a_spec_by_path_with_completion(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    name_repo(home, sample_repo)
    good_spec(tmp_path / "specs")
    app = control_room(home, db)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_specs(app, pilot, tmp_path, monkeypatch)
        await pilot.press("n")
        await wait_for(lambda: isinstance(app.screen, SpecSubmitScreen))
        box = app.screen.query_one(Input)
        await pilot.press(*"spe")
        await wait_for(lambda: box._suggestion == "specs/")
        await pilot.press("tab")
        assert box.value == "specs/"
        await pilot.press("s")
        await wait_for(lambda: box._suggestion == "specs/slugify.md")
        await pilot.press("tab", "enter")
        await wait_for(lambda: len(runs(db)) == 1)
        run = runs(db)[0]
        assert (run.title, run.status, run.category) == ("Add slugify", m.QUEUED, "feature")
        # waited on, not asserted later: a toast expires after a few seconds, which a
        # loaded machine can spend before the queue's table fills
        await wait_for(lambda: any(f"Queued run {run.id}: Add slugify" in n
                                   for n in notifications(app)))
        await wait_for(lambda: screen.query_one(QueueTable).row_count == 1)
        assert screen.tab == "queue-tab"
        assert cells(screen.query_one(QueueTable))[0][:4] == [str(run.id), "queued", "",
                                                              "feature"]
        assert cells(screen.query_one(SpecTable))[0][1] == "Add slugify"


async def test_a_bad_spec_shows_its_error_and_queues_nothing(
        tmp_path: Path, home: Home, db: Database,
        monkeypatch: pytest.MonkeyPatch) -> None:
    write_spec(tmp_path, "bad", "title: Oops\ncategory: feature\nrepo: x\ncolour: red\n")
    app = control_room(home, db)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_specs(app, pilot, tmp_path, monkeypatch)
        await pilot.press("n")
        await wait_for(lambda: isinstance(app.screen, SpecSubmitScreen))
        await pilot.press(*"bad.md", "enter")
        error = app.screen.query_one("#submit-error", Static)
        await wait_for(lambda: "colour" in str(error.content))
        assert str(error.content) == (f"{tmp_path / 'bad.md'}: unknown field 'colour' "
                                      "(allowed: title, category, repo, base, checks, "
                                      "scenarios, budget, schedule, priority, model, script, "
                                      "max_tokens, thinking, effort, agent)")
        assert isinstance(app.screen, SpecSubmitScreen)  # still open, to fix the path

        app.screen.query_one(Input).value = "missing.md"
        await pilot.press("enter")
        await wait_for(lambda: "no such file" in str(error.content))
        assert runs(db) == []
        await pilot.press("escape")
        await wait_for(lambda: isinstance(app.screen, SpecsScreen))


async def test_requeue_queues_the_spec_again(
        tmp_path: Path, home: Home, db: Database,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from andon.engine.run.queue import submit

    first = submit(db, good_spec(tmp_path))
    app = control_room(home, db)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_specs(app, pilot, tmp_path, monkeypatch)
        await wait_for(lambda: screen.query_one(SpecTable).row_count == 1)
        await pilot.press("r")  # on the Specs tab: the selected spec
        await wait_for(lambda: len(runs(db)) == 2)
        again = runs(db)[1]
        assert again.spec_id == first.spec_id and again.status == m.QUEUED
        await pilot.press("r")  # now on the Queue tab: the selected run's spec
        await wait_for(lambda: len(runs(db)) == 3)
        assert runs(db)[2].spec_id == first.spec_id


async def test_cancel_a_queued_run_now_and_a_running_one_at_its_next_step(
        tmp_path: Path, home: Home, db: Database,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from andon.engine.run.queue import submit

    running = submit(db, good_spec(tmp_path, "one"))
    queued = submit(db, good_spec(tmp_path, "two"))
    with db.write() as s:
        row = s.get(m.Run, running.id)
        assert row is not None
        row.status, row.stage = m.RUNNING, "implement"
    app = control_room(home, db)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_specs(app, pilot, tmp_path, monkeypatch)
        await pilot.press("2")
        table = screen.query_one(QueueTable)
        await wait_for(lambda: table.row_count == 2)
        assert [r[0] for r in cells(table)] == [str(running.id), str(queued.id)]

        await pilot.press("c")
        await wait_for(lambda: isinstance(app.screen, SpecConfirmScreen))
        await pilot.press("n")  # no: nothing changes
        await pilot.pause()
        assert runs(db)[0].cancel_requested is False

        await pilot.press("c")
        await wait_for(lambda: isinstance(app.screen, SpecConfirmScreen))
        await pilot.press("y")
        await wait_for(lambda: runs(db)[0].cancel_requested)
        assert runs(db)[0].status == m.RUNNING  # the engine stops it at its next step
        await wait_for(lambda: cells(table)[0][1] == "running (cancelling)")

        await pilot.press("down", "c")
        await wait_for(lambda: isinstance(app.screen, SpecConfirmScreen))
        await pilot.press("y")
        await wait_for(lambda: runs(db)[1].status == m.CANCELLED)
        await wait_for(lambda: table.row_count == 1)


async def test_schedules_show_the_cron_and_the_next_firing_as_the_engine_reads_them(
        tmp_path: Path, home: Home, db: Database,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from andon.engine.run.queue import upsert_spec
    from andon.engine.spec.specfile import parse_spec

    config = home.config_path.read_text().replace(
        "concurrency = 2", 'concurrency = 2\ntimezone = "Europe/Berlin"')
    home.config_path.write_text(config)
    home.reload()
    # Sundays at 03:00 in Berlin: standard cron counts weekdays from Sunday = 0.
    upsert_spec(db, parse_spec(good_spec(tmp_path, "weekly", schedule="0 3 * * 0")))
    upsert_spec(db, parse_spec(good_spec(tmp_path, "once")))
    app = control_room(home, db)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_specs(app, pilot, tmp_path, monkeypatch)
        await pilot.press("3")
        table = screen.query_one(ScheduleTable)
        await wait_for(lambda: table.row_count == 1)
        # NOW is Saturday 2025-03-01 13:00 in Berlin: next is Sunday 03:00 there.
        assert cells(table)[0][2:] == ["0 3 * * 0", "never", "2025-03-02 03:00"]
        assert str(table.columns[table.coordinate_to_cell_key((0, 2)).column_key].label) == (
            "schedule (Europe/Berlin)")
