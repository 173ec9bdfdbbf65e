"""The gates inbox ("needs you"): pending gates oldest first, what each asks, and one key
to open its run, approve it, reject it or send it back with a comment.

Decisions go through `engine.gates.gate.decide_gate` as the OS user, which enforces the
category's approvers; a refusal shows as a notification. All store work happens in
thread workers that post messages back; the app's `worker_failed` reports failures.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.message import Message
from textual.widgets import DataTable, Header, Label

from andon.engine.gates.gate import REVISABLE, decide_gate
from andon.policies.stored import current_user
from andon.store import models as m
from andon.store.clock import utcnow
from andon.store.db import Database
from andon.tui.commands import PaletteCommand
from andon.tui.data.gates import GateItem, pending_gates
from andon.tui.screens.base import StoreScreen
from andon.tui.widgets.footer import KeyBar
from andon.tui.widgets.gate_comment import GateCommentScreen
from andon.tui.widgets.gate_confirm import ApproveGateScreen
from andon.tui.widgets.gate_detail import GateDetail
from andon.tui.widgets.gate_table import GateTable


class GatesLoaded(Message):
    def __init__(self, items: list[GateItem], now: datetime) -> None:
        self.items = items
        self.now = now
        super().__init__()


class GateDecided(Message):
    def __init__(self, gate_id: int, verdict: str, user: str) -> None:
        self.gate_id = gate_id
        self.verdict = verdict
        self.user = user
        super().__init__()


class GatesScreen(StoreScreen):
    """The "needs you" inbox."""

    AUTO_FOCUS = "#gate-list"
    SUB_TITLE = "gates · needs you"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    DEFAULT_CSS = """
    GatesScreen #gates-body { layout: vertical; }
    GatesScreen GateTable { height: auto; max-height: 10; }
    GatesScreen GateDetail { height: 1fr; border-top: solid $primary; }
    GatesScreen.-wide #gates-body { layout: horizontal; }
    GatesScreen.-wide GateTable { height: 1fr; width: 2fr; }
    GatesScreen.-wide GateDetail { width: 3fr; border-top: none; border-left: solid $primary; }
    GatesScreen #gates-count { height: 1; padding: 0 1; background: $boost; }
    """
    BINDINGS = [
        Binding("a", "approve", "Approve", tooltip="Approve the selected gate"),
        Binding("x", "reject", "Reject", tooltip="Reject the selected gate with a comment"),
        Binding("e", "revise", "Revise",
                tooltip="Send a review or escalation back to implement with a comment"),
        Binding("o", "open_run", "Open run", tooltip="Open the gate's run"),
        Binding("escape", "back", "Back", tooltip="Back to the previous screen"),
    ]

    def __init__(self, db: Database, *, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__()
        self.db = db
        self.clock = clock or utcnow
        self.items: dict[int, GateItem] = {}
        self._now = self.clock()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label("loading…", id="gates-count")
        with Container(id="gates-body"):
            yield GateTable(id="gate-list")
            yield GateDetail(id="gate-detail")
        yield KeyBar()

    # -- loading ---------------------------------------------------------------------

    def reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="gates-load", exit_on_error=False)
    def _load(self) -> None:
        self.post_message(GatesLoaded(pending_gates(self.db), self.clock()))

    def on_gates_loaded(self, message: GatesLoaded) -> None:
        self._now = message.now
        self.items = {item.id: item for item in message.items}
        table = self.query_one(GateTable)
        table.show_gates(message.items, message.now)
        count = len(message.items)
        self.query_one("#gates-count", Label).update(
            "Nothing needs you." if count == 0 else
            f"{count} gate{'s' if count != 1 else ''} waiting, oldest first")
        self._show_selected()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_selected()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open_run()

    def _show_selected(self) -> None:
        self.query_one(GateDetail).show(self.selected(), self._now)

    def selected(self) -> GateItem | None:
        gate_id = self.query_one(GateTable).selected_gate_id()
        return self.items.get(gate_id) if gate_id is not None else None

    # -- actions ---------------------------------------------------------------------

    def _need_selected(self) -> GateItem | None:
        item = self.selected()
        if item is None:
            self.notify("No gate selected: nothing needs you.", severity="warning")
        return item

    def action_approve(self) -> None:
        item = self._need_selected()
        if item is None:
            return
        if item.gate.kind == "action":
            def confirmed(ok: bool | None) -> None:
                if ok:
                    self.decide(item.id, m.APPROVED, "")

            self.app.push_screen(ApproveGateScreen(item.gate), confirmed)
        else:
            self.decide(item.id, m.APPROVED, "")

    def action_reject(self) -> None:
        self._with_comment("reject", m.GATE_REJECTED)

    def action_revise(self) -> None:
        item = self.selected()
        if item is not None and item.gate.kind not in REVISABLE:
            kinds = ", ".join(sorted(REVISABLE))
            self.notify(f"Gate {item.id} ({item.gate.kind}) cannot go back for revision: "
                        f"only {kinds} gates can.", severity="warning", markup=False)
            return
        self._with_comment("revise", m.REVISED)

    def _with_comment(self, verb: str, verdict: str) -> None:
        item = self._need_selected()
        if item is None:
            return

        def answered(comment: str | None) -> None:
            if comment is not None:
                self.decide(item.id, verdict, comment)

        self.app.push_screen(
            GateCommentScreen(verb, item.id, item.gate.title or item.run.title), answered)

    def action_open_run(self) -> None:
        item = self._need_selected()
        if item is None:
            return
        self.andon.open_run(item.run.id or 0)

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
        else:
            self.andon.action_show("board")

    def palette_commands(self) -> list[PaletteCommand]:
        item = self.selected()
        if item is None:
            return []
        out = [PaletteCommand(f"Approve gate {item.id}", f"key a: {item.gate.title}",
                              self.action_approve),
               PaletteCommand(f"Reject gate {item.id}", "key x: with a comment",
                              self.action_reject)]
        if item.gate.kind in REVISABLE:
            out.append(PaletteCommand(f"Revise gate {item.id}",
                                      "key e: back to implement with a comment",
                                      self.action_revise))
        out.append(PaletteCommand(f"Open run {item.run.id}", "key o or enter",
                                  self.action_open_run))
        return out

    @work(thread=True, group="gate-decide", exit_on_error=False)
    def decide(self, gate_id: int, verdict: str, comment: str) -> None:
        user = current_user()
        decide_gate(self.db, gate_id, verdict, comment, user)
        self.post_message(GateDecided(gate_id, verdict, user))

    def on_gate_decided(self, message: GateDecided) -> None:
        self.notify(f"Gate {message.gate_id} {message.verdict} by {message.user}.", markup=False)
        self.reload()
