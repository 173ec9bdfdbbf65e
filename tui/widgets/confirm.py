"""Yes or no for an action that cannot be taken back (cancel a run, revert a merge)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Label

from andon.tui.widgets.dialog import HELP_KEY, Dialog


class Confirm(Dialog[bool]):
    DEFAULT_CSS = """
    Confirm { align: center middle; }
    Confirm > Vertical {
        width: 90%; max-width: 80; height: auto;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    Confirm Label { width: 1fr; }  /* the question wraps, never cut at 80 columns */
    Confirm Horizontal { height: auto; align-horizontal: right; }
    Confirm Button { margin: 0 1; min-width: 10; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
        HELP_KEY,
    ]

    AUTO_FOCUS = "#no"  # Enter alone must not take the step that cannot be undone

    def __init__(self, question: str, yes: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, markup=False)
            with Horizontal():
                yield Button(f"{self.yes} (y)", variant="warning", id="yes")
                yield Button("No (n)", id="no")
        yield self.key_bar()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
