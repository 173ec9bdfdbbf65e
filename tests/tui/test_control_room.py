"""The control room's small promises at 80x24: the palette's screenshot says where it
went (and goes somewhere that exists), Quit is offered once, a decision is told once,
the cord shows and answers on a run's screen, a key the run cannot take says why, and
the cancel question starts on "no"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Button, Label
from textual.widgets._footer import FooterKey

from andon.engine.service.cord import pull
from andon.store import models as m
from andon.tui.screens.run import RunScreen
from andon.tui.widgets.confirm import Confirm
from tests.support.tui import Seeded, frozen_app, highlighted_command, settle, wait_for
from tests.tui.test_keys import footer_keys


def messages(app: Any) -> list[str]:
    return [n.message for n in app._notifications]


async def open_run(pilot: Any, run_id: int) -> RunScreen:
    await settle(pilot)
    pilot.app.open_run(run_id)
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, RunScreen)
    await wait_for(lambda: screen.loads > 0)
    return screen


def person_without_downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    person = tmp_path / "person"
    person.mkdir()
    monkeypatch.setenv("HOME", str(person))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(person / ".config"))
    return person


async def palette_titles(app: Any, pilot: Any, query: str) -> list[str]:
    from textual.command import CommandList

    await pilot.press("ctrl+p", *query)
    await wait_for(lambda: highlighted_command(app) is not None)
    options = app.screen.query_one(CommandList)
    return [str(options.get_option_at_index(i).prompt).splitlines()[0]
            for i in range(options.option_count)]


async def test_the_palette_screenshot_goes_where_a_folder_exists_and_says_where(
        seeded: Seeded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    person = person_without_downloads(tmp_path, monkeypatch)
    app = frozen_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        assert "Screenshot" in await palette_titles(app, pilot, "screenshot")
        await pilot.press("enter")
        await wait_for(lambda: any("Screenshot saved to" in n for n in messages(app)))
        said = next(n for n in messages(app) if "Screenshot saved to" in n)
        saved = Path(said.removeprefix("Screenshot saved to "))
        assert saved.parent == seeded.home.root / "screenshots"  # no ~/Downloads here
        assert saved.read_text(encoding="utf-8").startswith("<svg")

        (person / "Downloads").mkdir()
        assert app.screenshot_folder() == person / "Downloads"


async def test_quit_is_offered_once(seeded: Seeded) -> None:
    app = frozen_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        titles = await palette_titles(app, pilot, "quit")
        assert titles.count("Quit") == 1
        await pilot.press("escape")


async def test_a_decision_on_the_run_screen_is_told_once(seeded: Seeded) -> None:
    app = frozen_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_run(pilot, seeded.runs["waiting"])
        await pilot.press("a")
        await wait_for(lambda: any("approved" in n for n in messages(app)))
        await settle(pilot)
        assert [n for n in messages(app) if "approved" in n] == ["gate 1 approved by " +
                                                                 _decider(seeded)]


def _decider(seeded: Seeded) -> str:
    with seeded.db.read() as s:
        gate = s.get(m.Gate, 1)
        assert gate is not None and gate.decided_by
        return gate.decided_by


async def test_a_cord_pulled_elsewhere_shows_on_an_open_run_and_c_releases_it_there(
        seeded: Seeded) -> None:
    app = frozen_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_run(pilot, seeded.runs["waiting"])
        bar = screen.query_one("#cord-bar", Label)
        assert not bar.has_class("-shown")
        await wait_for(lambda: "C" in footer_keys(screen))
        await settle(pilot)
        (cord,) = [k for k in screen.query(FooterKey) if k.key == "C"]
        assert 0 < cord.region.right <= 80  # in view at 80 columns, beside the gate's keys
        pull(seeded.db, "bad deploy", user="ana")  # as `andon cord pull` does
        await wait_for(lambda: bar.has_class("-shown"))
        assert str(bar.render()) == ("CORD PULLED by ana: bad deploy · this run holds at "
                                     "its next step · C releases it")
        await pilot.press("C")
        await wait_for(lambda: not bar.has_class("-shown"))


async def test_cancel_on_a_merged_run_says_why_and_the_key_bar_does_not_offer_it(
        seeded: Seeded) -> None:
    app = frozen_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_run(pilot, seeded.runs["dark"])
        assert "c" not in footer_keys(screen)
        await pilot.press("c")
        await wait_for(lambda: any("only an active run can be cancelled" in n
                                   for n in messages(app)))
        assert app.screen is screen  # no question asked: there is nothing to cancel
        assert f"Run {seeded.runs['dark']} is merged: only an active run can be " \
               "cancelled." in messages(app)


async def test_the_cancel_question_starts_on_no(seeded: Seeded) -> None:
    app = frozen_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_run(pilot, seeded.runs["running"])
        await pilot.press("c")
        await wait_for(lambda: isinstance(app.screen, Confirm))
        await settle(pilot)
        focused = app.screen.focused
        assert isinstance(focused, Button) and focused.id == "no"
        await pilot.press("enter")  # Enter alone answers no
        await wait_for(lambda: app.screen is screen)
        await settle(pilot)
        with seeded.db.read() as s:
            run = s.get(m.Run, seeded.runs["running"])
            assert run is not None and not run.cancel_requested
