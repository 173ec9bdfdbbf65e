"""Admission: a spec is checked against the factory before anything is queued.

Parsing proves a spec is well formed; admission proves it can run here: andon.toml reads,
the category has a policy, the repository is named in andon.toml or is a git repository
at that path, the base branch exists in it, the model has a price, a scripted model has
its script, the holdout scenarios it names are in the home, and the agent it asks for is
installed. The first problem is one `SpecError` naming the file, the field and the value;
nothing is written. `andon submit`, the specs screen and the inbox all admit through
here, so "a bad spec queues nothing" holds for each.

Some things can only be known when the run starts (the API key may be set in the daemon's
environment, not the submitter's): those are warnings, returned with the spec.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import select

from andon.engine.agent import backend
from andon.engine.errors import SpecError
from andon.engine.factory.home import Home
from andon.engine.llm.provider import unpriced
from andon.engine.run.queue import enqueue, upsert_spec
from andon.engine.spec.specfile import Spec, parse_spec
from andon.engine.workspace.git import try_git
from andon.engine.workspace.worktree import repo_settings
from andon.policies.stored import load_policy
from andon.store import models as m
from andon.store.db import Database


@dataclass
class Admitted:
    spec: Spec
    warnings: list[str] = field(default_factory=list)


def admit(home: Home, db: Database, path: Path | str) -> Admitted:
    """Parse a spec and check it can run in this factory; SpecError (or a ConfigError
    for a broken andon.toml) at the first problem."""
    config = home.config  # a broken andon.toml is refused here, before the spec
    spec = parse_spec(path)
    front, where = spec.front, str(spec.path)
    with db.read() as s:
        categories = sorted(s.exec(select(m.PolicyRow.category)).all())
    if front.category not in categories:
        raise SpecError(where, "category", f"no policy for category '{front.category}' "
                        f"(known: {', '.join(categories) or 'none'}); add one with "
                        "`andon policies import FILE`")
    if front.repo not in config.repos:
        path = Path(front.repo).expanduser()
        if not (path if path.is_absolute() else spec.path.parent / path).exists():
            raise SpecError(where, "repo", f"'{front.repo}' is neither a repository named "
                            f"in {home.config_path} nor an existing path")
    repo = repo_settings(front.repo, config.repos.get(front.repo), spec_base=front.base,
                         spec_path=spec.path, config_path=home.config_path)
    if not repo.path.is_dir():
        raise SpecError(where, "repo", f"'{front.repo}': {repo.path} (from [repos."
                        f"{front.repo}] in {home.config_path}) is not a folder")
    status, out, err = try_git(repo.path, "rev-parse", "--show-toplevel")
    if status != 0:
        raise SpecError(where, "repo", f"'{front.repo}' ({repo.path}) is not a git "
                        f"repository: {err.strip() or out.strip()}")
    if try_git(repo.path, "rev-parse", "--verify", "--quiet",
               f"refs/heads/{repo.base}")[0] != 0:
        raise SpecError(where, "base", f"branch '{repo.base}' does not exist in {repo.path}")
    if front.scenarios is not None:
        folder = home.scenarios / front.scenarios
        if not folder.is_dir():
            raise SpecError(where, "scenarios", f"'{front.scenarios}': no folder {folder} "
                            "(create it with the scenario files)")
    problem = unpriced(front.model, home)
    if problem is not None:
        raise SpecError(where, "model", problem)
    _check_agent(db, spec)
    warnings: list[str] = []
    provider, _model = config.engine.model_for(front.model)
    if provider == "scripted":
        script = spec.script_path
        if script is None:
            field_name = "model" if front.model else "script"
            raise SpecError(where, field_name, f"the scripted model needs a script: name one "
                            f"with 'script:' or put {spec.path.stem}.script.yaml beside it")
        if not script.is_file():
            raise SpecError(where, "script", f"'{front.script}': no such file ({script})")
    elif not os.environ.get("ANTHROPIC_API_KEY"):
        warnings.append("ANTHROPIC_API_KEY is not set here: the run fails unless the "
                        "engine that runs it has the key (export it where `andon serve` "
                        "runs, or use `model: scripted`)")
    return Admitted(spec, warnings)


def _check_agent(db: Database, spec: Spec) -> None:
    """A spec (or its category's policy) asking for an agent this machine lacks is
    refused now, with the install command, rather than failing when the run starts."""
    named = spec.front.agent
    wanted = named or load_policy(db, spec.front.category).agent
    why = backend.missing(wanted)
    if why is not None:
        source = "" if named else f" (category '{spec.front.category}' policy's agent)"
        raise SpecError(str(spec.path), "agent", f"'{wanted}'{source}: {why}")


def submit(home: Home, db: Database, paths: Iterable[Path | str], *,
           reason: str = "submitted") -> tuple[list[m.Run], list[str]]:
    """Admit every spec first, then queue a run of each: one bad spec queues nothing.
    Returns the runs and the warnings."""
    admitted = [admit(home, db, path) for path in paths]
    runs = [enqueue(db, upsert_spec(db, a.spec), reason=reason) for a in admitted]
    return runs, [w for a in admitted for w in a.warnings]
