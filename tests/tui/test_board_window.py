"""The board reads a month of ended runs only when a run started or ended (or after a
while): a refresh of live runs moving on reuses it, and a line's figure is never stale
after a run ends on it."""

from __future__ import annotations

from andon.store import models as m
from andon.store.clock import utcnow
from andon.store.db import Database
from andon.tui.data import EngineMode, load_board
from andon.tui.data.board import WindowCounts
from tests.engine.gates.test_gate import make_run


def set_run(db: Database, run_id: int, **fields: object) -> None:
    with db.write() as s:
        run = s.get(m.Run, run_id)
        assert run is not None
        for key, value in fields.items():
            setattr(run, key, value)


def line(db: Database, window: WindowCounts, category: str = "feature") -> tuple[int, int]:
    board = load_board(db, now=utcnow(), mode=EngineMode("off"), window=window)
    row = next(r for r in board.lines if r.category == category)
    return row.finished, row.succeeded


def test_the_months_ended_runs_are_read_again_only_when_a_run_ends_or_in_a_while(
        db: Database) -> None:
    now = [0.0]
    window = WindowCounts(max_age=30.0, clock=lambda: now[0])
    live, other, merged = make_run(db), make_run(db), make_run(db)
    set_run(db, merged, status=m.MERGED, finished_at=utcnow(), merged_at=utcnow())
    assert line(db, window) == (1, 1) and window.reads == 1

    set_run(db, live, turns=5, tokens_in=9000, stage="validate")  # live runs move on
    assert line(db, window) == (1, 1) and window.reads == 1

    set_run(db, other, status=m.FAILED, finished_at=utcnow())  # a run ended: read again
    assert line(db, window) == (2, 1) and window.reads == 2

    set_run(db, merged, status=m.REVERTED)  # no live count moves: reused for a while
    assert line(db, window) == (2, 1) and window.reads == 2
    now[0] = 30.0
    assert line(db, window) == (2, 0) and window.reads == 3
