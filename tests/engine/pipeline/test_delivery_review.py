"""Levels 2 and 3 through the forge: the review gate in Andon, or an approving review on
the pull request by one of the repository's listed reviewers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from andon.engine.factory.home import Home
from andon.engine.gates.gate import decide_gate, list_gates
from andon.engine.pipeline.stages import Pipeline
from andon.store import models as m
from andon.store.db import Database
from tests.support.forge.factory import (
    TOKEN,
    TOKEN_ENV,
    ForgeFactory,
    edit,
    forge_factory,
    in_thread,
)
from tests.support.forge.github import GitHubStandIn
from tests.support.forge.gitlab import GitLabStandIn

GREET = [[{"text": "Adding.", "tool_use": [edit("greet.txt", "hello\n")]}, {"text": "Done."}]]
CHECK = 'checks: ["grep -q hello greet.txt"]'
DEADLINE = 60.0


@pytest.fixture(params=["github", "gitlab"])
def ff(request: pytest.FixtureRequest, tmp_path: Path, home: Home, db: Database,
       monkeypatch: pytest.MonkeyPatch) -> Iterator[ForgeFactory]:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    with forge_factory(tmp_path, home, db, str(request.param),
                       extra='reviewers = ["alice"]') as factory:
        factory.set_policy(level=3, plan_gate=False)
        factory.require_ci(lambda sha: {"ci": ("success", "all green")})
        yield factory


def review_gate(ff: ForgeFactory, run_id: int) -> m.Gate:
    """The run's open review gate, once it is open (polled; the deadline ends a hang)."""
    end = time.monotonic() + DEADLINE
    while True:
        gates = [g for g in list_gates(ff.db, run_id=run_id) if g.kind == "review"]
        if gates:
            return gates[0]
        assert time.monotonic() < end, "the review gate never opened"
        time.sleep(0.02)


def approve_on_forge(ff: ForgeFactory, login: str, head: str) -> None:
    if isinstance(ff.forge, GitHubStandIn):
        ff.forge.approve(1, login, head)
    else:
        assert isinstance(ff.forge, GitLabStandIn)
        ff.forge.approved_by.setdefault(1, []).append(login)


def test_a_listed_reviewers_approval_on_the_forge_is_the_review(
        tmp_path: Path, ff: ForgeFactory) -> None:
    run_id = ff.queue(tmp_path / "specs", "greet", GREET, CHECK)
    thread, status = in_thread(Pipeline(ff.home, ff.db, run_id))
    gate = review_gate(ff, run_id)
    assert ff.forge.calls["merge"] == 0  # nobody approved yet: nothing merges
    head = ff.run(run_id).data["pipeline"]["forge_green"]
    approve_on_forge(ff, "aaron", head)  # not a listed reviewer: does not count
    approve_on_forge(ff, "alice", head)
    thread.join(DEADLINE)

    assert status == [m.MERGED]
    decided = next(g for g in list_gates(ff.db, run_id=run_id, pending_only=False)
                   if g.id == gate.id)
    assert (decided.status, decided.decided_by) == (m.APPROVED, "alice")
    assert f"approved on {ff.name}" in (decided.comment or "")
    assert ff.forge.calls["merge"] == 1


def test_a_person_approving_in_andon_merges_through_the_forge(
        tmp_path: Path, ff: ForgeFactory) -> None:
    run_id = ff.queue(tmp_path / "specs", "greet", GREET, CHECK)
    thread, status = in_thread(Pipeline(ff.home, ff.db, run_id))
    gate = review_gate(ff, run_id)
    assert ff.run(run_id).data["pipeline"]["pull"]["number"] == 1  # the PR is up already
    decide_gate(ff.db, gate.id or 0, "approve", user="tester")
    thread.join(DEADLINE)

    assert status == [m.MERGED]
    assert ff.file_at(ff.remote_main(), "greet.txt") == "hello\n"
    assert ff.forge.calls["merge"] == 1
