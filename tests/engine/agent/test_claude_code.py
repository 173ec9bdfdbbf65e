"""Claude Code as the implementing agent: the real claude-agent-sdk and its bundled CLI,
talking to the run's loopback proxy, which a scripted model answers (no network, no key).

Each test starts the CLI, a heavy subprocess: they are few, and wait generously."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import col, select

from andon.engine.factory.home import Home
from andon.engine.readiness.fingerprint import record_evidence
from andon.store import models as m
from andon.store.db import Database
from tests.conftest import git, requires
from tests.engine.pipeline.test_gates_pipeline import README_SCRIPT, Line, approve_all, queue_run

pytest.importorskip("claude_agent_sdk", reason="needs the claude-code extra: "
                    "pip install 'andon[claude-code]'")
pytestmark = [requires("bwrap"), pytest.mark.slow, pytest.mark.timeout(600)]


def exchanges(db: Database, run_id: int) -> list[m.Exchange]:
    with db.read() as s:
        return list(s.exec(select(m.Exchange).where(m.Exchange.run_id == run_id)
                           .order_by(col(m.Exchange.id))).all())


def _json(value: object) -> dict:
    return json.loads(value) if isinstance(value, str) else value  # type: ignore[return-value]


def test_a_dark_claude_code_run_merges_and_is_recorded_as_the_loops_are(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    run_id = queue_run(db, tmp_path / "specs", "readme", "docs", sample_repo, README_SCRIPT,
                       extra="agent: claude-code")
    line = Line(home, db, run_id)
    assert line.answer(approve_all) == []  # level 4: no gate
    run = line.run()
    assert line.finish() == m.MERGED, run.reason
    assert "`shout('hi')` returns `HI!`" in git(sample_repo, "show", "main:README.md")
    # the proxy recorded both turns as the loop does: plain tool names, usage, totals
    recorded = exchanges(db, run_id)
    assert [x.turn for x in recorded] == [1, 2] and run.turns == 2
    first = _json(recorded[0].response)["message"]
    names = [b["name"] for b in first["content"] if b["type"] == "tool_use"]
    assert names == ["str_replace_based_edit_tool"]
    # the second request is recorded as what it added: the tool result, not the history
    second = _json(recorded[1].request)
    assert second["messages_from"] >= 2 and "tools" not in second
    assert [b["type"] for msg in second["messages"] for b in msg["content"]] == ["tool_result"]
    with db.read() as s:
        usage = s.exec(select(m.Usage).where(m.Usage.run_id == run_id)).all()
    assert len(usage) == 2 and run.cost_usd and run.cost_usd > 0
    evidence = record_evidence(home, db, run_id)
    assert evidence is not None and evidence.parts["backend"].startswith("claude-code ")
