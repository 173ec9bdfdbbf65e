"""Policies: a row per category (level, budgets, rules), the selected category's track
record, Andon's recommendation and its audit log; + and - change the level after a
confirmation that shows the record and the recommendation.

Level changes go through `policies.stored.set_level` as the OS user, so each one is an
audit row. All store work runs in thread workers that post messages back; the app's
`worker_failed` reports failures (a refused change is a notification).
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Header

from andon.engine.errors import UserError
from andon.policies.level import Level
from andon.policies.policy import Policy
from andon.policies.stored import (
    current_user,
    set_level,
    stored_policies,
)
from andon.store.db import Database
from andon.tui.commands import PaletteCommand
from andon.tui.data.policies import policy_facts
from andon.tui.screens.base import StoreScreen
from andon.tui.widgets.footer import KeyBar
from andon.tui.widgets.policy_detail import PolicyDetail, PolicyFacts
from andon.tui.widgets.policy_level import PolicyLevelScreen
from andon.tui.widgets.policy_table import PolicyTable


class PoliciesLoaded(Message):
    def __init__(self, policies: list[Policy]) -> None:
        self.policies = policies
        super().__init__()


class FactsLoaded(Message):
    def __init__(self, facts: PolicyFacts, to_level: Level | None = None) -> None:
        self.facts = facts
        self.to_level = to_level  # set when the facts are for a level change to confirm
        super().__init__()


class LevelChanged(Message):
    def __init__(self, policy: Policy, user: str) -> None:
        self.policy = policy
        self.user = user
        super().__init__()


class PoliciesScreen(StoreScreen):
    reload_gap = 1.0  # the track record and metrics read a whole category's runs
    AUTO_FOCUS = "#policy-list"
    SUB_TITLE = "policies"
    DEFAULT_CSS = """
    PoliciesScreen PolicyTable { height: auto; max-height: 9; }
    PoliciesScreen PolicyDetail { height: 1fr; border-top: solid $primary; }
    """
    BINDINGS = [
        Binding("plus,equals_sign", "change_level(1)", "Promote", key_display="+",
                tooltip="Promote the selected category one level (asks first)"),
        Binding("minus", "change_level(-1)", "Demote", key_display="-",
                tooltip="Demote the selected category one level (asks first)"),
        Binding("escape", "back", "Back", tooltip="Back to the previous screen"),
    ]

    def __init__(self, db: Database) -> None:
        super().__init__()
        self.db = db

    def compose(self) -> ComposeResult:
        yield Header()
        yield PolicyTable(id="policy-list")
        yield PolicyDetail(id="policy-detail")
        yield KeyBar()

    # -- loading ---------------------------------------------------------------------

    def reload(self) -> None:
        """Read the categories, track records and audit again."""
        self._load()

    @work(thread=True, exclusive=True, group="policies-load", exit_on_error=False)
    def _load(self) -> None:
        self.post_message(PoliciesLoaded(list(stored_policies(self.db).values())))

    def on_policies_loaded(self, message: PoliciesLoaded) -> None:
        self.query_one(PolicyTable).show_policies(message.policies)
        self._load_selected()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._load_selected()

    def _load_selected(self) -> None:
        category = self.selected()
        if category is None:
            self.query_one(PolicyDetail).show(None)
        else:
            self._load_facts(category)

    @work(thread=True, exclusive=True, group="policy-facts", exit_on_error=False)
    def _load_facts(self, category: str) -> None:
        self.post_message(FactsLoaded(policy_facts(self.db, category)))

    @work(thread=True, group="policy-level", exit_on_error=False)
    def _prepare_level(self, category: str, delta: int) -> None:
        """Fresh facts for the confirmation of a level change (raises at the ends)."""
        facts = policy_facts(self.db, category)
        level = Level(facts.policy.level)
        to_level = level.higher if delta > 0 else level.lower
        if to_level is None:
            raise UserError(f"{category} is already at {level.title}, the "
                            f"{'highest' if delta > 0 else 'lowest'} level")
        self.post_message(FactsLoaded(facts, to_level))

    def on_facts_loaded(self, message: FactsLoaded) -> None:
        if message.facts.policy.category == self.selected():
            self.query_one(PolicyDetail).show(message.facts)
        if message.to_level is None:
            return
        category, to_level = message.facts.policy.category, message.to_level

        def confirmed(reason: str | None) -> None:
            if reason is not None:
                self._set_level(category, to_level, reason)

        self.app.push_screen(PolicyLevelScreen(message.facts, to_level), confirmed)

    def selected(self) -> str | None:
        return self.query_one(PolicyTable).selected_category()

    # -- actions ---------------------------------------------------------------------

    def action_change_level(self, delta: int) -> None:
        category = self.selected()
        if category is None:
            self.notify("No category selected.", severity="warning")
            return
        self._prepare_level(category, delta)

    @work(thread=True, group="policy-level", exit_on_error=False)
    def _set_level(self, category: str, level: Level, reason: str) -> None:
        user = current_user()
        policy = set_level(self.db, category, level, user=user, reason=reason)
        self.post_message(LevelChanged(policy, user))

    def on_level_changed(self, message: LevelChanged) -> None:
        level = Level(message.policy.level)
        self.notify(f"{message.policy.category} is now at {level.title} "
                    f"(changed by {message.user}).", markup=False)
        self.reload()

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
        else:
            self.andon.action_show("board")

    def palette_commands(self) -> list[PaletteCommand]:
        category = self.selected()
        if category is None:
            return []
        return [PaletteCommand(f"Promote {category} one level", "key +: asks first, "
                               "showing the track record", lambda: self.action_change_level(1)),
                PaletteCommand(f"Demote {category} one level", "key -: asks first",
                               lambda: self.action_change_level(-1))]
