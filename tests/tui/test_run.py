"""The run screen: timeline, live transcript, diff, checks, and a person's actions."""

from __future__ import annotations

from typing import Any

from textual.widgets import TabbedContent

from andon.engine.run.log import RunLog
from andon.store import models as m
from andon.store.db import Database
from andon.tui.screens.run import RunScreen
from andon.tui.widgets.checks_view import ChecksTable
from andon.tui.widgets.confirm import Confirm
from andon.tui.widgets.diff_view import DiffView
from andon.tui.widgets.run_header import header_text, timeline_text
from andon.tui.widgets.text_prompt import TextPrompt
from andon.tui.widgets.transcript import TranscriptView
from tests.support.tui import (
    FROZEN_NOW,
    Seeded,
    _git,
    frozen_app,
    highlighted_command,
    settle,
    wait_for,
)


async def open_run(pilot: Any, run_id: int) -> RunScreen:
    await settle(pilot)
    pilot.app.open_run(run_id)
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, RunScreen)
    await wait_for(lambda: screen.loads > 0)
    return screen


def lines(view: TranscriptView) -> list[str]:
    """The transcript as a person reads it, top to bottom (every line, not only visible)."""
    out = []
    for entry in view.entries:
        out += [strip.text.rstrip() for strip in view._lines(entry, view._width)]
    return out


def gate(seeded: Seeded) -> m.Gate:
    with seeded.db.read() as s:
        row = s.get(m.Gate, seeded.gates["review"])
        assert row is not None
        return row


def run_row(seeded: Seeded, run_id: int) -> m.Run:
    with seeded.db.read() as s:
        row = s.get(m.Run, run_id)
        assert row is not None
        return row


async def test_timeline_header_and_streamed_transcript(seeded: Seeded) -> None:
    app = frozen_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(pilot, seeded.runs["running"])
        assert screen.detail is not None
        head = header_text(screen.detail).plain
        assert "#6 Add a slugify helper" in head
        assert "running · feature L2 · 3m30s · 4 turns · 12.3k tok · ~$0.04 sim" in head
        assert timeline_text(screen.detail, 120).plain.startswith(
            "●prepare 18s ─ –plan ─ ▶implement 3m12s ─ ·validate")

        view = screen.query_one(TranscriptView)
        shown = lines(view)
        # Two streamed pieces of one reply read as one paragraph.
        assert "  I'll read the module first, then add `slugify` next to `shout`." in shown
        # Tool calls are one line each until opened; a failure says its exit code.
        assert "14:59:00 ▸ $ python -m pytest -q  exit 1" in shown
        assert "14:59:30 ▸ $ python -m pytest -q tests/test_slug.py  running…" in shown
        assert not any("AssertionError" in line for line in shown)

        # Open the failed call: its input and its output show.
        index = next(i for i, e in enumerate(view.entries) if e.title == "$ python -m pytest -q")
        view.cursor = index
        await pilot.press("enter")
        shown = lines(view)
        assert "    command: python -m pytest -q" in shown
        assert any("AssertionError: 'hello,-world' != 'hello-world'" in ln for ln in shown)
        await pilot.press("enter")
        assert not any("AssertionError" in line for line in lines(view))


async def test_the_transcript_follows_new_text_and_steps(seeded: Seeded) -> None:
    app = frozen_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(pilot, seeded.runs["running"])
        view = screen.query_one(TranscriptView)
        log = RunLog(seeded.db, seeded.runs["running"])
        log.stage = "implement"
        log.event("model.text", "All green now; ", turn=4)
        log.event("model.text", "committing.", turn=4)
        with log.step("tool", "bash", input={"command": "git status"}) as step:
            step.output = "nothing to commit"
        await wait_for(lambda: "  All green now; committing." in lines(view))
        await wait_for(lambda: any("▸ $ git status  ok" in ln for ln in lines(view)))
        # The step that was running finished meanwhile: its line changes in place.
        with seeded.db.write() as s:
            row = s.get(m.Step, 4)
            assert row is not None and row.status == "running"
            row.status, row.output, row.exit_code = "ok", "1 passed", 0
            row.finished_at = FROZEN_NOW
        await wait_for(lambda: any("tests/test_slug.py  ok" in ln for ln in lines(view)))
        assert view.follow and view.cursor == len(view.entries) - 1


async def test_diff_of_a_live_worktree_with_new_files(seeded: Seeded) -> None:
    app = frozen_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(pilot, seeded.runs["running"])
        await pilot.press("2")
        diff = screen.query_one(DiffView)
        await wait_for(lambda: diff.diff is not None)
        assert diff.diff is not None
        files = {f.path: (f.added, f.removed, f.status) for f in diff.diff.files}
        assert files == {"sample/text.py": (7, 0, "modified"),
                         "tests/test_slug.py": (5, 0, "added")}
        assert diff.diff.source.startswith("worktree vs ")
        # Reading the diff never touched the agent's index: nothing was staged.
        assert _git(seeded.home.root / "git" / "worktrees" / "run-6", "diff", "--cached",
                    "--name-only") == ""


