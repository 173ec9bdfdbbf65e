"""A factory on a server, served by engines on several hosts: the board says which host
runs each run; a factory in one SQLite file has one host and says nothing."""

from __future__ import annotations

from pathlib import Path

from andon.store import models as m
from andon.store.clock import utcnow
from andon.store.db import Database
from andon.tui.data import EngineMode, load_board
from andon.tui.widgets.runs_table import cells
from tests.support.rows import add_run


def _board_titles(db: Database) -> list[str]:
    with db.write() as s:
        add_run(s, status=m.RUNNING, claimed_by="4242@build-b.example", title="On b")
        add_run(s, status=m.QUEUED, title="Not yet claimed")
    now = utcnow()
    data = load_board(db, now=now, mode=EngineMode("daemon"))
    return [cells(run, now)[4].plain for run in data.runs]


def test_the_board_names_each_runs_host_on_a_server(pg_url: str) -> None:
    db = Database(pg_url)
    try:
        titles = _board_titles(db)
    finally:
        db.close()
    assert sorted(titles) == ["Not yet claimed", "build-b.example On b"]


def test_one_file_one_host_no_names(db: Database) -> None:
    assert sorted(_board_titles(db)) == ["Not yet claimed", "On b"]


async def test_a_control_room_on_a_server_factory_starts_no_engine_of_its_own(
        tmp_path: Path, pg_url: str) -> None:
    from andon.engine.factory.home import Home
    from andon.tui.app import AndonApp

    home = Home(tmp_path / "laptop")
    home.root.mkdir()
    home.config_path.write_text(f'[store]\nurl = "{pg_url}"\n')
    db = home.init()
    try:
        app = AndonApp(home, db, start_engine=True)
        async with app.run_test() as pilot:
            await pilot.pause()
            await app.workers.wait_for_complete()  # (an engine would have started by now)
            assert app.engine is None
            assert app.engine_mode() == EngineMode("daemon", "the factory's hosts")
    finally:
        db.close()
