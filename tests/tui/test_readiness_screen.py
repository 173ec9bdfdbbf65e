"""The readiness screen over a seeded factory with a run history: a row per category,
the selected one's recommendation, figures and trends; a snapshot at 80x24."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select
from textual.widgets import Sparkline, Static

from andon.engine.readiness.history import Profile, add_history
from andon.store import models as m
from tests.support.tui import Seeded, at, frozen_app, seeded, settle  # noqa: F401

PARTS = {"backend": "builtin", "model": "claude-sonnet-4-5", "prompt": "a" * 64,
         "policy": "b" * 64, "checks": ["python -m pytest -q"], "scenarios": None}


def with_history(seeded: Seeded) -> Seeded:  # noqa: F811
    with seeded.db.read() as s:
        specs = {spec.category: spec for spec in s.exec(select(m.Spec))}
    add_history(seeded.db, Profile("bugfix", 160, false_merge=0.004, escalate=0.06,
                                   titles=("Fix the crash on empty titles",)),
                specs["bugfix"], PARTS, start=at(60 * 24 * 30), every=timedelta(hours=4),
                earlier={**PARTS, "model": "claude-sonnet-4-0"}, earlier_runs=30, seed=3)
    add_history(seeded.db, Profile("feature", 48, level=2, false_merge=0.08, revert=0.04,
                                   titles=("Add a slugify helper",)),
                specs["feature"], PARTS, start=at(60 * 24 * 20), every=timedelta(hours=8),
                seed=4)
    return seeded


async def _settled(pilot: Any) -> None:
    await settle(pilot, rounds=6)


async def test_the_screen_shows_each_category_and_the_selected_ones_reason(
        seeded: Seeded) -> None:  # noqa: F811
    app = frozen_app(with_history(seeded))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("r")
        await settle(pilot, rounds=6)
        screen = app.screen
        table = screen.query_one("#readiness-list")
        assert table.row_count == len(screen.reports) >= 2
        bugfix = screen.reports["bugfix"]
        table.move_cursor(row=table.get_row_index("bugfix"))
        await settle(pilot)
        sentence = str(screen.query_one("#readiness-sentence", Static).render())
        assert sentence == bugfix.recommendation.sentence
        assert bugfix.recommendation.ready
        spark = screen.query_one("#trend-agreement", Sparkline)
        assert len(list(spark.data or [])) == len(bugfix.trends["agreement"]) > 1


@pytest.mark.parametrize("size", [(80, 24)], ids=["80x24"])
def test_readiness_snapshot(snap_compare: Any, seeded: Seeded,  # noqa: F811
                            size: tuple[int, int]) -> None:
    app = frozen_app(with_history(seeded))
    assert snap_compare(app, press=["r"], terminal_size=size, run_before=_settled)
