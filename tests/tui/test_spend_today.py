"""The board's "spend today" is the daily budget's figure: the same rows, the same day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from andon.engine.service.runner import spend_today
from andon.store import models as m
from andon.store.db import Database
from andon.tui.data import EngineMode, load_board
from tests.support.rows import add_run

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def _usage(s: Session, run: m.Run, ts: datetime, cost: float, model: str) -> None:
    s.add(m.Usage(run_id=run.id or 0, category=run.category, turn=1, model=model,
                  cost_usd=cost, ts=ts))


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Auckland"])
def test_the_budget_and_the_board_read_the_same_figure(db: Database, zone: str) -> None:
    """A run started yesterday spends today: its today's calls count, on the board as in
    the daily budget (the board once counted runs by the day they were created)."""
    with db.write() as s:
        old = add_run(s, created_at=NOW - timedelta(days=2), started_at=NOW - timedelta(days=2))
        _usage(s, old, NOW - timedelta(days=2), 5.0, "claude-sonnet-5-5")
        _usage(s, old, NOW - timedelta(minutes=5), 0.75, "claude-sonnet-5-5")
        _usage(s, old, NOW - timedelta(minutes=4), 0.25, "scripted")
    board = load_board(db, now=NOW, mode=EngineMode("off"), zone=zone)
    budget = spend_today(db, "feature", NOW, zone)
    assert budget == pytest.approx(1.0)
    assert board.spend_today + board.spend_simulated == pytest.approx(budget)
    assert board.runs_today == 0  # the run itself is not today's
