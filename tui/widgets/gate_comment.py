"""Reject a gate with a comment: the reason is stored with the decision and the run."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class RejectGateScreen(ModalScreen[str | None]):
    """An Input for the comment: Enter rejects with it, Escape cancels (None)."""

    DEFAULT_CSS = """
    RejectGateScreen { align: center middle; }
    RejectGateScreen > Vertical {
        width: 80%; max-width: 100; height: auto;
        border: thick $error; background: $surface; padding: 0 1;
    }
    RejectGateScreen Label { width: 1fr; }
    RejectGateScreen .hint { color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, gate_id: int, title: str) -> None:
        super().__init__()
        self.gate_id = gate_id
        self.gate_title = title

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Reject gate {self.gate_id}: {self.gate_title}")
            yield Input(placeholder="why? (stored with the decision)", id="reject-comment")
            yield Label("Enter rejects · Escape cancels", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
