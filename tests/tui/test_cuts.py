"""No word cut at 80 columns: a gate's kind in the board's status column fits whole."""

from __future__ import annotations

from datetime import UTC, datetime

from andon.store import models as m
from andon.tui.data import RunRow
from andon.tui.widgets.runs_table import RunsTable, cells

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
GATE_KINDS = ("plan", "action", "review", "escalation", "conflict", "post-merge", "budget")


def test_every_gate_kind_fits_the_status_column() -> None:
    (width,) = [c.width for c in RunsTable.COLUMNS if c.key == "status"]
    assert width is not None
    for kind in GATE_KINDS:
        run = RunRow(id=1, title="t", category="docs", level=2, status=m.WAITING,
                     stage="review", created_at=NOW, started_at=NOW, finished_at=None,
                     turns=1, tokens=10, cost_usd=0.1, model="scripted", gate_kind=kind)
        shown = cells(run, NOW)[1].plain
        assert len(shown) <= width, shown
    assert cells(RunRow(id=1, title="t", category="docs", level=2, status=m.WAITING,
                        stage="review", created_at=NOW, started_at=NOW, finished_at=None,
                        turns=1, tokens=10, cost_usd=0.1, model="scripted",
                        gate_kind="escalation"), NOW)[1].plain == "⚑escalate"
