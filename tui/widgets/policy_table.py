"""One row per category: its level and the budgets and rules its runs live under."""

from __future__ import annotations

from textual.widgets import DataTable

from policies.level import Level
from policies.policy import Policy

COLUMNS = ("category", "level", "budget", "daily", "max diff", "tries", "satisf.",
           "plan gate", "protected", "approvers", "on budget", "gate timeout")


def budget_text(policy: Policy) -> str:
    b = policy.budget
    return f"${b.usd:g}/{b.turns}t/{b.minutes}m"


def short_list(items: list[str], width: int = 18) -> str:
    if not items:
        return "-"
    text = ", ".join(items)
    return text if len(text) <= width else text[: width - 1] + "…"


def timeout_text(policy: Policy) -> str:
    if policy.gate_timeout is None:
        return "wait"
    return f"{policy.gate_timeout}m→{policy.timeout_decision}"


def cells(policy: Policy) -> tuple[str, ...]:
    level = Level(policy.level)
    return (
        policy.category,
        f"{int(level)} {level.label}",
        budget_text(policy),
        f"${policy.daily_usd:g}",
        str(policy.max_diff_lines),
        str(policy.max_attempts),
        f"{policy.satisfaction_threshold:.2f}",
        "yes" if policy.plan_gate else "no",
        short_list(policy.protected_paths),
        short_list(policy.approvers, 14) if policy.approvers else "anyone",
        policy.on_budget,
        timeout_text(policy),
    )


class PolicyTable(DataTable[str]):
    """Rows keyed by category; the cursor stays on its category across refreshes."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for name in COLUMNS:
            self.add_column(name, key=name)

    def show_policies(self, policies: list[Policy]) -> None:
        selected = self.selected_category()
        self.clear()
        for policy in policies:
            self.add_row(*cells(policy), key=policy.category)
        if selected is not None and selected in {k.value for k in self.rows}:
            self.move_cursor(row=self.get_row_index(selected), animate=False)

    def selected_category(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # the cursor is off the table
            return None
