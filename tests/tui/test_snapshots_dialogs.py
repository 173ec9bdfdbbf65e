"""Screenshots at 80x24 (a terminal over SSH) of the screens the other snapshot files
leave out (specs, history) and of every dialog, each with its confirm key in view. Each
picture must be the same every time it is taken (frozen clock, steady cursor): run this
file five times before landing a change to it.

Same seeded factory and frozen clock as tests/tui/test_snapshots.py. Update with
`pytest tests/tui/test_snapshots_dialogs.py --snapshot-update` after a deliberate
change, and look at the SVGs before committing them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input

from andon.store import models as m
from tests.support.tui import Seeded, at, frozen_app, settle

SIZE = (80, 24)
LONG_PREVIEW = "--- a/sample/text.py\n+++ b/sample/text.py\n@@ -1,3 +1,40 @@\n" + "\n".join(
    f"+line {i}" for i in range(60))


@pytest.fixture(autouse=True)
def _fixed_look(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANDON_THEME", "textual-dark")
    monkeypatch.chdir("/")  # the submit dialog names the folder paths are relative to


def with_edit_gate(seeded: Seeded) -> Seeded:
    """An edit waiting at an action gate, with a diff longer than the screen."""
    with seeded.db.write() as s:
        s.add(m.Gate(run_id=seeded.runs["running"], kind="action", stage="implement",
                     title="edit sample/text.py",
                     detail={"tool": "str_replace_based_edit_tool", "action": "edit",
                             "input": {"command": "create", "path": "sample/text.py"},
                             "preview": LONG_PREVIEW},
                     created_at=at(0.5)))
    return seeded


def keys(seeded: Seeded, pressed: tuple[str, ...]) -> Any:
    """Press these keys in turn ("run:NAME" opens the seeded run NAME), settling after
    each."""
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        for key in pressed:
            if key.startswith("run:"):
                pilot.app.open_run(seeded.runs[key[4:]])
            else:
                await pilot.press(key)
            await settle(pilot, rounds=6)
        # A text box's cursor blinks on a timer: shown steady, a picture is the same
        # every time it is taken.
        for box in pilot.app.screen.query(Input):
            box.cursor_blink = False
        await settle(pilot)

    return run_before


CASES = {
    "specs": ("s",),
    "history": ("h",),
    "help": ("question_mark",),
    "approve_edit": ("g", "j", "a"),
    "approve_edit_help": ("g", "j", "a", "question_mark"),
    "gate_comment": ("g", "x"),
    "cancel_run": ("run:running", "c"),
    "reject_prompt": ("run:waiting", "x"),
    "cord_prompt": ("C",),
    "spec_submit": ("s", "n"),
    "cancel_queued": ("s", "2", "c"),
    "level_change": ("p", "plus"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_at_80x24(snap_compare: Any, seeded: Seeded, case: str) -> None:
    app = frozen_app(with_edit_gate(seeded))
    assert snap_compare(app, terminal_size=SIZE, run_before=keys(seeded, CASES[case]))


def test_every_dialog_is_covered() -> None:
    """A new dialog gets a case here (its confirm key must show at 80x24)."""
    widgets = Path(__file__).resolve().parents[2] / "tui" / "widgets"
    dialogs = sorted(p.stem for p in widgets.glob("*.py") if "(Dialog[" in p.read_text())
    assert dialogs == ["confirm", "gate_comment", "gate_confirm", "policy_level",
                       "spec_confirm", "spec_submit", "text_prompt"]