async def test_diff_of_a_merged_run_is_its_merge(seeded: Seeded) -> None:
    repo = seeded.repo
    assert repo is not None
    worktree = seeded.home.root / "git" / "worktrees" / "run-6"
    _git(worktree, "add", "-A")
    _git(worktree, "commit", "-q", "-m", "slugify")
    head = _git(worktree, "rev-parse", "HEAD")
    _git(repo, "merge", "-q", "--no-ff", "-m", "merge run 6", head)
    merge = _git(repo, "rev-parse", "HEAD")
    _git(repo, "worktree", "remove", "--force", str(worktree))
    with seeded.db.write() as s:
        run = s.get(m.Run, seeded.runs["running"])
        assert run is not None
        run.status, run.merge_commit, run.head_commit = m.MERGED, merge, head
        run.finished_at = run.merged_at = FROZEN_NOW
    app = frozen_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(pilot, seeded.runs["running"])
        await pilot.press("2")
        diff = screen.query_one(DiffView)
        await wait_for(lambda: diff.diff is not None)
        assert diff.diff is not None
        assert [f.path for f in diff.diff.files] == ["sample/text.py", "tests/test_slug.py"]
        assert diff.diff.source == f"merge {merge[:10]}"


async def test_checks_and_scenario_titles_only(seeded: Seeded) -> None:
    app = frozen_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(pilot, seeded.runs["waiting"])
        await pilot.press("3")
        table = screen.query_one(ChecksTable)
        await wait_for(lambda: table.row_count == 3)
        rows = [[str(getattr(c, "plain", c)) for c in table.get_row_at(i)]
                for i in range(3)]
        assert rows[0][:3] == ["check", "python -m pytest -q", "passed"]
        assert rows[1][:3] == ["scenario", "Loading a YAML config still works", "passed"]
        assert rows[2][:3] == ["scenario", "Unsafe YAML tags are refused", "failed"]
        summary = str(screen.query_one("#checks-summary").render())
        assert "checks 1/1 passed" in summary and "satisfaction 50%" in summary
        table.move_cursor(row=2)
        await pilot.pause()
        log = screen.query_one("#check-output")
        text = " ".join(str(line.text) for line in log.lines)
        assert "stay hidden" in text and "(hidden)" not in text


async def test_approve_the_open_gate(seeded: Seeded) -> None:
    app = frozen_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(pilot, seeded.runs["waiting"])
        assert str(screen.query_one("#gate-bar").render()).startswith("⚑ review gate 1")
        await pilot.press("a")
        await wait_for(lambda: gate(seeded).status == m.APPROVED)
        assert run_row(seeded, seeded.runs["waiting"]).human_touched
        await wait_for(lambda: not screen.query_one("#gate-bar").has_class("-shown"))
        assert screen.check_action("approve", ()) is False


async def test_approving_an_action_from_the_run_shows_the_command_first(
        seeded: Seeded) -> None:
    from textual.widgets import Static

    from andon.tui.widgets.gate_confirm import ApproveGateScreen
    from andon.tui.widgets.gate_detail import plain_text

    db = Database(seeded.home.db_path)
    with db.write() as s:
        review = s.get(m.Gate, 1)
        review.status = m.APPROVED  # the review is decided: an action gate is next
        action = m.Gate(run_id=seeded.runs["waiting"], kind="action", stage="implement",
                        title="bash: rm -rf build", detail={"command": "rm -rf build"},
                        created_at=FROZEN_NOW)
        s.add(action)
        s.flush()
        action_id = action.id
    app = frozen_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_run(pilot, seeded.runs["waiting"])
        await pilot.press("a")
        await wait_for(lambda: isinstance(app.screen, ApproveGateScreen))
        shown = plain_text(app.screen.query_one("#approve-change", Static).content)
        assert "$ rm -rf build" in shown
        await pilot.press("n")  # not yet: nothing is decided
        assert db_gate(db, action_id).status == m.PENDING
        await pilot.press("a")
        await wait_for(lambda: isinstance(app.screen, ApproveGateScreen))
        await pilot.press("y")
        await wait_for(lambda: db_gate(db, action_id).status == m.APPROVED)
    db.close()


def db_gate(db: Database, gate_id: int | None) -> m.Gate:
    with db.read() as s:
        return s.get(m.Gate, gate_id)


async def test_reject_needs_a_comment(seeded: Seeded) -> None:
    app = frozen_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_run(pilot, seeded.runs["waiting"])
        await pilot.press("x")
        assert isinstance(app.screen, TextPrompt)
        await pilot.press("enter")  # empty: refused, the prompt stays
        assert isinstance(app.screen, TextPrompt)
        await pilot.press(*"too old", "enter")
        await wait_for(lambda: gate(seeded).status == m.GATE_REJECTED)
        assert gate(seeded).comment == "too old"


async def test_revise_sends_the_change_back_with_a_comment(seeded: Seeded) -> None:
    app = frozen_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_run(pilot, seeded.runs["waiting"])
        await pilot.press("e", *"pin it", "enter")
        await wait_for(lambda: gate(seeded).status == m.REVISED)
        assert gate(seeded).comment == "pin it"


