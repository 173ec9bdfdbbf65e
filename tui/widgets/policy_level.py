"""Confirm a level change with the facts in view: the category's track record and what
Andon recommends. A level change is an audited decision: it needs a reason, as in the CLI
(`andon level`). Dismisses with the reason, or None to cancel."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label, Static

from andon.policies.level import Level
from andon.tui.widgets.dialog import HELP_KEY, Dialog
from andon.tui.widgets.policy_detail import PolicyFacts, recommendation_text, record_text


class PolicyLevelScreen(Dialog[str | None]):
    DEFAULT_CSS = """
    PolicyLevelScreen { align: center middle; }
    PolicyLevelScreen > Vertical {
        width: 90%; max-width: 110; height: auto; max-height: 95%;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    PolicyLevelScreen #level-change { text-style: bold; width: 1fr; }
    PolicyLevelScreen Static { width: 1fr; margin-bottom: 1; }
    PolicyLevelScreen .hint { color: $text-muted; }
    PolicyLevelScreen #level-error { color: $error; display: none; }
    PolicyLevelScreen #level-error.-shown { display: block; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel"), HELP_KEY]

    def __init__(self, facts: PolicyFacts, to_level: Level) -> None:
        super().__init__()
        self.facts = facts
        self.to_level = to_level

    def compose(self) -> ComposeResult:
        policy = self.facts.policy
        now = Level(policy.level)
        rec = self.facts.recommendation
        verb = "Promote" if self.to_level > now else "Demote"
        warning = Text()
        if self.to_level > now and not (rec.promote and rec.to_level == self.to_level):
            warning.append("Andon does not recommend this promotion.\n", style="bold red")
        with Vertical():
            yield Label(f"{verb} {policy.category}: {now.title} → {self.to_level.title}?",
                        id="level-change", markup=False)
            yield Static(Text.assemble(Text("track record\n", style="bold underline"),
                                       record_text(self.facts.record)), id="level-record")
            yield Static(Text.assemble(warning, recommendation_text(rec)),
                         id="level-recommendation")
            yield Input(placeholder="why? (required, kept in the audit log)",
                        id="level-reason")
            yield Label("A level change is an audited decision: say why, or Escape.",
                        id="level-error")
            yield Label(f"Enter: {verb.lower()} · Escape: cancel", classes="hint")
        yield self.key_bar()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        reason = event.value.strip()
        if not reason:
            self.query_one("#level-error", Label).set_class(True, "-shown")
            return
        self.dismiss(reason)

    def action_cancel(self) -> None:
        self.dismiss(None)
