"""Commands about gates and the cord: gates, approve, reject, revise, cord."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from andon.engine.gates.gate import (
    REVISABLE,
    TAKEN,
    decide_gate,
    gate_json,
    get_gate,
    list_gates,
    timed_out,
)
from andon.engine.run.control import cord_state
from andon.engine.service import cord as andon_cord
from andon.store import models as m
from andon.store.clock import as_utc, utcnow
from andon.tui.cli.app import JsonOpt, app, console, emit, open_db, plain

CommentOpt = typer.Option(None, "--comment", "-m", help="Why (told to the agent or the run).")


def _age(gate: m.Gate) -> str:
    created = as_utc(gate.created_at) or utcnow()
    seconds = int((utcnow() - created).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _state(gate: m.Gate) -> str:
    if gate.status == m.PENDING:
        return "pending, timed out (held)" if timed_out(gate) else "pending"
    who = f" by {gate.decided_by}" if gate.decided_by else ""
    return f"{gate.status}{who}"


@app.command("gates")
def gates_(
    show_all: bool = typer.Option(False, "--all", "-a", help="Decided gates too, newest first."),
    run: int = typer.Option(None, "--run", "-r", help="Only this run's gates."),
    limit: int = typer.Option(100, "--limit", "-n", help="How many at most."),
    as_json: bool = JsonOpt,
) -> None:
    """The gates waiting for a person (the "needs you" inbox)."""
    rows = list_gates(open_db(), pending_only=not show_all, run_id=run, limit=limit)

    def render() -> None:
        if not rows:
            console.print("no gates" if show_all else "no gates waiting for a person")
            return
        table = Table(box=None, header_style="bold")
        for name in ("gate", "run", "kind", "state", "age", "title"):
            table.add_column(name)
        for gate in rows:
            table.add_row(str(gate.id), str(gate.run_id), gate.kind, _state(gate), _age(gate),
                          gate.title[:80])
        console.print(table)

    emit([gate_json(g) for g in rows], as_json, render)


#: What `andon gate` prints first, in this order; other detail keys follow.
_SHOWN = ("rules", "breach", "approve_means", "command", "path", "preview", "plan",
          "checks", "satisfaction", "threshold", "scenarios", "spend", "files", "detail",
          "diff")


@app.command("gate")
def gate_(
    gate_id: int = typer.Argument(..., metavar="GATE", help="The gate's number."),
    as_json: bool = JsonOpt,
) -> None:
    """Everything a person needs to decide one gate: the command or diff of an action,
    the plan, the full diff with checks and satisfaction, the rules that tripped."""
    gate = get_gate(open_db(), gate_id)

    def render() -> None:
        console.print(Text.assemble((f"gate {gate.id}", "bold"),
                                    f" ({gate.kind}, run {gate.run_id}, {_state(gate)}): "
                                    f"{gate.title}"))
        detail = dict(gate.detail or {})
        detail.pop("spec", None)
        detail.pop("input", None)
        detail.pop(TAKEN, None)
        for key in [*(k for k in _SHOWN if k in detail), *(k for k in detail
                                                          if k not in _SHOWN)]:
            value = detail[key]
            if value in (None, "", [], {}):
                continue
            if key == "rules":
                for rule in value:
                    console.print(f"escalation {rule['rule']}: {rule['detail']}",
                                  markup=False)
            elif key == "checks":
                for check in value:
                    verdict = "passed" if check.get("passed") else "FAILED"
                    console.print(f"check {check.get('command')}: {verdict}", markup=False)
            elif key == "spend" and isinstance(value, dict):  # fractions of each budget
                used = ", ".join(f"{k} {v:.0%}" for k, v in value.items()
                                 if isinstance(v, int | float))
                console.print(f"budget used: {used}", markup=False)
            elif isinstance(value, str) and "\n" in value:
                console.print(f"{key}:", markup=False)
                console.print(value.rstrip("\n"), markup=False, highlight=False)
            else:
                console.print(f"{key}: {plain(value)}", markup=False)
        if gate.status == m.PENDING:
            console.print(f"decide: andon approve {gate.id} | andon reject {gate.id} "
                          f"--comment ..." + (f" | andon revise {gate.id} --comment ..."
                                              if gate.kind in REVISABLE else ""),
                          markup=False)
        elif gate.comment:
            console.print(f"comment: {gate.comment}", markup=False)

    emit(gate_json(gate), as_json, render)


def _decide(gate_id: int, verdict: str, comment: str | None, as_json: bool) -> None:
    gate = decide_gate(open_db(), gate_id, verdict, comment)
    emit(gate_json(gate), as_json, lambda: console.print(
        f"gate {gate.id} {gate.status} by {gate.decided_by}"
        + (f": {gate.comment}" if gate.comment else "")))


@app.command()
def approve(
    gate: int = typer.Argument(..., metavar="GATE", help="The gate's number (see `andon gates`)."),
    comment: str = CommentOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Approve a gate: the run goes on."""
    _decide(gate, "approve", comment, as_json)


