"""A dark run merges only on the holdout scenarios' word: a story judged by the model (the
real SDK against a loopback Messages API) and a check that fails both keep a level-4
change off the base. The story reaches the model only in the judge's own requests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from andon.engine.factory.home import Home
from andon.engine.run.queue import claim_next, submit
from andon.policies.stored import load_policy, save_policies
from andon.store import models as m
from andon.store.db import Database
from tests.conftest import git, requires, write_spec
from tests.engine.pipeline.test_gates_pipeline import README_SCRIPT, Line
from tests.support import messages_server as ms

STORY = "HOLDOUT-story-5e: a reader of the README learns what shout('hi') returns."
EDIT = {"command": "str_replace", "path": "README.md",
        "old_str": "A tiny package the factory works on.",
        "new_str": "A tiny package the factory works on. `shout('hi')` returns `HI!`."}


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ms.MessagesServer]:
    with ms.MessagesServer() as s:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-not-real")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", s.url)
        yield s


def _one_attempt(db: Database) -> None:
    """Level 4 with one attempt: a low satisfaction goes straight to review."""
    policy = load_policy(db, "docs")
    assert policy.level == 4 and policy.satisfaction_threshold == 1.0
    save_policies(db, [policy.model_copy(update={"max_attempts": 1})], user="alice",
                  reason="one attempt, so review sees the first judgement")


def _queue(db: Database, folder: Path, repo: Path, model: str, script: str | None) -> int:
    spec = write_spec(folder, "readme", f"""
        title: Document shout()
        category: docs
        repo: {repo}
        model: {model}
        checks: ["true"]
        scenarios: shout
        """, script=script)
    run = submit(db, spec)
    claimed = claim_next(db)
    assert claimed is not None and claimed.id == run.id
    return run.id or 0


@requires("bwrap")
@pytest.mark.parametrize(("verdict", "merged"), [("PASS", True), ("FAIL", False)])
def test_a_dark_run_merges_only_when_the_judge_passes_its_story(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path,
        server: ms.MessagesServer, verdict: str, merged: bool) -> None:
    _one_attempt(db)
    (home.scenarios / "shout").mkdir(parents=True)
    (home.scenarios / "shout" / "readme-example.md").write_text(STORY + "\n")
    server.add(ms.streamed("Documenting shout().", tool_use=[
                   {"name": "str_replace_based_edit_tool", "input": EDIT}]),
               ms.streamed("The README documents shout()."),
               *[ms.reply(json.dumps({"verdict": verdict, "reason": "Judged on the diff."}))
                 for _ in range(3)])
    base = git(sample_repo, "rev-parse", "main")
    run_id = _queue(db, tmp_path / "specs", sample_repo, "claude-sonnet-5-5", None)
    line = Line(home, db, run_id)
    gates = line.answer(lambda gate: ("reject", "the story is not satisfied"))
    status = line.finish()
    run = line.run()
    if merged:
        assert status == m.MERGED, run.reason
        assert run.satisfaction == 1.0 and gates == []
        assert "`shout('hi')`" in git(sample_repo, "show", "main:README.md")
    else:
        assert status == m.REJECTED, run.reason
        assert run.satisfaction == 0.0 and run.escalated
        assert [g.kind for g in gates] == ["escalation"]
        assert [r["rule"] for r in gates[0].detail["rules"]] == ["satisfaction_low"]
        assert git(sample_repo, "rev-parse", "main") == base
    # Two agent turns, then three independent judge trials; only those saw the story.
    bodies = [str(r.body) for r in server.requests if r.method == "POST"]  # not /v1/models
    assert len(bodies) == 5
    assert all(STORY not in body for body in bodies[:2])
    assert all(STORY in body for body in bodies[2:])


@requires("bwrap")
def test_a_dark_run_whose_check_scenario_fails_escalates_instead_of_merging(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    _one_attempt(db)
    folder = home.scenarios / "shout"
    folder.mkdir(parents=True)
    check = folder / "readme-names-the-result"
    check.write_text('#!/bin/sh\ngrep -q "returns \\`HI!!\\`" "$1/README.md"\n')
    check.chmod(0o755)
    base = git(sample_repo, "rev-parse", "main")
    run_id = _queue(db, tmp_path / "specs", sample_repo, "scripted", README_SCRIPT)
    line = Line(home, db, run_id)
    gates = line.answer(lambda gate: ("reject", "the holdout check fails"))
    assert line.finish() == m.REJECTED, line.run().reason
    assert line.run().satisfaction == 0.0
    assert [r["rule"] for r in gates[0].detail["rules"]] == ["satisfaction_low"]
    assert git(sample_repo, "rev-parse", "main") == base
