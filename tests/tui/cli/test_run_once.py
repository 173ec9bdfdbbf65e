"""`andon run-once` returns once nothing can move without a person: a run at an open gate
is parked with its gate open and listed, and the next run-once resumes it. Its exit
status says how it ended (0 well, 1 a run failed, 3 runs wait for a person, 4 the time
limit passed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from andon.engine.factory.home import Home
from andon.store import models as m
from andon.store.db import Database
from tests.conftest import git, write_spec
from tests.engine.ops.test_first_run import SCRIPT, andon

# Whole factories in subprocesses, several times over: minutes on a loaded machine.
pytestmark = pytest.mark.timeout(300)


def _feature(tmp_path: Path, sample_repo: Path) -> Path:
    return write_spec(
        tmp_path / "specs", "whisper",
        f"""
        title: Add whisper()
        category: feature
        repo: {sample_repo}
        model: scripted
        checks: ["{sys.executable} -m pytest -q -p no:cacheprovider"]
        """,
        "# Intent\nAdd whisper().\n",
        script=SCRIPT.replace("PY", sys.executable),
    )


DOCS_SCRIPT = """\
turns:
  - text: Writing the note.
    tool_use:
      - name: str_replace_based_edit_tool
        input: {command: create, path: NOTE.md, file_text: "A note.\\n"}
  - text: Done.
"""


def run_row(db: Database, run_id: int) -> m.Run:
    with db.read() as s:
        run = s.get(m.Run, run_id)
        assert run is not None
        return run


def _pending(db: Database) -> list[m.Gate]:
    from andon.engine.gates.gate import list_gates

    return list_gates(db)


def test_a_level_2_run_parks_at_each_gate_and_resumes_to_a_single_merge(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    # Five parkings (each a resume); max_resumes counts interruptions that cost work,
    # which a wait at a gate is not; the margin keeps this test about run-once.
    home.config_path.write_text(home.config_path.read_text().replace(
        "[engine]\n", "[engine]\nmax_resumes = 10\n", 1))
    assert andon(home, "submit", str(_feature(tmp_path, sample_repo))).returncode == 0
    kinds: list[str] = []
    for _ in range(10):  # plan, three actions, review: five people's decisions
        done = andon(home, "run-once")
        if done.returncode == 0:
            break
        assert done.returncode == 3, done.stdout + done.stderr
        gates = _pending(db)
        assert len(gates) == 1, [(g.id, g.kind, g.status) for g in gates]
        gate = gates[0]
        # It names the gate and how to decide it, and returned without a decision.
        assert f"waiting for a person: gate {gate.id} ({gate.kind}) of run 1" in done.stdout
        assert f"andon approve {gate.id}" in done.stdout
        assert run_row(db, 1).status == m.INTERRUPTED
        kinds.append(gate.kind)
        approved = andon(home, "approve", str(gate.id))
        assert approved.returncode == 0, approved.stderr
    else:
        pytest.fail("run-once never finished the run")
    assert "run 1: merged" in done.stdout
    assert kinds == ["plan", "action", "action", "action", "review"]
    assert run_row(db, 1).status == m.MERGED
    # Resumed five times, every edit applied once: one whisper(), one merge.
    assert git(sample_repo, "show", "main:sample/text.py").count("def whisper") == 1
    assert git(sample_repo, "log", "--merges", "--format=%s", "main").count("\n") == 0


def test_exit_statuses_a_failed_run_and_the_time_limit(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    failing = write_spec(tmp_path / "specs", "fails", f"""
        title: Never passes
        category: docs
        repo: {sample_repo}
        model: scripted
        checks: ["exit 3"]
        """, script="turns:\n  - text: Nothing to do.\n")
    assert andon(home, "submit", str(failing)).returncode == 0
    done = andon(home, "run-once", "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    assert json.loads(done.stdout)[0]["status"] == "stuck"

    # Nothing left: exit 0, and it says so.
    empty = andon(home, "run-once")
    assert (empty.returncode, empty.stdout.strip()) == (0, "the queue is empty")

    # A time limit already spent: nothing more starts (a run in hand would stop at its
    # next boundary), the exit status says the limit passed, and nothing is lost: the
    # next run-once takes the run all the way.
    docs = write_spec(tmp_path / "specs", "docs", f"""
        title: A line of docs
        category: docs
        repo: {sample_repo}
        model: scripted
        """, script=DOCS_SCRIPT)
    assert andon(home, "submit", str(docs)).returncode == 0
    limited = subprocess.run(
        [sys.executable, "-m", "andon.tui", "--home", str(home.root), "run-once",
         "--time-limit", "0.00001"], capture_output=True, text=True, timeout=120)
    assert limited.returncode == 4, limited.stdout + limited.stderr
    assert "time limit of 1e-05 minutes passed" in limited.stdout
    assert run_row(db, 2).status in (m.QUEUED, m.INTERRUPTED)
    again = andon(home, "run-once")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "run 2: merged" in again.stdout
    assert run_row(db, 2).status == m.MERGED


def test_while_the_cord_is_pulled_nothing_starts_and_it_says_why(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    docs = write_spec(tmp_path / "specs", "docs", f"""
        title: A line of docs
        category: docs
        repo: {sample_repo}
        model: scripted
        """, script=DOCS_SCRIPT)
    assert andon(home, "submit", str(docs)).returncode == 0
    assert andon(home, "cord", "pull", "--reason", "bad deploy").returncode == 0
    held = andon(home, "run-once")
    assert held.returncode == 3, held.stdout + held.stderr
    assert "the andon cord is pulled" in held.stdout
    assert run_row(db, 1).status == m.QUEUED
    assert andon(home, "cord", "release").returncode == 0
    assert andon(home, "run-once").returncode == 0
    assert run_row(db, 1).status == m.MERGED
