"""Reject (or send back for revision) a gate with a comment: the reason is stored with
the decision, and the agent or the run is told it, so it may not be blank."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label

from andon.tui.widgets.dialog import HELP_KEY, Dialog


class GateCommentScreen(Dialog[str | None]):
    """An Input for the comment: Enter decides with it, Escape cancels (None)."""

    DEFAULT_CSS = """
    GateCommentScreen { align: center middle; }
    GateCommentScreen > Vertical {
        width: 80%; max-width: 100; height: auto;
        border: thick $error; background: $surface; padding: 0 1;
    }
    GateCommentScreen Label { width: 1fr; }
    GateCommentScreen .hint { color: $text-muted; }
    GateCommentScreen #comment-problem { color: $error; text-style: bold; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel"), HELP_KEY]

    def __init__(self, verb: str, gate_id: int, title: str) -> None:
        super().__init__()
        self.verb = verb
        self.gate_id = gate_id
        self.gate_title = title

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"{self.verb.capitalize()} gate {self.gate_id}: {self.gate_title}",
                        markup=False)
            what = "what should change?" if self.verb == "revise" else "why?"
            yield Input(placeholder=f"{what} (stored with the decision)",
                        id="gate-comment")
            yield Label("", id="comment-problem")
            yield Label(f"Enter: {self.verb} · Escape: cancel", classes="hint")
        yield self.key_bar()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            self.query_one("#comment-problem", Label).update(
                f"A comment is needed to {self.verb}: the run is told it.")
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)
