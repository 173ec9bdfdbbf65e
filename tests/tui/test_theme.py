"""A light and a dark theme both readable, chosen in the control room and remembered for
the person (their own config folder, not the factory's andon.toml); the diff's colours
come from the theme, and change with it."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from textual.widgets import RichLog

from andon.tui.screens.run import RunScreen
from andon.tui.widgets.diff_view import DiffView
from tests.support.tui import Seeded, frozen_app, highlighted_command, settle, wait_for


def added_backgrounds(body: RichLog) -> set[str]:
    """The background colours of the diff's added lines, as shown."""
    out = set()
    for strip in body.lines:
        segments = list(strip)
        if segments and segments[0].text.startswith("+") and segments[0].style is not None:
            bg = segments[0].style.bgcolor
            if bg is not None and bg.triplet is not None:
                out.add(bg.triplet.hex.upper())
    return out


async def test_the_diff_takes_the_themes_colours(seeded: Seeded) -> None:
    app = frozen_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_run(seeded.runs["running"])
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunScreen)
        await pilot.press("2")
        body = screen.query_one(DiffView).query_one(RichLog)
        dark = app.get_css_variables()["success-muted"].upper()
        await wait_for(lambda: added_backgrounds(body) == {dark})

        app.theme = "textual-light"
        light = app.get_css_variables()["success-muted"].upper()
        assert light != dark
        await wait_for(lambda: added_backgrounds(body) == {light})


async def test_a_theme_chosen_in_the_control_room_is_remembered_for_the_person(
        seeded: Seeded, own_config_folder: Path) -> None:
    stored = own_config_folder / "andon" / "tui.toml"
    app = frozen_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.theme == "textual-dark" and not stored.exists()  # nothing chosen yet
        await pilot.press("ctrl+p", *"light theme")
        await wait_for(lambda: (highlighted_command(app) or "").startswith("Switch to a light"))
        await pilot.press("enter")
        await wait_for(lambda: stored.exists())
        assert tomllib.loads(stored.read_text()) == {"theme": "textual-light"}
        assert app.theme == "textual-light"
    assert not (seeded.home.root / "andon.toml").exists() or \
        "theme" not in (seeded.home.root / "andon.toml").read_text()

    again = frozen_app(seeded)
    async with again.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert again.theme == "textual-light"  # the next session opens as left


async def test_a_broken_preferences_file_is_no_crash(seeded: Seeded,
                                                      own_config_folder: Path) -> None:
    stored = own_config_folder / "andon" / "tui.toml"
    stored.parent.mkdir(parents=True)
    stored.write_text("theme = \n")
    app: Any = frozen_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.theme == "textual-dark"
