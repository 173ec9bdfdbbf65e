"""Shadow decisions on real scripted runs: recorded at the review point before the person
decides, hidden until their verdict is stored, counted by the readiness report; steered
runs marked; each run's fingerprint recorded once."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from andon.engine.factory.home import Home
from andon.engine.gates.gate import decide_gate, list_gates
from andon.engine.gates.shadow import shadow_decisions, shown_shadow
from andon.engine.readiness.load import category_readiness, run_facts
from andon.engine.run.control import RunControl
from andon.engine.service.runner import run_pipeline
from andon.policies.stored import load_policy, save_policies
from andon.store import models as m
from andon.store.db import Database
from tests.engine.pipeline.test_gates_pipeline import (
    CODE_SCRIPT,
    DEADLINE,
    FEATURE_SCRIPT,
    README_SCRIPT,
    queue_run,
)


def _show(home: Home, run_id: int) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "andon.tui", "--home", str(home.root), "show",
                           str(run_id), "--json"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


class Line:
    """One run executing in a thread the way the engine runs it (with its fingerprint)."""

    def __init__(self, home: Home, db: Database, run_id: int) -> None:
        self.db, self.run_id = db, run_id
        self.thread = threading.Thread(target=run_pipeline, daemon=True,
                                       args=(home, db, run_id, RunControl(db, run_id)))
        self.thread.start()

    def next_gate(self) -> m.Gate:
        deadline = time.monotonic() + DEADLINE
        while not (gates := list_gates(self.db, run_id=self.run_id)):
            assert self.thread.is_alive() and time.monotonic() < deadline
            time.sleep(0.01)
        return gates[0]

    def finish(self) -> m.Run:
        self.thread.join(DEADLINE)
        assert not self.thread.is_alive()
        with self.db.read() as s:
            run = s.get(m.Run, self.run_id)
            assert run is not None
            return run


def test_a_level_3_review_records_level_4s_verdict_hidden_until_the_person_decides(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    run_id = queue_run(db, tmp_path / "specs", "readme", "bugfix", sample_repo,
                       README_SCRIPT)
    line = Line(home, db, run_id)
    gate = line.next_gate()
    assert gate.kind == "review" and "level4" not in str(gate.detail)
    [(row, open_gate)] = shadow_decisions(db, run_id)
    assert (row.verdict, row.level, row.gate_id, row.steered) == ("merge", 3, gate.id, False)
    assert shown_shadow(row, open_gate) is None  # it must not anchor the person
    assert _show(home, run_id)["review_points"] == [{"hidden": "until the person decides"}]
    decide_gate(db, gate.id or 0, "reject", "not what the spec asked", user="alice")
    assert line.finish().status == m.REJECTED
    [(row, decided)] = shadow_decisions(db, run_id)
    shown = shown_shadow(row, decided)
    assert shown is not None and (shown["level4"], shown["person"]) == ("merge", "rejected")
    [point] = _show(home, run_id)["review_points"]
    assert (point["level4"], point["person"], point["by"]) == ("merge", "rejected", "alice")

    [report] = category_readiness(db, ["bugfix"])
    assert (report.decided, report.false_merges) == (1, 1)
    assert [d.run_id for d in report.disagreements] == [run_id]
    assert report.window.fingerprint is not None


def test_an_escalation_below_level_4_is_the_shadow_escalating_with_its_rule(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    policy = load_policy(db, "bugfix").model_copy(update={"protected_paths": ["sample/**"]})
    save_policies(db, [policy], user="alice", reason="the code is protected")
    run_id = queue_run(db, tmp_path / "specs", "doc", "bugfix", sample_repo, CODE_SCRIPT)
    line = Line(home, db, run_id)
    gate = line.next_gate()
    assert gate.kind == "escalation"
    decide_gate(db, gate.id or 0, "reject", "leave the code alone", user="alice")
    line.finish()
    [fact] = run_facts(db, "bugfix")
    assert (fact.shadow, fact.rules, fact.person, fact.review_kind) == (
        "escalate", "protected_path", "rejected", "agree")


def test_a_run_steered_at_level_2_is_counted_apart(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    run_id = queue_run(db, tmp_path / "specs", "whisper", "feature", sample_repo,
                       FEATURE_SCRIPT)
    line = Line(home, db, run_id)
    deadline = time.monotonic() + DEADLINE
    while line.thread.is_alive():
        assert time.monotonic() < deadline
        for gate in list_gates(db, run_id=run_id):
            refuse = gate.title == "run: rm -rf tests"
            decide_gate(db, gate.id or 0, "reject" if refuse else "approve",
                        "keep the tests" if refuse else None, user="alice")
        time.sleep(0.01)
    assert line.finish().status == m.MERGED
    [(row, _)] = shadow_decisions(db, run_id)
    assert row.steered
    [report] = category_readiness(db, ["feature"])
    assert (report.decided, report.steered, report.merged) == (0, 1, 1)


def test_a_resumed_run_keeps_its_fingerprint(home: Home, db: Database, tmp_path: Path,
                                            sample_repo: Path) -> None:
    from andon.engine.readiness.fingerprint import record_evidence

    run_id = queue_run(db, tmp_path / "specs", "readme", "bugfix", sample_repo,
                       README_SCRIPT)
    first = record_evidence(home, db, run_id)
    policy = load_policy(db, "bugfix").model_copy(update={"max_diff_lines": 7})
    save_policies(db, [policy], user="alice", reason="smaller changes")
    again = record_evidence(home, db, run_id)
    assert first is not None and again is not None
    assert first.fingerprint == again.fingerprint
    assert set(first.parts) == {"backend", "model", "prompt", "policy", "checks", "scenarios"}
