"""The post-merge watch through the forge: the base's required CI on the merge commit,
and a revert through a pull request when it fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from andon.engine.factory.home import Home
from andon.engine.gates.gate import list_gates
from andon.engine.pipeline.stages import Pipeline
from andon.store import models as m
from andon.store.db import Database
from tests.conftest import git
from tests.support.forge.factory import TOKEN, TOKEN_ENV, ForgeFactory, edit, forge_factory

GREET = [[{"text": "Adding.", "tool_use": [edit("greet.txt", "hello\n")]}, {"text": "Done."}]]


@pytest.fixture(params=["github", "gitlab"])
def ff(request: pytest.FixtureRequest, tmp_path: Path, home: Home, db: Database,
       monkeypatch: pytest.MonkeyPatch) -> Iterator[ForgeFactory]:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    with forge_factory(tmp_path, home, db, str(request.param)) as factory:
        factory.set_policy(level=4)
        yield factory


def merge_commits(ff: ForgeFactory) -> list[str]:
    pulls = getattr(ff.forge, "pulls", None) or getattr(ff.forge, "mrs", {})
    return [p["merge_commit"] for p in pulls.values() if p["merge_commit"]]


def test_the_base_going_red_after_the_merge_is_reverted_through_a_pull_request(
        tmp_path: Path, ff: ForgeFactory) -> None:
    def ci(sha: str) -> dict[str, tuple[str, str]]:
        first = merge_commits(ff)[:1]
        red = sha in first  # the run's merge breaks main; everything else is green
        return {"ci": ("failure", "integration suite: 3 failed") if red else
                ("success", "green")}

    ff.require_ci(ci)
    run_id = ff.queue(tmp_path / "specs", "greet", GREET)

    assert Pipeline(ff.home, ff.db, run_id).execute() == m.REVERTED

    run = ff.run(run_id)
    tip = ff.remote_main()
    assert ff.file_at(tip, "greet.txt") is None  # undone on the forge's main
    message = git(ff.bare, "log", "-1", "--format=%B", f"{tip}^2")  # the revert commit
    assert message.startswith(f"Revert andon run {run_id}: greet change")
    assert f"Andon-Reverts: {run_id}" in message and "integration suite" in message
    assert ff.forge.calls["merge"] == 2  # the run's merge, then the revert's
    revert_url = run.data["pipeline"]["revert"]["url"]
    assert run.reason == (f"reverted through {revert_url}: the required checks failed on "
                          f"main after the merge ({ff.required})")
    notices = [g for g in list_gates(ff.db, run_id=run_id) if g.kind == "post-merge"]
    assert len(notices) == 1 and notices[0].detail["revert_pull"] == revert_url


def test_a_green_base_after_the_merge_keeps_the_run_merged(
        tmp_path: Path, ff: ForgeFactory) -> None:
    ff.require_ci(lambda sha: {"ci": ("success", "green")})
    run_id = ff.queue(tmp_path / "specs", "greet", GREET)

    assert Pipeline(ff.home, ff.db, run_id).execute() == m.MERGED

    assert ff.run(run_id).data["pipeline"]["watched"] is True
    assert ff.forge.calls["merge"] == 1
    watched = [s for s in ff.rows(m.Step, run_id) if s.stage == "post-merge"]
    assert [(s.name, s.status) for s in watched] == [(f"required check {ff.required}", "ok")]
