"""Adding a spec's holdout scenarios to the home: `andon scenarios add NAME FOLDER`.

The agent never sees the home's `scenarios/` (the sandbox hides it), so a person keeps a
spec's scenarios beside the spec in the repository they write specs in and copies them
in with one command. The copy replaces a set only when asked, and never half-way: it is
built beside the set and moved into place with a rename.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from andon.engine.errors import UserError
from andon.engine.pipeline.scenarios import Scenario, load_scenarios


@dataclass(frozen=True)
class ScenarioSet:
    name: str
    folder: Path
    scenarios: list[Scenario]


def add_scenario_set(root: Path, name: str, source: Path, *,
                     replace: bool = False) -> ScenarioSet:
    """Copy the scenario files of `source` into `root/name` (root: the home's
    scenarios folder). UserError, naming the value, for a bad name, a source that
    holds no scenario, or a set that exists without `replace`."""
    if not name or "/" in name or "\\" in name or name.startswith(".") or name != name.strip():
        raise UserError(f"scenario set name {name!r}: must be a folder name under "
                        f"{root} (no slashes, not hidden)")
    source = source.expanduser()
    if not source.is_dir():
        raise UserError(f"scenario folder {source}: not a folder")
    if not load_scenarios(source):
        raise UserError(f"scenario folder {source}: holds no scenario (an executable "
                        "check, or a .md story)")
    target = root / name
    if target.exists() and not replace:
        raise UserError(f"scenario set {name!r} exists in {root}: add --replace to "
                        "replace it")
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    try:
        built = staging / name
        shutil.copytree(source, built, ignore=shutil.ignore_patterns(".*"))
        if target.exists():
            old = staging / "old"
            target.rename(old)
        built.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ScenarioSet(name, target, load_scenarios(target))


def scenario_sets(root: Path) -> list[ScenarioSet]:
    """The home's scenario sets, by name."""
    if not root.is_dir():
        return []
    return [ScenarioSet(p.name, p, load_scenarios(p)) for p in sorted(root.iterdir())
            if p.is_dir() and not p.name.startswith(".")]
