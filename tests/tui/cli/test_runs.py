"""`andon runs` and `andon show` as read in an 80-column terminal over SSH."""

from __future__ import annotations

import os
import subprocess
import sys

from andon.engine.factory.home import Home
from andon.engine.run.log import RunLog
from andon.store.db import Database
from tests.engine.gates.test_gate import make_run

LONG = "Rewrite the [/api] route handler so that pagination survives an empty page at the end"


def andon80(home: Home, *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "andon.tui", "--home", str(home.root), *args],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "COLUMNS": "80"})
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_runs_keep_one_line_each_at_80_columns(home: Home, db: Database) -> None:
    for title in (LONG, "Short one", LONG.upper()):
        make_run(db, title=title)
    lines = andon80(home, "runs").splitlines()
    assert len(lines) == 1 + 3  # the header and one line a run, no wrapped titles
    assert all(len(line) <= 80 for line in lines)
    assert "Short one" in lines[2] and "…" in lines[1] and lines[1].split()[0] == "3"


def test_show_numbers_a_runs_steps_from_one(home: Home, db: Database) -> None:
    first, second = make_run(db), make_run(db, title="The second run")
    for run_id, names in ((first, ["a", "b", "c"]), (second, ["x", "y"])):
        log = RunLog(db, run_id)
        for name in names:
            with log.step("check", name, stage="validate"):
                pass
    text = andon80(home, "show", str(second))
    rows = [line.split() for line in text.splitlines() if line.split()[-2:-1] == ["ok"]
            or (line.split() and line.split()[0].isdigit() and "validate" in line)]
    assert [(r[0], r[3]) for r in rows] == [("1", "x"), ("2", "y")]


def test_show_joins_a_streamed_reply_into_one_row(home: Home, db: Database) -> None:
    run_id = make_run(db)
    log = RunLog(db, run_id)
    log.stage = "implement"
    for part in ("I'll read the mod", "ule first, then add ", "`slugify`."):
        log.event("model.text", part, turn=1)
    log.event("model.text", "Done.", turn=2)  # the next turn: a reply of its own
    text = andon80(home, "show", str(run_id))
    assert text.count("model.text") == 2, text
    words = " ".join(text.split())  # a long row wraps in its column at 80
    assert "model.text I'll read the module first, then add `slugify`." in words
    assert words.endswith("model.text Done.")
