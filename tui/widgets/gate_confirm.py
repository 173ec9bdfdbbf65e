"""Approve an action gate only after seeing exactly what it lets through."""

from __future__ import annotations

from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from andon.store import models as m
from andon.tui.widgets.gate_detail import exact_change


class ApproveGateScreen(ModalScreen[bool]):
    """Shows the exact command or diff of an action gate; dismisses True to approve."""

    DEFAULT_CSS = """
    ApproveGateScreen { align: center middle; }
    ApproveGateScreen > Vertical {
        width: 90%; max-width: 120; height: auto; max-height: 90%;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    ApproveGateScreen #approve-title { text-style: bold; width: 1fr; }
    ApproveGateScreen VerticalScroll { height: auto; max-height: 20; margin: 1 0; }
    ApproveGateScreen Horizontal { height: auto; align-horizontal: right; }
    ApproveGateScreen Button { margin-left: 1; }
    """
    BINDINGS = [
        Binding("y", "approve", "Approve", show=True),
        Binding("n,escape", "cancel", "Cancel", show=True),
    ]

    def __init__(self, gate: m.Gate) -> None:
        super().__init__()
        self.gate = gate

    def compose(self) -> ComposeResult:
        change = exact_change(self.gate)
        lexer = "diff" if ("\n@@" in change or change.startswith(("diff", "---"))) else "bash"
        with Vertical():
            yield Label(f"Approve gate {self.gate.id} ({self.gate.kind})? "
                        "This is exactly what it lets through:", id="approve-title")
            with VerticalScroll():
                yield Static(Syntax(change, lexer, theme="ansi_dark", word_wrap=True,
                                    background_color="default"), id="approve-change")
            with Horizontal():
                yield Button("Approve [y]", variant="success", id="approve-yes")
                yield Button("Cancel [n]", id="approve-no")

    def on_mount(self) -> None:
        self.query_one("#approve-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "approve-yes")

    def action_approve(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