@app.command()
def reject(
    gate: int = typer.Argument(..., metavar="GATE", help="The gate's number."),
    comment: str = typer.Option(..., "--comment", "-m", help="Why (required)."),
    as_json: bool = JsonOpt,
) -> None:
    """Reject a gate, saying why: an action's refusal reaches the agent; a review's ends
    the run as rejected."""
    _decide(gate, "reject", comment, as_json)


@app.command()
def revise(
    gate: int = typer.Argument(..., metavar="GATE", help="The review gate's number."),
    comment: str = typer.Option(..., "--comment", "-m", help="What should change (required)."),
    as_json: bool = JsonOpt,
) -> None:
    """Send a reviewed change back to implement with the comment as feedback."""
    _decide(gate, "revise", comment, as_json)


# -- the cord ---------------------------------------------------------------------------

cord_app = typer.Typer(help="The andon cord: stop the whole line, and let it run again.",
                       no_args_is_help=False)
app.add_typer(cord_app, name="cord")


def _cord_json(state: dict[str, Any] | None) -> dict[str, Any]:
    return {"pulled": state is not None, **(state or {})}


def _say_cord(state: dict[str, Any] | None) -> None:
    if state is None:
        console.print("the cord is released: the line runs")
    else:
        at = str(state.get("at", ""))[:16].replace("T", " ")
        console.print(f"the cord is PULLED by {state.get('by')} at {at} UTC: "
                      f"{state.get('reason') or '(no reason given yet)'}", soft_wrap=True)


@cord_app.callback(invoke_without_command=True)
def cord(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    """Show whether the cord is pulled (who, when, why)."""
    if ctx.invoked_subcommand is not None:
        return
    state = cord_state(open_db())
    emit(_cord_json(state), as_json, lambda: _say_cord(state))


@cord_app.command()
def pull(
    reason: str = typer.Option(None, "--reason", "-r",
                               help="Why the line stops (may follow: pull again with it)."),
    as_json: bool = JsonOpt,
) -> None:
    """Stop the line: nothing new starts, running runs hold at their next step."""
    change = andon_cord.pull(open_db(), reason)

    def render() -> None:
        if not change.changed and not reason:
            console.print("the cord was already pulled")
        _say_cord(change.state)
        if not (change.state or {}).get("reason"):
            console.print('say why when you can: andon cord pull --reason "..."')

    emit({**_cord_json(change.state), "changed": change.changed}, as_json, render)


@cord_app.command()
def release(
    reason: str = typer.Option(None, "--reason", "-r", help="Why the line may run again."),
    as_json: bool = JsonOpt,
) -> None:
    """Let the line run again: held runs resume, queued runs start."""
    change = andon_cord.release(open_db(), reason=reason)

    def render() -> None:
        if not change.changed:
            console.print("the cord was not pulled")
        _say_cord(None)

    emit({"pulled": False, "changed": change.changed}, as_json, render)
