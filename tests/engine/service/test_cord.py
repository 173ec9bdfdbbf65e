"""The andon cord: who pulled it, when and why is stored; a running run holds at its next
step boundary while it is pulled and carries on when it is released."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlmodel import col, select

from andon.engine.factory.home import Home
from andon.engine.run.control import RunControl, cord_state
from andon.engine.service.cord import cord_history, cord_pulled, pull, release
from andon.store import models as m
from andon.store.db import Database
from tests.engine.gates.test_gate import make_run, run_row
from tests.tui.cli.test_policies import Result, cli


@pytest.fixture
def andon(home: Home, monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    return lambda *args: cli(home, *args, monkeypatch=monkeypatch, capsys=capsys)


def test_pull_and_release_store_who_when_and_why(db: Database) -> None:
    assert not cord_pulled(db)
    change = pull(db, "flaky deploys on main", user="alice")
    assert change.changed and cord_pulled(db)
    state = cord_state(db)
    assert state is not None
    assert (state["by"], state["reason"]) == ("alice", "flaky deploys on main")
    assert state["at"]
    again = pull(db, "second pull", user="bob")
    assert not again.changed and again.state == state  # the first pull stands

    assert release(db, user="bob", reason="fixed").changed
    assert not cord_pulled(db) and cord_state(db) is None
    assert not release(db, user="bob").changed
    history = cord_history(db)
    assert [(e.kind, e.data["by"]) for e in history] == [("cord.pulled", "alice"),
                                                          ("cord.released", "bob")]
    assert history[1].data["pulled_by"] == "alice" and history[1].data["reason"] == "fixed"


def test_stopping_in_a_hurry_needs_no_reason_and_one_may_follow(db: Database) -> None:
    change = pull(db, "  ", user="alice")
    assert change.changed and cord_pulled(db)
    assert cord_state(db)["reason"] is None  # type: ignore[index]  # pulled: a state
    later = pull(db, "main is red", user="alice")
    assert not later.changed and later.state["reason"] == "main is red"
    assert pull(db, "another story", user="bob").state["reason"] == "main is red"  # once
    assert [e.kind for e in cord_history(db)] == ["cord.pulled", "cord.reason"]


def test_a_running_run_holds_at_its_next_boundary_and_resumes_on_release(
        db: Database) -> None:
    run_id = make_run(db)
    control = RunControl(db, run_id)
    pull(db, "look at the failing build first", user="alice")
    passed = threading.Event()

    def next_step() -> None:
        control.boundary()
        passed.set()

    thread = threading.Thread(target=next_step, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while run_row(db, run_id).status != m.HELD and time.monotonic() < deadline:
        time.sleep(0.01)
    assert run_row(db, run_id).status == m.HELD
    assert not passed.wait(0.3)  # held: the next step does not start

    release(db, user="bob")
    assert passed.wait(5)
    thread.join(5)
    assert run_row(db, run_id).status == m.RUNNING
    with db.read() as s:
        kinds = [e.kind for e in s.exec(select(m.Event).where(m.Event.run_id == run_id)
                                        .order_by(col(m.Event.id))).all()]
    assert kinds == ["run.held", "run.running"]


def test_the_cord_from_the_command_line(andon: Callable[..., Result]) -> None:
    shown = andon("cord", "--json")
    assert shown.code == 0, shown.err
    assert shown.json() == {"pulled": False}

    hurried = andon("cord", "pull")
    assert hurried.code == 0, hurried.err
    assert "(no reason given yet)" in hurried.out and "--reason" in hurried.out

    pulled = andon("cord", "pull", "--reason", "release freeze")
    assert pulled.code == 0, pulled.err
    assert "PULLED" in pulled.out and "release freeze" in pulled.out
    state = andon("cord", "--json").json()
    assert state["pulled"] is True and state["reason"] == "release freeze"
    assert state["by"] and state["at"]

    released = andon("cord", "release", "--json")
    assert released.json() == {"pulled": False, "changed": True}
    assert "released" in andon("cord").out
