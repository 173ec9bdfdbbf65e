"""Delivery through the forge, end to end: a run pushes its branch, opens a pull request,
waits for the team's required CI, and is merged by the forge with the expected head.

Real parts: the pipeline with the scripted model, a working clone whose `origin` is a
bare repository, and a stand-in GitHub or GitLab serving HTTP on 127.0.0.1 over that
bare repository. Every fault is ordered by the test (`hold` blocks the forge until the
test releases it; the engine stops through its stop event), never by a clock."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from andon.engine.factory.home import Home
from andon.engine.pipeline.stages import Pipeline
from andon.engine.service.recovery import settle
from andon.store import models as m
from andon.store.db import Database
from tests.conftest import git
from tests.support.forge.factory import (
    TOKEN,
    TOKEN_ENV,
    ForgeFactory,
    control,
    edit,
    forge_factory,
    in_thread,
)

GREET = [[{"text": "Adding.", "tool_use": [edit("greet.txt", "hello\n")]}, {"text": "Done."}]]
CHECK = 'checks: ["grep -q hello greet.txt"]'
DEADLINE = 60.0


def wait_until(what: str, cond: Callable[[], bool]) -> None:
    """Poll `cond` (no timing is asserted: the deadline only ends a hung test)."""
    end = time.monotonic() + DEADLINE
    while not cond():
        assert time.monotonic() < end, f"never happened: {what}"
        time.sleep(0.02)


@pytest.fixture(params=["github", "gitlab"])
def ff(request: pytest.FixtureRequest, tmp_path: Path, home: Home, db: Database,
       monkeypatch: pytest.MonkeyPatch) -> Iterator[ForgeFactory]:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    with forge_factory(tmp_path, home, db, str(request.param)) as factory:
        factory.set_policy(level=4)
        factory.require_ci(lambda sha: {"ci": ("success", "all green")})
        yield factory


def checks_ran(ff: ForgeFactory, run_id: int) -> list[str]:
    return [s.status for s in ff.rows(m.Step, run_id)
            if s.kind == "check" and s.stage == "validate"]


def test_a_dark_run_becomes_a_pull_request_the_forge_merges(
        tmp_path: Path, ff: ForgeFactory) -> None:
    local_main = git(ff.work, "rev-parse", "main")
    run_id = ff.queue(tmp_path / "specs", "greet", GREET, CHECK)

    assert Pipeline(ff.home, ff.db, run_id).execute() == m.MERGED

    run = ff.run(run_id)
    tip = ff.remote_main()
    assert run.merge_commit == tip and ff.file_at(tip, "greet.txt") == "hello\n"
    assert ff.forge.calls["merge"] == 1
    assert f"Andon-Run: {run_id}" in ff.forge.merged_messages[0]  # recovery finds it
    assert git(ff.work, "rev-parse", "main") == local_main  # Andon moved no base itself
    pull = run.data["pipeline"]["pull"]
    assert pull["number"] == 1 and pull["url"].startswith(ff.forge.url)
    body = (ff.forge.pulls[1]["body"] if ff.kind == "github"  # type: ignore[attr-defined]
            else ff.forge.mrs[1]["description"])  # type: ignore[attr-defined]
    assert "greet change" in body and "`grep -q hello greet.txt`: passed" in body
    assert f"andon show {run_id}" in body
    steps = [(s.name, s.status) for s in ff.rows(m.Step, run_id) if s.kind == "forge"]
    assert (f"required check {ff.required}", "ok") in steps and ("merge", "ok") in steps


def test_a_failing_required_check_goes_back_to_the_agent(
        tmp_path: Path, ff: ForgeFactory) -> None:
    def ci(sha: str) -> dict[str, tuple[str, str]]:
        good = ff.file_at(sha, "greet.txt") == "hello\n"
        return {"ci": ("success", "ok") if good else ("failure", "test_greet: wrong text")}

    ff.require_ci(ci)
    attempts = [[{"text": "Writing.", "tool_use": [edit("greet.txt", "hello\nhelo\n")]},
                 {"text": "Done."}],
                [{"text": "Fixing.", "tool_use": [edit("greet.txt", "hello\n")]},
                 {"text": "Fixed."}]]
    run_id = ff.queue(tmp_path / "specs", "greet", attempts, CHECK)

    assert Pipeline(ff.home, ff.db, run_id).execute() == m.MERGED

    assert ff.run(run_id).attempt == 2
    assert ff.file_at(ff.remote_main(), "greet.txt") == "hello\n"
    assert ff.forge.calls["merge"] == 1  # the red head was never merged
    feedback = [e.message for e in ff.rows(m.Event, run_id) if e.kind == "attempt"]
    assert feedback == [f"attempt 2 of 3: required checks failed on {ff.name}: "
                        f"{ff.required}"]
    sent = [x.request for x in ff.rows(m.Exchange, run_id)]
    told = str(sent[-2]["messages"][-1])  # the second attempt opens with the CI's words
    assert "required checks failed" in told and "test_greet: wrong text" in told


def test_a_head_that_moves_between_check_and_merge_is_not_merged(
        tmp_path: Path, ff: ForgeFactory) -> None:
    run_id = ff.queue(tmp_path / "specs", "greet", GREET, CHECK)
    hold = ff.forge.hold("merge")  # the merge request waits here until released
    thread, status = in_thread(Pipeline(ff.home, ff.db, run_id))
    assert hold.arrived.wait(DEADLINE)
    foreign = ff.push_to_remote(tmp_path, f"andon/{run_id}", "extra.txt", "theirs\n")
    hold.release.set()
    thread.join(DEADLINE)

    assert status == [m.MERGED]
    assert ff.forge.calls["merge"] == 2  # refused (head moved), then the new head
    tip = ff.remote_main()
    assert git(ff.bare, "merge-base", "--is-ancestor", foreign, tip) == ""
    assert ff.file_at(tip, "extra.txt") == "theirs\n"
    assert checks_ran(ff, run_id) == ["ok", "ok"]  # checked again after taking it in


def test_a_base_that_moved_is_merged_in_and_checked_again(
        tmp_path: Path, ff: ForgeFactory) -> None:
    run_id = ff.queue(tmp_path / "specs", "greet", GREET, CHECK)
    opened = ff.forge.hold("create_pull", after=True)
    thread, status = in_thread(Pipeline(ff.home, ff.db, run_id))
    assert opened.arrived.wait(DEADLINE)
    other = ff.push_to_remote(tmp_path, "main", "other.txt", "landed meanwhile\n")
    opened.release.set()
    thread.join(DEADLINE)

    assert status == [m.MERGED]
    tip = ff.remote_main()
    assert ff.file_at(tip, "other.txt") == "landed meanwhile\n"
    assert ff.file_at(tip, "greet.txt") == "hello\n"
    assert git(ff.bare, "rev-parse", f"{tip}^1") == other  # merged onto the moved base
    assert checks_ran(ff, run_id) == ["ok", "ok"]
    assert ff.forge.calls["merge"] == 1


def test_a_crash_after_the_merge_request_merges_exactly_once(
        tmp_path: Path, ff: ForgeFactory) -> None:
    run_id = ff.queue(tmp_path / "specs", "greet", GREET, CHECK)
    # The forge merges, then the answer is lost with the engine going down.
    merged = ff.forge.hold("merge", after=True, drop=True)
    ctl, stop = control(ff.db, run_id)
    thread, status = in_thread(Pipeline(ff.home, ff.db, run_id, control=ctl))
    assert merged.arrived.wait(DEADLINE)
    stop.set()
    merged.release.set()
    thread.join(DEADLINE)
    assert status == [m.INTERRUPTED]
    run = ff.run(run_id)
    assert run.merge_commit is None and run.data["pipeline"]["merge_requested"]

    assert settle(ff.db, run_id).action == "resumed"
    assert Pipeline(ff.home, ff.db, run_id).execute() == m.MERGED

    assert ff.forge.calls["merge"] == 1
    assert ff.run(run_id).merge_commit == ff.remote_main()
    merges = [e.message for e in ff.rows(m.Event, run_id) if e.kind == "merge"]
    assert merges[-1].startswith(f"already merged on {ff.name} as ")


def test_forge_weather_holds_the_run_and_the_board_shows_the_wait(
        tmp_path: Path, ff: ForgeFactory) -> None:
    run_id = ff.queue(tmp_path / "specs", "greet", GREET, CHECK)
    ff.forge.fault("create_pull", 429, {"message": "API rate limit exceeded"},
                   {"Retry-After": "1"}, times=None)  # until the test clears it
    thread, status = in_thread(Pipeline(ff.home, ff.db, run_id))
    wait_until("the run is held", lambda: ff.run(run_id).status == m.HELD)
    reason = ff.run(run_id).reason or ""
    assert reason.startswith(f"held by {ff.name} weather:") and "429" in reason
    assert "trying again at" in reason and "(in 1s)" in reason
    ff.forge.clear_faults("create_pull")
    thread.join(DEADLINE)

    assert status == [m.MERGED]
    kinds = [e.kind for e in ff.rows(m.Event, run_id)]
    assert "run.held" in kinds and "run.running" in kinds


def test_a_token_without_permission_fails_the_run_naming_the_permission(
        tmp_path: Path, ff: ForgeFactory) -> None:
    ff.forge.deny("create_pull", "Resource not accessible by personal access token")
    run_id = ff.queue(tmp_path / "specs", "greet", GREET, CHECK)

    assert Pipeline(ff.home, ff.db, run_id).execute() == m.FAILED
    reason = ff.run(run_id).reason or ""
    needed = "Pull requests: write" if ff.kind == "github" else "the api scope"
    assert needed in reason and "acme/shop" in reason
    assert ff.forge.calls["merge"] == 0
