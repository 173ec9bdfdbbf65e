"""Approve an action gate only after seeing exactly what it lets through.

At 80x24 a long diff scrolls inside the dialog while the Approve and Cancel buttons stay
in view below it; the key bar names y, n, the scrolling keys and `?`.
"""

from __future__ import annotations

from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.widgets import Button, Label, Static

from andon.store import models as m
from andon.tui.widgets.colours import syntax_theme
from andon.tui.widgets.dialog import HELP_KEY, Dialog
from andon.tui.widgets.gate_detail import exact_change


class ApproveGateScreen(Dialog[bool]):
    """Shows the exact command or diff of an action gate; dismisses True to approve."""

    DEFAULT_CSS = """
    ApproveGateScreen { align: center middle; }
    ApproveGateScreen #approve-box {
        width: 90%; max-width: 120; height: auto; max-height: 100%;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    ApproveGateScreen #approve-title { text-style: bold; width: 1fr; margin-bottom: 1; }
    ApproveGateScreen #approve-buttons { dock: bottom; height: auto;
                                         align-horizontal: right; }
    ApproveGateScreen Button { margin-left: 1; }
    """
    BINDINGS = [
        Binding("y", "approve", "Approve"),
        Binding("n,escape", "cancel", "Cancel", key_display="n"),
        Binding("down,j", "scroll('down')", "Scroll", show=False),
        Binding("up,k", "scroll('up')", "Scroll up", show=False),
        Binding("pagedown,space", "scroll('page_down')", "Page down", key_display="PgDn"),
        Binding("pageup", "scroll('page_up')", "Page up", show=False),
        Binding("home", "scroll('home')", "Top", show=False),
        Binding("end", "scroll('end')", "Bottom", show=False),
        HELP_KEY,
    ]

    def __init__(self, gate: m.Gate) -> None:
        super().__init__()
        self.gate = gate

    def compose(self) -> ComposeResult:
        change = exact_change(self.gate)
        lexer = "diff" if ("\n@@" in change or change.startswith(("diff", "---"))) else "bash"
        with VerticalScroll(id="approve-box"):
            yield Label(f"Approve gate {self.gate.id} ({self.gate.kind})? "
                        "This is exactly what it lets through:", id="approve-title",
                        markup=False)
            yield Static(Syntax(change, lexer, theme=syntax_theme(self.app), word_wrap=True,
                                background_color="default"), id="approve-change")
            with Horizontal(id="approve-buttons"):
                yield Button(Content("Approve [y]"), variant="success", id="approve-yes",
                             compact=True)
                yield Button(Content("Cancel [n]"), id="approve-no", compact=True)
        yield self.key_bar()

    def on_mount(self) -> None:
        self.query_one("#approve-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "approve-yes")

    def action_approve(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)

    def action_scroll(self, where: str) -> None:
        box = self.query_one("#approve-box", VerticalScroll)
        {"down": box.scroll_down, "up": box.scroll_up, "page_down": box.scroll_page_down,
         "page_up": box.scroll_page_up, "home": box.scroll_home,
         "end": box.scroll_end}[where](animate=False)
