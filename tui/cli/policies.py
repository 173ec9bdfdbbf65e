"""Commands about policies: level, policies (list, show, export, import, history)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from andon.engine.errors import UserError
from andon.policies.files import load_policy_file, policy_table
from andon.policies.level import Level, LevelError
from andon.policies.matrix import gated_actions
from andon.policies.policy import Policy
from andon.policies.record import Recommendation, TrackRecord
from andon.policies.stored import (
    NotAnApprover,
    category_recommendation,
    category_record,
    export_policies,
    policy_history,
    save_policies,
    set_level,
    stored_policies,
)
from andon.store.db import Database
from andon.tui.cli.app import JsonOpt, app, console, emit, err, open_db, plain


def _known(db: Database, category: str) -> Policy:
    policies = stored_policies(db)
    if category not in policies:
        known = ", ".join(policies) or "none"
        raise UserError(f"no policy for category '{category}' (known: {known}); "
                        f"add one with `andon policies import FILE`")
    return policies[category]


def policy_json(policy: Policy) -> dict[str, Any]:
    return {"category": policy.category, **policy_table(policy)}


def record_json(record: TrackRecord) -> dict[str, Any]:
    data = dataclasses.asdict(record)
    lead = record.mean_lead_time
    data["mean_lead_time"] = lead.total_seconds() if lead is not None else None
    return data


def recommendation_json(rec: Recommendation) -> dict[str, Any]:
    return {"action": rec.action, "level": int(rec.level),
            "to_level": int(rec.to_level) if rec.to_level is not None else None,
            "reason": rec.reason}


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:.2f}"


def _print_record(category: str, record: TrackRecord, rec: Recommendation) -> None:
    console.print(Text(f"track record of {category}", style="bold"))
    rate = "-" if record.human_touch_rate is None else f"{record.human_touch_rate:.0%}"
    lead = "-" if record.mean_lead_time is None else str(record.mean_lead_time).split(".")[0]
    console.print(
        f"  runs {record.runs}, merged {record.merged}, rejected {record.rejected}, "
        f"escalated {record.escalated}, reverted {record.reverted}, failed {record.failed}")
    console.print(f"  human-touch rate {rate}, mean cost per merged change "
                  f"{_money(record.mean_cost_per_merged)}, mean lead time {lead}")
    console.print(Text.assemble(("recommendation", "bold"), f": {rec.reason}"))


def _confirm_dark(db: Database, category: str, *, yes: bool, as_json: bool) -> None:
    """Raising a category to level 4 shows its track record and asks, unless --yes;
    a "no" (or no answer: stdin closed) changes nothing and exits 1."""
    record, rec = category_record(db, category), category_recommendation(db, category)
    if not as_json or not yes:
        _print_record(category, record, rec)
    if not yes and not typer.confirm(
            f"Run {category} dark (level 4): no person sees its changes before they "
            f"merge. Continue?", default=False):
        err.print("not changed")
        raise typer.Exit(1)


# -- andon level ------------------------------------------------------------------------


@app.command()
def level(
    category: str = typer.Argument(..., help="The category whose level changes."),
    new_level: str = typer.Argument(..., metavar="N", help="2 supervised, 3 spec-driven, 4 dark."),
    reason: str = typer.Option(..., "--reason", "-r", help="Why (kept in the audit log)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Raise to level 4 without asking."),
    as_json: bool = JsonOpt,
) -> None:
    """Change a category's autonomy level (audited). Raising to 4 shows the category's
    track record and asks for confirmation."""
    try:
        target = Level.parse(new_level)
    except LevelError as exc:
        raise UserError(f"level for '{category}': {exc}") from None
    if not reason.strip():
        raise UserError("a level change needs a reason (--reason \"...\")")
    db = open_db()
    current = _known(db, category)
    old = Level(current.level)
    if target == old:
        emit({"category": category, "level": int(old), "changed": False}, as_json,
             lambda: console.print(f"{category} is already at {old.title}"))
        return
    if target == Level.DARK:
        _confirm_dark(db, category, yes=yes, as_json=as_json)
    try:
        updated = set_level(db, category, target, reason=reason.strip())
    except NotAnApprover as exc:
        raise UserError(str(exc)) from None
    emit({"category": category, "level": int(updated.level), "old_level": int(old),
          "changed": True}, as_json,
         lambda: console.print(f"{category}: {old.title} -> {Level(updated.level).title}"))


# -- andon policies ---------------------------------------------------------------------

policies_app = typer.Typer(help="Per-category policies: list, show, export, import, history.",
                           no_args_is_help=False)
app.add_typer(policies_app, name="policies")


@policies_app.callback(invoke_without_command=True)
def policies(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    """List every category's policy: level, budget, gates, approvers."""
    if ctx.invoked_subcommand is None:
        _list_policies(as_json)


