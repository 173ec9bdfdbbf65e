"""Snapshots of the gates inbox and the policies screen at 80x24 (SSH) and 160x50, over
the seeded factory with "now" frozen (tests/support/tui.py). Update them with
`pytest --snapshot-update tests/test_tui_snapshots_screens.py` after a deliberate change,
and look at the SVGs before committing."""

from __future__ import annotations

from typing import Any

import pytest

from andon.store import models as m
from tests.support.tui import Seeded, at, frozen_app, seeded, settle  # noqa: F401

SIZES = [(80, 24), (160, 50)]
AUDIT_TS = "2026-11-20T09:00:00.000000+00:00"


def with_action_gate(seeded: Seeded) -> Seeded:  # noqa: F811
    """The seeded review gate, plus an action gate asking to run a command."""
    with seeded.db.write() as s:
        gate = m.Gate(run_id=seeded.runs["running"], kind="action", stage="implement",
                      title="run: python -m pytest -q tests/test_slug.py",
                      detail={"tool": "bash", "action": "shell",
                              "input": {"command": "python -m pytest -q tests/test_slug.py"},
                              "command": "python -m pytest -q tests/test_slug.py"},
                      created_at=at(0.5))
        s.add(gate)
    return seeded


def with_fixed_audit(seeded: Seeded) -> Seeded:  # noqa: F811
    """The defaults were stored when the home was made (today): pin those audit times,
    and add a person's level change with a reason."""
    with seeded.db.write() as s:
        s.connection().exec_driver_sql("UPDATE policy_changes SET ts = ?", (AUDIT_TS,))
        s.add(m.PolicyChange(category="bugfix", field="level", old=2, new=3, user="alice",
                             reason="ten clean runs", ts=at(60 * 24)))
    return seeded


async def _settled(pilot: Any) -> None:
    await settle(pilot, rounds=6)


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_gates_inbox(snap_compare: Any, seeded: Seeded, size: tuple[int, int]) -> None:  # noqa: F811
    app = frozen_app(with_action_gate(seeded))
    assert snap_compare(app, press=["g"], terminal_size=size, run_before=_settled)


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_policies(snap_compare: Any, seeded: Seeded, size: tuple[int, int]) -> None:  # noqa: F811
    app = frozen_app(with_fixed_audit(seeded))
    assert snap_compare(app, press=["p"], terminal_size=size,
                        run_before=_settled)
