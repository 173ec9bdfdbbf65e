"""`andon scenarios`: the home's holdout scenario sets, and adding one from a folder."""

from __future__ import annotations

from pathlib import Path

import typer

from andon.engine.pipeline.scenario_sets import ScenarioSet, add_scenario_set, scenario_sets
from andon.tui.cli.app import JsonOpt, app, console, emit, home

scenarios_app = typer.Typer(help="Holdout scenario sets: the checks the agent never sees.",
                            no_args_is_help=False)
app.add_typer(scenarios_app, name="scenarios")


def _json(found: ScenarioSet) -> dict[str, object]:
    return {"name": found.name, "folder": str(found.folder),
            "scenarios": [{"title": s.title, "kind": s.kind, "file": s.path.name}
                          for s in found.scenarios]}


def _say(found: ScenarioSet) -> None:
    checks = sum(1 for s in found.scenarios if s.kind == "check")
    console.print(f"{found.name}: {checks} check(s), {len(found.scenarios) - checks} "
                  f"story(ies) in {found.folder}", soft_wrap=True)


@scenarios_app.callback(invoke_without_command=True)
def scenarios(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    """List the home's scenario sets (a spec names one with `scenarios: NAME`)."""
    if ctx.invoked_subcommand is not None:
        return
    found = scenario_sets(home().scenarios)

    def render() -> None:
        if not found:
            console.print(f"no scenario sets in {home().scenarios}: add one with "
                          "andon scenarios add NAME FOLDER")
        for one in found:
            _say(one)

    emit([_json(one) for one in found], as_json, render)


@scenarios_app.command()
def add(
    name: str = typer.Argument(..., metavar="NAME",
                               help="The set's name, as a spec's `scenarios:` gives it."),
    folder: Path = typer.Argument(..., metavar="FOLDER",
                                  help="A folder of scenario files (kept beside the spec)."),
    replace: bool = typer.Option(False, "--replace", help="Replace a set of that name."),
    as_json: bool = JsonOpt,
) -> None:
    """Copy a folder of scenarios into the home, out of the agent's reach."""
    added = add_scenario_set(home().scenarios, name, folder, replace=replace)
    emit(_json(added), as_json, lambda: _say(added))