@policies_app.command("list")
def list_(as_json: bool = JsonOpt) -> None:
    """List every category's policy: level, budget, gates, approvers."""
    _list_policies(as_json)


def _list_policies(as_json: bool) -> None:
    rows = stored_policies(open_db())

    def render() -> None:
        if not rows:
            console.print("no policies (run `andon init`)")
            return
        table = Table(box=None, header_style="bold")
        for name in ("category", "level", "budget", "gates", "approvers", "timeout"):
            table.add_column(name)
        for p in rows.values():
            lvl = Level(p.level)
            budget = f"${p.budget.usd:g} {p.budget.turns}t {p.budget.minutes}m"
            gated = ", ".join(str(a) for a in gated_actions(p) if str(a) != "escalation")
            timeout = (f"{p.gate_timeout}m -> {p.timeout_decision}" if p.gate_timeout
                       else "-")
            table.add_row(p.category, f"{int(lvl)} {lvl.label}", budget, gated or "-",
                          ", ".join(p.approvers) or "anyone", timeout)
        console.print(table)

    emit([policy_json(p) for p in rows.values()], as_json, render)


@policies_app.command()
def show(category: str = typer.Argument(...), as_json: bool = JsonOpt) -> None:
    """One category's policy, what it gates, its track record and the recommendation."""
    db = open_db()
    policy = _known(db, category)
    record, rec = category_record(db, category), category_recommendation(db, category)
    gated = [str(a) for a in gated_actions(policy)]
    data = {"policy": policy_json(policy), "gated": gated, "record": record_json(record),
            "recommendation": recommendation_json(rec)}

    def render() -> None:
        console.print(Text.assemble((category, "bold"), f": {Level(policy.level).title}"))
        for key, value in policy_table(policy).items():
            if key != "level":
                console.print(f"  {key} = {value}")
        console.print(f"  a person decides: {', '.join(gated)}")
        _print_record(category, record, rec)

    emit(data, as_json, render)


@policies_app.command("export")
def export(
    file: Path = typer.Argument(None, help="Write here (default: print)."),
) -> None:
    """Every policy as one TOML document (`andon policies import` reads it back)."""
    text = export_policies(open_db())
    if file is None:
        typer.echo(text, nl=False)
    else:
        file.write_text(text, encoding="utf-8")
        err.print(f"policies written to {file}")


@policies_app.command("import")
def import_(
    file: Path = typer.Argument(..., help="A policy TOML file (one table per category)."),
    reason: str = typer.Option(None, "--reason", "-r", help="Why (kept in the audit log)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Raise to level 4 without asking."),
    as_json: bool = JsonOpt,
) -> None:
    """Load policies from a file. An invalid file changes nothing (exit 2). A category
    the file raises to level 4 shows its track record and asks first, as `andon level`
    does."""
    db = open_db()
    wanted = load_policy_file(file)
    stored = stored_policies(db)
    for category, policy in wanted.items():
        now = stored.get(category)
        if Level(policy.level) == Level.DARK and (now is None or Level(now.level) != Level.DARK):
            _confirm_dark(db, category, yes=yes, as_json=as_json)
    changes = save_policies(db, wanted, reason=reason or f"imported from {file}")
    data = [c.model_dump(mode="json") for c in changes]

    def render() -> None:
        if not changes:
            console.print("nothing changed")
        for c in changes:
            console.print(f"{c.category}: {c.field} {plain(c.old)} -> {plain(c.new)}", markup=False)

    emit(data, as_json, render)


@policies_app.command()
def history(category: str = typer.Argument(...), as_json: bool = JsonOpt) -> None:
    """The audit log of a category: who changed what, when, why."""
    rows = policy_history(open_db(), category)
    if not rows:
        raise UserError(f"no policy history for category '{category}'")

    def render() -> None:
        table = Table(box=None, header_style="bold")
        for name in ("time", "user", "field", "old", "new", "reason"):
            table.add_column(name, overflow="fold" if name in ("old", "new", "reason") else
                             "ellipsis")  # plain values wrap between their words
        for c in rows:
            old = "" if c.field == "policy" else plain(c.old)
            new = "(created)" if c.field == "policy" else plain(c.new)
            table.add_row(c.ts.strftime("%Y-%m-%d %H:%M:%S"), c.user, c.field, old, new,
                          c.reason or "")
        console.print(table)

    emit([c.model_dump(mode="json") for c in rows], as_json, render)
