"""`andon gate N` as a person reads it: words and percentages, not Python dicts."""

from __future__ import annotations

from andon.engine.factory.home import Home
from andon.store import models as m
from andon.store.db import Database
from tests.engine.gates.test_gate import make_run
from tests.tui.cli.test_runs import andon80


def test_a_budget_gate_says_how_much_of_each_budget_was_used(home: Home, db: Database) -> None:
    run_id = make_run(db)
    with db.write() as s:
        gate = m.Gate(run_id=run_id, kind="escalation", title="escalated (budget): Add whisper()",
                      detail={"spend": {"turns": 0.4, "usd": 0.25, "minutes": 1.2},
                              "files": ["sample/text.py", "tests/test_text.py"]})
        s.add(gate)
        s.flush()
        gate_id = gate.id
    out = andon80(home, "gate", str(gate_id))
    assert "budget used: turns 40%, usd 25%, minutes 120%" in out
    assert "files: sample/text.py, tests/test_text.py" in out
    assert "{" not in out and "['" not in out
