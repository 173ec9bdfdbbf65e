"""Ask for a line of text (a comment, a reason) in a modal; Escape cancels."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label

from andon.tui.widgets.dialog import HELP_KEY, Dialog


class TextPrompt(Dialog[str | None]):
    """Dismisses with the text (stripped), or None when cancelled. With `required`,
    an empty answer is refused with a hint instead of being returned."""

    DEFAULT_CSS = """
    TextPrompt { align: center middle; }
    TextPrompt > Vertical {
        width: 90%; max-width: 100; height: auto;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    TextPrompt Label { width: 1fr; }
    TextPrompt .hint { color: $text-muted; }
    TextPrompt .error { color: $error; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel"), HELP_KEY]

    def __init__(self, title: str, placeholder: str = "", *, required: bool = True,
                 value: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder
        self.required = required
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, markup=False)
            yield Input(value=self.value, placeholder=self.placeholder, id="prompt-input")
            yield Label("Enter to confirm · Escape to cancel", classes="hint", id="prompt-hint")
        yield self.key_bar()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if self.required and not text:
            hint = self.query_one("#prompt-hint", Label)
            hint.update("A comment is needed here (Escape to cancel).")
            hint.set_class(True, "error")
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)
