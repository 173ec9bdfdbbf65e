"""One row per category: its level and the budgets and rules its runs live under."""

from __future__ import annotations

from andon.policies.level import Level
from andon.policies.policy import Policy
from andon.tui.widgets.keyed_table import KeyedTable

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


class PolicyTable(KeyedTable):
    """Rows keyed by category; the cursor stays on its category across refreshes."""

    COLUMNS = COLUMNS

    def show_policies(self, policies: list[Policy]) -> None:
        self.replace_rows([(policy.category, cells(policy)) for policy in policies])

    def selected_category(self) -> str | None:
        return self.selected_key()
