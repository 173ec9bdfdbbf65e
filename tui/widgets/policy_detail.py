"""The selected category in full: every rule, its track record, Andon's recommendation
and the audit log of who changed what, when and why."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from andon.policies.level import Level
from andon.policies.policy import Policy
from andon.policies.record import Recommendation, TrackRecord
from andon.store import models as m
from andon.store.clock import as_utc
from andon.tui.data.policies import PolicyFacts
from andon.tui.widgets.policy_table import budget_text, timeout_text


def duration_text(delta: timedelta | None) -> str:
    if delta is None:
        return "-"
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 60 * 48:
        return f"{minutes // 60}h {minutes % 60:02d}m"
    return f"{minutes // (60 * 24)}d"


def record_text(record: TrackRecord) -> Text:
    """The track record as one or two lines of figures."""
    if record.runs == 0:
        return Text("no runs yet", style="dim")
    touch = "-" if record.human_touch_rate is None else f"{record.human_touch_rate:.0%}"
    per_merge = ("-" if record.mean_cost_per_merged is None
                 else f"${record.mean_cost_per_merged:.2f}")
    text = Text()
    text.append(f"runs {record.runs} · merged {record.merged} · rejected {record.rejected} · "
                f"escalated {record.escalated} · reverted {record.reverted} · "
                f"failed {record.failed}\n")
    text.append(f"human touch {touch} · cost per merged change {per_merge} · "
                f"total ${record.total_cost_usd:.2f} · "
                f"lead time {duration_text(record.mean_lead_time)}")
    return text


def recommendation_text(rec: Recommendation) -> Text:
    return Text(rec.reason, style="bold green" if rec.promote else "yellow")


def _short(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) >= {"usd", "turns", "minutes"}:
        return f"${value['usd']:g}/{value['turns']}t/{value['minutes']}m"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:59] + "…"


def change_line(change: m.PolicyChange) -> Text:
    when = as_utc(change.ts)
    line = Text()
    line.append(f"{when:%Y-%m-%d %H:%M} " if when else "? ", style="dim")
    line.append(f"{change.user} ", style="bold")
    if change.field == "policy" and change.old is None:
        line.append("created the policy")
    else:
        line.append(f"{change.field}: {_short(change.old)} → {_short(change.new)}")
    if change.reason:
        line.append(f" ({change.reason})", style="italic")
    return line


def rules_table(policy: Policy) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("budget per run", budget_text(policy)),
        ("daily spend", f"${policy.daily_usd:g}"),
        ("max attempts", str(policy.max_attempts)),
        ("satisfaction threshold", f"{policy.satisfaction_threshold:.2f}"),
        ("plan gate", "yes" if policy.plan_gate else "no"),
        ("max diff lines", str(policy.max_diff_lines)),
        ("protected paths", ", ".join(policy.protected_paths) or "none"),
        ("approvers", ", ".join(policy.approvers) or "anyone"),
        ("on budget", policy.on_budget),
        ("gate timeout", timeout_text(policy)),
        ("promote after", f"{policy.promote_after} clean runs"),
        ("demote after", f"{policy.demote_after} bad runs in a row"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def render_facts(facts: PolicyFacts) -> RenderableType:
    policy = facts.policy
    level = Level(policy.level)
    head = Text()
    head.append(policy.category, style="bold")
    head.append(f" · {level.title}")
    if facts.level_since is not None:
        head.append(f" since {as_utc(facts.level_since):%Y-%m-%d %H:%M}", style="dim")
    parts: list[RenderableType] = [head, rules_table(policy),
                                   Text("track record", style="bold underline"),
                                   record_text(facts.record),
                                   recommendation_text(facts.recommendation),
                                   Text("audit log (newest first)", style="bold underline")]
    if facts.changes:
        parts += [change_line(c) for c in facts.changes]
    else:
        parts.append(Text("no changes recorded", style="dim"))
    return Group(*parts)


class PolicyDetail(VerticalScroll):
    DEFAULT_CSS = """
    PolicyDetail { padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static("Select a category.", id="policy-detail-body")

    def show(self, facts: PolicyFacts | None) -> None:
        body = self.query_one("#policy-detail-body", Static)
        body.update("No policies stored." if facts is None else render_facts(facts))
