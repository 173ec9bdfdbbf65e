"""The first board: runs listed with status and stage, live as the store changes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

from engine.home import Home
from store.db import Database
from tests.conftest import write_spec
from tui.app import AndonApp
from tui.widgets.runs_table import RunsTable


def rows(table: RunsTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def wait_for(condition, timeout: float) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not true within {timeout}s")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def test_a_run_submitted_by_another_process_shows_within_a_second(
        tmp_path: Path, home: Home, db: Database) -> None:
    spec = write_spec(tmp_path, "docs", "title: Fix the docs\ncategory: docs\nrepo: x\n")
    app = AndonApp(home, db)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one(RunsTable)
        await pilot.pause()
        assert table.row_count == 0
        subprocess.run([sys.executable, "-m", "tui", "--home", str(home.root), "submit",
                        str(spec)], check=True, capture_output=True)
        waited = await wait_for(lambda: table.row_count == 1, timeout=1.0)
        assert rows(table)[0][:4] == ["1", "queued", "", "docs"]
        assert waited < 1.0

        # A status change made elsewhere updates the row in place.
        from store import models as m

        with db.write() as s:
            run = s.get(m.Run, 1)
            run.status, run.stage = m.RUNNING, "implement"
        await wait_for(lambda: rows(table)[0][1:3] == ["running", "implement"], timeout=1.0)
        await pilot.press("q")
