"""`andon replay RUN`: re-run a recorded run offline and compare the change it makes."""

from __future__ import annotations

import typer
from rich.text import Text

from andon.tui.cli.app import JsonOpt, app, console, emit, home, open_db


@app.command()
def replay(
    run: int = typer.Argument(..., help="The run to replay."),
    keep: bool = typer.Option(False, "--keep", help="Keep the replay's worktree to look at."),
    as_json: bool = JsonOpt,
) -> None:
    """Replay a run from its flight recording, offline, in a fresh worktree from its base
    commit; says whether the result matches the run's head commit (exit 1 when not)."""
    from andon.engine.ops.replay import replay as replay_run  # the model SDK is slow to import

    report = replay_run(home(), open_db(), run, keep=keep)

    def render() -> None:
        verdict = (("matches", "green") if report.matched
                   else ("does NOT match", "bold red"))
        console.print(f"run {run} replayed offline: {report.served} of {report.replies} "
                      f"recorded replies over {report.attempts} attempt(s); the agent ended "
                      f"{report.status}")
        console.print(Text.assemble(f"tree {(report.replay_tree or '-')[:12]} ", verdict,
                                    f" the run's head (tree {report.original_tree[:12]})"))
        if report.diff:
            console.print(report.diff, markup=False, highlight=False)
        if report.status == "error":
            console.print(f"the replay stopped: {report.reason}", markup=False)
        if report.kept:
            console.print(f"replay worktree kept at {report.kept}", markup=False)

    emit(report.as_dict(), as_json, render)
    if not report.matched:
        raise typer.Exit(1)
