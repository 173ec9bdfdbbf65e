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


def test_show_gives_each_model_calls_tokens_and_cost_and_their_total(
        home: Home, db: Database) -> None:
    from andon.store import models as m

    run_id = make_run(db)
    with db.write() as s:
        s.add(m.Usage(run_id=run_id, category="docs", turn=0, model="claude-sonnet-4-5",
                      purpose="plan",
                      input_tokens=1200, output_tokens=300, cost_usd=0.0081))
        s.add(m.Usage(run_id=run_id, category="docs", turn=1, model="claude-sonnet-4-5",
                      input_tokens=5000,
                      output_tokens=700, cache_creation_tokens=4000, cost_usd=0.0405))
        s.add(m.Usage(run_id=run_id, category="docs", turn=2, model="claude-sonnet-4-5",
                      input_tokens=300,
                      output_tokens=90, cache_read_tokens=4000, cost_usd=0.0035))
    text = andon80(home, "show", str(run_id))
    assert all(len(line) <= 80 for line in text.splitlines())
    rows = [line.split() for line in text.splitlines()]
    assert ["0", "plan", "1,200", "300", "0", "0", "$0.0081"] in rows
    assert ["1", "agent", "5,000", "700", "0", "4,000", "$0.0405"] in rows
    assert ["2", "agent", "300", "90", "4,000", "0", "$0.0035"] in rows
    assert ["total", "6,500", "1,090", "4,000", "4,000", "$0.0521"] in rows
