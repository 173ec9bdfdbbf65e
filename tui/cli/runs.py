"""Commands about runs: submit, run-once, runs, show."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from andon.engine.gates.shadow import describe, shadow_decisions, shown_shadow
from andon.engine.llm.pricing import is_simulated
from andon.engine.run.queue import get_run
from andon.engine.service.admission import submit as admit_and_queue
from andon.store import models as m
from andon.store import queries as q
from andon.store.clock import utcnow
from andon.tui.cli.app import JsonOpt, app, console, emit, err, home, open_db


def run_json(run: m.Run) -> dict[str, Any]:
    return run.model_dump(mode="json")


@app.command()
def submit(
    spec: list[str] = typer.Argument(..., help="Spec file(s) to queue."),
    as_json: bool = JsonOpt,
) -> None:
    """Check specs against the factory (andon.toml, the category's policy, the repository
    and its base branch, the script, the scenarios) and queue a run of each. One that
    cannot run queues nothing, and neither do the others given with it (exit 2)."""
    h, db = home(), open_db()
    queued, warnings = admit_and_queue(h, db, spec)
    for warning in warnings:
        err.print(f"warning: {warning}", markup=False, soft_wrap=True)

    def say() -> None:
        for r in queued:
            console.print(f"queued run {r.id}: {r.title} [{r.category}]", markup=False)

    emit([run_json(r) for r in queued], as_json, say)


@app.command("run-once")
def run_once(
    limit: int = typer.Option(0, help="Stop after this many runs (0: until the queue is empty)."),
    minutes: float = typer.Option(
        0, "--time-limit", metavar="MINUTES",
        help="Stop after this long (0: no limit); the run in hand stops at its next step "
             "boundary and resumes later."),
    wait: bool = typer.Option(
        False, "--wait", help="Wait at open gates for a person (in another terminal) "
                              "instead of parking the run; --time-limit still applies."),
    as_json: bool = JsonOpt,
) -> None:
    """Run queued runs in this process, one after another, and return once nothing can
    move without a person. A run at an open gate (or held by the cord) is parked with its
    gate open; the next run-once, or `andon serve`, resumes it. Refuses (naming its pid)
    while a daemon or a TUI's engine runs for the home.

    Exit status, the first that applies: 1 a run failed (or was rejected, reverted,
    stopped by its budget); 4 the time limit passed with work left; 3 runs wait for a
    person (their gates are listed); 0 every run ended well, or there was nothing to run.
    """
    from andon.engine.service import once
    from andon.engine.service.lock import EngineLock

    h, db = home(), open_db()

    def say(ran: once.Ran) -> None:
        if not as_json:
            console.print(f"run {ran.run_id}: {ran.status} ({ran.reason})", markup=False,
                          soft_wrap=True)

    # The home's engine lock, as `andon serve` takes it: two engines never execute
    # runs of one home at once (EngineRunning names the holder's pid).
    with EngineLock(h.root, "run-once"):
        outcome = once.run_once(h, db, limit=limit, seconds=minutes * 60 or None,
                                wait=wait, on_run=say)
    gates = [{"gate": g.id, "run": g.run_id, "kind": g.kind, "title": g.title}
             for g in outcome.waiting]
    if as_json:  # the runs it ran; the open gates are `andon gates --json`'s
        emit([{"id": r.run_id, "status": r.status, "reason": r.reason} for r in outcome.ran],
             True, lambda: None)
    else:
        if not outcome.ran and not gates:
            console.print("the queue is empty")
        if outcome.timed_out:
            console.print(f"time limit of {minutes:g} minutes passed: the rest waits for "
                          "the next run-once or `andon serve`", markup=False)
        if outcome.cord:
            console.print("the andon cord is pulled: runs wait until it is released "
                          "(`andon cord release`)", markup=False)
        for g in gates:
            console.print(f"waiting for a person: gate {g['gate']} ({g['kind']}) of run "
                          f"{g['run']}: {g['title']}  (andon approve {g['gate']} / andon "
                          f"reject {g['gate']})", markup=False, soft_wrap=True)
    raise typer.Exit(outcome.exit_status)


def _age(run: m.Run) -> str:
    seconds = int((utcnow() - run.created_at).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _cost(run: m.Run) -> str:
    return "unknown" if run.cost_usd is None else f"${run.cost_usd:.2f}"


@app.command("runs")
def list_runs(
    status: list[str] = typer.Option(None, "--status", "-s", help="Only runs in this status."),
    category: str = typer.Option(None, "--category", "-c", help="Only this category."),
    limit: int = typer.Option(30, "--limit", "-n", help="How many, newest first."),
    as_json: bool = JsonOpt,
) -> None:
    """List runs, newest first."""
    rows = q.list_runs(open_db(), limit=limit, statuses=status, category=category)

    def render() -> None:
        # One line a run at any width: the title gives way (with an ellipsis), not the rest.
        names = ("run", "status", "stage", "category", "lvl", "title", "model", "cost", "age")
        cells = [(str(r.id), r.status, r.stage or "", r.category, str(r.level), r.title,
                  r.model, _cost(r), _age(r)) for r in rows]
        widths = [max([len(n), *(len(c[i]) for c in cells)]) for i, n in enumerate(names)]
        title = names.index("title")
        room = console.width - sum(w + 2 for i, w in enumerate(widths) if i != title) - 2
        table = Table(box=None, header_style="bold")
        for i, name in enumerate(names):
            table.add_column(name, no_wrap=True, overflow="ellipsis",
                             width=max(12, min(widths[i], room)) if i == title else None)
        for row in cells:
            table.add_row(*(Text(cell) for cell in row))  # titles are people's text
        console.print(table if rows else "no runs")

    emit([run_json(r) for r in rows], as_json, render)


@app.command()
def show(
    run_id: int = typer.Argument(..., metavar="RUN", help="The run's number."),
    as_json: bool = JsonOpt,
) -> None:
    """Show one run: its fields, steps and events."""
    db = open_db()
    run = get_run(db, run_id)
    steps, events = q.steps_of(db, run_id), q.events_of(db, run_id)
    usage = q.usage_of(db, run_id)
    # What level 4 would have done at each review point, once the person has decided.
    reviews = [shown_shadow(row, gate) for row, gate in shadow_decisions(db, run_id)]
    data = {
        "run": run_json(run),
        "review_points": [r if r is not None else {"hidden": "until the person decides"}
                          for r in reviews],
        "usage": [u.model_dump(mode="json") for u in usage],
        "steps": [s.model_dump(mode="json") for s in steps],
        "events": [e.model_dump(mode="json") for e in events],
    }

    def render() -> None:
        console.print(Text.assemble((f"run {run.id}", "bold"),
                                    f": {run.title}  [{run.category}, level {run.level}]"))
        console.print(f"status {run.status}, stage {run.stage or '-'}, model {run.model or '-'}, "
                      f"turns {run.turns}, cost {_cost(run)}")
        if run.reason:
            console.print(f"reason: {run.reason}")
        if run.branch:
            console.print(f"branch {run.branch}, worktree {run.worktree}")
        for review in reviews:
            console.print(Text("review " + (describe(review) if review is not None else
                                            "point: level 4's verdict shows once the person "
                                            "decides")), soft_wrap=True)
        if usage:
            console.print(usage_table(usage))
        table = Table(title="steps", box=None, header_style="bold", title_justify="left")
        for name in ("#", "stage", "kind", "name", "status", "exit"):
            table.add_column(name)
        for number, st in enumerate(steps, start=1):  # the run's own order, not row ids
            table.add_row(str(number), st.stage, st.kind, st.name[:50], st.status,
                          "" if st.exit_code is None else str(st.exit_code))
        console.print(table)
        table = Table(title="events", box=None, header_style="bold", title_justify="left")
        for name in ("time", "stage", "kind", "message"):
            table.add_column(name)
        for ev, message in joined_text(events):
            table.add_row(ev.ts.strftime("%H:%M:%S"), ev.stage or "", ev.kind, message)
        console.print(table)

    emit(data, as_json, render)


def usage_table(usage: list[m.Usage]) -> Table:
    """Tokens and cost of each model call (a turn of the agent, the plan, a judge), and
    their total; `~$` where the model is scripted (simulated money)."""
    table = Table(title="usage", box=None, header_style="bold", title_justify="left",
                  show_footer=True)
    simulated = any(is_simulated(u.model) for u in usage)
    totals = [sum(getattr(u, f) for u in usage) for f in
              ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens")]
    spent = sum(u.cost_usd or 0.0 for u in usage)
    for name, footer in (("turn", "total"), ("for", ""), ("in", f"{totals[0]:,}"),
                         ("out", f"{totals[1]:,}"), ("cache read", f"{totals[2]:,}"),
                         ("cache write", f"{totals[3]:,}"),
                         ("cost", _usd(spent, simulated))):
        table.add_column(name, footer=footer,
                         justify="left" if name in ("turn", "for") else "right")
    for u in usage:
        table.add_row(str(u.turn), u.purpose, f"{u.input_tokens:,}", f"{u.output_tokens:,}",
                      f"{u.cache_read_tokens:,}", f"{u.cache_creation_tokens:,}",
                      "-" if u.cost_usd is None else _usd(u.cost_usd, is_simulated(u.model)))
    return table


def _usd(value: float, simulated: bool) -> str:
    return f"{'~' if simulated else ''}${value:.4f}"


TEXT_SHOWN = 240  # characters of one reply in the events table (--json has it all)


def joined_text(events: list[m.Event]) -> list[tuple[m.Event, str]]:
    """Each event with the message shown for it. A reply streams as several
    `model.text` events of one turn: they read as one row, its words joined."""
    out: list[tuple[m.Event, str]] = []
    reply: list[str] = []
    for ev in events:
        turn = (ev.data or {}).get("turn")
        last = out[-1][0] if out else None
        if (ev.kind == "model.text" and last is not None and last.kind == "model.text"
                and (last.data or {}).get("turn") == turn):
            reply.append(ev.message or "")
        else:
            if reply:
                out[-1] = (out[-1][0], _reply(reply))
            reply = [ev.message or ""] if ev.kind == "model.text" else []
            out.append((ev, ev.message.splitlines()[0][:80] if ev.message else ""))
    if reply:
        out[-1] = (out[-1][0], _reply(reply))
    return out


def _reply(parts: list[str]) -> str:
    text = " ".join("".join(parts).split())
    return text if len(text) <= TEXT_SHOWN else text[:TEXT_SHOWN - 1] + "…"


@app.command()
def revert(
    run_id: int = typer.Argument(..., metavar="RUN", help="A merged run."),
    reason: str = typer.Option(None, "--reason", "-r", help="Why, for the record."),
    as_json: bool = JsonOpt,
) -> None:
    """Revert a merged run's change on its base branch (a revert commit made by Andon)."""
    from andon.engine.pipeline.postmerge import revert_merged_run
    from andon.policies.stored import current_user

    h, db = home(), open_db()
    commit = revert_merged_run(h, db, run_id, user=current_user(), reason=reason)
    emit({"id": run_id, "revert_commit": commit}, as_json,
         lambda: console.print(f"run {run_id} reverted as {commit[:10]}"))
