"""Screenshots of the board and the run screen at 80x24 (SSH) and 160x50.

Deterministic: a seeded store (tests/support/tui.py) with fixed ids, times and commit
hashes, "now" frozen by ANDON_NOW, the local zone set to UTC, no engine. Update with
`pytest tests/test_tui_snapshots.py --snapshot-update` and look at the SVGs before
committing them.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.tui import Seeded, frozen_app, settle

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 50), id="160x50")]


@pytest.fixture(autouse=True)
def _fixed_look(monkeypatch: pytest.MonkeyPatch) -> None:
    """The look is configured by environment, as a person would (like Posting's tests)."""
    monkeypatch.setenv("ANDON_THEME", "textual-dark")


def opening(run_id: int, *keys: str) -> Any:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        pilot.app.open_run(run_id)
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_board(snap_compare: Any, seeded: Seeded, size: tuple[int, int]) -> None:
    assert snap_compare(frozen_app(seeded), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_run_transcript(snap_compare: Any, seeded: Seeded, size: tuple[int, int]) -> None:
    assert snap_compare(frozen_app(seeded), terminal_size=size,
                        run_before=opening(seeded.runs["running"]))


@pytest.mark.parametrize("size", SIZES)
def test_run_diff(snap_compare: Any, seeded: Seeded, size: tuple[int, int]) -> None:
    assert snap_compare(frozen_app(seeded), terminal_size=size,
                        run_before=opening(seeded.runs["running"], "2"))


def test_run_waiting_at_a_gate_with_checks(snap_compare: Any, seeded: Seeded) -> None:
    assert snap_compare(frozen_app(seeded), terminal_size=(80, 24),
                        run_before=opening(seeded.runs["waiting"], "3"))


def test_board_with_the_cord_pulled(snap_compare: Any, seeded: Seeded) -> None:
    from andon.engine.service.cord import pull

    pull(seeded.db, "bad deploy", user="ana")
    assert snap_compare(frozen_app(seeded), terminal_size=(80, 24), run_before=settle)