async def test_escape_in_a_prompt_decides_nothing(seeded: Seeded) -> None:
    app = frozen_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(pilot, seeded.runs["waiting"])
        await pilot.press("x", "n", "escape")
        assert app.screen is screen
        await settle(pilot)
        assert gate(seeded).status == m.PENDING


async def test_cancel_a_running_run_after_confirming(seeded: Seeded) -> None:
    app = frozen_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(pilot, seeded.runs["running"])
        await pilot.press("c")
        assert isinstance(app.screen, Confirm)
        await pilot.press("n")
        await settle(pilot)
        assert not run_row(seeded, seeded.runs["running"]).cancel_requested
        await pilot.press("c", "y")
        await wait_for(lambda: run_row(seeded, seeded.runs["running"]).cancel_requested)
        # The engine stops it at its next step; until then the screen says so.
        await wait_for(lambda: "cancel requested" in header_text(screen.detail).plain)
        assert screen.check_action("cancel_run", ()) is False


async def test_cancel_a_queued_run_ends_it_at_once(seeded: Seeded) -> None:
    app = frozen_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_run(pilot, seeded.runs["queued"])
        await pilot.press("c", "y")
        await wait_for(lambda: run_row(seeded, seeded.runs["queued"]).status == m.CANCELLED)


async def test_retry_queues_the_spec_again_and_shows_the_new_run(seeded: Seeded) -> None:
    app = frozen_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(pilot, seeded.runs["failed"])
        assert screen.check_action("retry", ()) is True
        await pilot.press("t")
        await wait_for(lambda: isinstance(app.screen, RunScreen) and app.screen is not screen)
        new = app.screen
        assert isinstance(new, RunScreen)
        row = run_row(seeded, new.run_id)
        old = run_row(seeded, seeded.runs["failed"])
        assert (row.status, row.spec_id, row.title) == (m.QUEUED, old.spec_id, old.title)
        await pilot.press("escape")  # back to the board, not to the old run
        assert not isinstance(app.screen, RunScreen)


async def test_revert_asks_first_and_says_why_it_cannot(seeded: Seeded) -> None:
    """The seeded dark run records no merge commit, so the engine refuses, plainly."""
    app = frozen_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(pilot, seeded.runs["dark"])
        assert screen.check_action("revert", ()) is True
        assert screen.check_action("retry", ()) is False
        await pilot.press("R")
        await settle(pilot)
        assert app.screen is not screen  # a confirmation first
        await pilot.press("y")
        await wait_for(lambda: any("revert it with git" in n.message
                                   for n in app._notifications))
        assert app.screen is screen
        assert run_row(seeded, seeded.runs["dark"]).status == m.MERGED


async def test_run_actions_are_in_the_palette(seeded: Seeded) -> None:
    app = frozen_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(pilot, seeded.runs["waiting"])
        names = [c.name for c in screen.palette_commands()]
        assert "Approve gate 1" in names and "Cancel run 5" in names
        assert not any(n.startswith("Retry") for n in names)
        await pilot.press("ctrl+p", *"approve")
        await wait_for(lambda: (highlighted_command(app) or "").startswith("Approve gate"))
        await pilot.press("enter")
        await wait_for(lambda: gate(seeded).status == m.APPROVED)


async def test_tabs_by_number_and_an_unknown_run(seeded: Seeded) -> None:
    app = frozen_app(seeded)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_run(pilot, seeded.runs["running"])
        tabs = screen.query_one(TabbedContent)
        for key, name in (("2", "diff"), ("3", "checks"), ("1", "transcript")):
            await pilot.press(key)
            assert tabs.active == name
        await pilot.press("escape")
        app.open_run(999)
        await settle(pilot)
        assert "There is no run 999." in str(app.screen.query_one("#run-header").render())


async def test_a_long_transcript_loads_its_newest_page_and_earlier_ones_on_home(
        seeded: Seeded) -> None:
    from datetime import timedelta

    run_id = seeded.runs["unknown"]
    with seeded.db.write() as s:
        s.add_all([m.Event(run_id=run_id, kind="model.text", stage="implement",
                           message=f"thought {i}", data={"turn": 100 + i},
                           ts=FROZEN_NOW - timedelta(seconds=3000 - i)) for i in range(2500)])
    app = frozen_app(seeded)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_run(pilot, run_id)
        view = screen.query_one(TranscriptView)
        await wait_for(lambda: view.entries)
        assert view.truncated
        assert view.entries[0].title.startswith("earlier entries are not loaded")
        assert not any(e.body == "thought 0" for e in view.entries)
        assert any(e.body == "thought 2499" for e in view.entries)
        await pilot.press("home")  # to the first entry loaded
        await pilot.press("home")  # and once more at the top: the page before
        await wait_for(lambda: any(e.body == "thought 0" for e in view.entries))
        assert not view.truncated
        assert view.entries[0].title != "earlier entries are not loaded"
        bodies = [e.body for e in view.entries if e.body.startswith("thought")]
        assert bodies == [f"thought {i}" for i in range(2500)]
