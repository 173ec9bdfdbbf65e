"""A yes/no question before an action that stops work (cancelling a run)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label

from andon.tui.widgets.dialog import HELP_KEY, Dialog


class SpecConfirmScreen(Dialog[bool]):
    DEFAULT_CSS = """
    SpecConfirmScreen { align: center middle; }
    SpecConfirmScreen > Vertical {
        width: 80%; max-width: 90; height: auto;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    SpecConfirmScreen Label { width: 1fr; }
    SpecConfirmScreen .hint { color: $text-muted; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
        HELP_KEY,
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, id="confirm-question", markup=False)
            yield Label("y: yes · n or Escape: no", classes="hint")
        yield self.key_bar()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
