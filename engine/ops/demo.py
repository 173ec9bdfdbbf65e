"""The demo factory: a home with a sample repository, five policies and seven specs.

`build_demo(root)` makes a fresh home that shows every kind of line at once:

| spec             | category, level | what it shows                                        |
|------------------|-----------------|------------------------------------------------------|
| readme-truncate  | docs, 4 (dark)  | a docs change merging on its own                     |
| usage-guide      | docs, 4         | a failed check fed back; fixed on the second attempt  |
| ci-python-313    | deps, 4         | a protected path (.github/**) escalates to a person  |
| truncate-width   | bugfix, 3       | the agent works alone, then waits for review         |
| word-count       | feature, 2      | a person approves the plan, each edit and command    |
| slug-apostrophes | claude-code, 3  | Claude Code implements (when its extra is installed) |
| status-page      | docs, 4         | a recurring spec (every minute)                      |

The specs and scripts live in `engine/demo_data/specs/`; they are written into
`<home>/specs/` with `{python}` replaced by the interpreter that runs Andon (so the
checks find the same Python wherever Andon is installed) and each scripted turn's
`delay:` multiplied by `time_scale`; `start_engine` shrinks the recurring schedule by the
same factor (tests run the first minute in seconds). The holdout scenarios go to
`<home>/scenarios/`, outside the repository the agent works in. With
`model="anthropic"` the specs are written without `model: scripted` and without
scripts, and the home's provider is the real API.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from andon.engine.agent import backend
from andon.engine.errors import UserError
from andon.engine.factory.home import Home
from andon.engine.run.queue import submit, upsert_spec
from andon.engine.spec.schedule import crontab
from andon.engine.spec.specfile import parse_spec
from andon.engine.workspace.git import run_git
from andon.engine.workspace.sandbox import bwrap_available
from andon.policies.files import parse_policies
from andon.policies.stored import load_policy, save_policies
from andon.store.db import Database

if TYPE_CHECKING:
    from andon.engine.service.runner import Engine

#: Who the policy audit rows name as the author of the demo's policies.
DEMO_USER = "andon-demo"
#: The key under [repos] in andon.toml that the demo specs name (`repo: sample`).
REPO_KEY = "sample"
#: A file in the home that marks it as a demo factory (so `andon demo --home X` reopens it).
MARKER = "DEMO.md"
MODELS = ("scripted", "anthropic")

#: The demo specs in the order they are queued, with what each one shows.
SPECS: dict[str, str] = {
    "readme-truncate": "docs, level 4: a dark docs change that merges on its own",
    "usage-guide": "docs, level 4: fails its check, fixed on the second attempt, merges",
    "ci-python-313": "deps, level 4: touches a protected path (.github/) and escalates",
    "truncate-width": "bugfix, level 3: the agent works alone, then waits for review",
    "word-count": "feature, level 2: asks a person for the plan, each edit and command",
    "slug-apostrophes": "claude-code, level 3: Claude Code implements, then waits for review",
    "status-page": "docs, level 4: recurring, every minute",
}

_DELAY = re.compile(r"^([ \t-]*delay:[ \t]*)([0-9.]+)[ \t]*$", re.M)  # "- - delay: 1.0" too


@dataclass
class DemoFactory:
    """What `build_demo` made."""

    home: Home
    repo: Path
    model: str
    specs: dict[str, Path] = field(default_factory=dict)  # name -> spec file in the home
    runs: dict[str, int] = field(default_factory=dict)  # name -> queued run id
    recurring: list[str] = field(default_factory=list)  # names of recurring specs
    notes: list[str] = field(default_factory=list)  # things the person should know


def data_dir() -> Path:
    """The demo's package data (sample repository, specs, policies)."""
    return Path(str(resources.files("andon.engine.ops") / "demo_data"))


def default_root() -> Path:
    """A new, empty folder for a demo home (under the system's temporary folder)."""
    return Path(tempfile.mkdtemp(prefix="andon-demo-"))


def is_demo_home(root: Path) -> bool:
    return (root / MARKER).is_file() and Home(root).exists()


def check_model(model: str) -> None:
    if model not in MODELS:
        raise UserError(f"--model must be one of {', '.join(MODELS)} (got {model!r})")
    if model == "anthropic" and not os.environ.get("ANTHROPIC_API_KEY"):
        raise UserError(
            "the anthropic model needs an API key: set ANTHROPIC_API_KEY (the demo sends "
            "its seven specs to the real API), or run `andon demo` without --model to use "
            "the scripted model"
        )


def build_demo(root: Path | str, *, model: str = "scripted", time_scale: float = 1.0,
               python: str | None = None, queue: bool = True,
               history: bool = True) -> DemoFactory:
    """Build a demo factory in `root` (which must not exist yet, or be empty)."""
    check_model(model)
    if time_scale <= 0:
        raise UserError(f"time scale must be greater than 0 (got {time_scale})")
    root = Path(root).expanduser().resolve()
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise UserError(f"{root} is not empty: the demo builds its factory in a fresh folder "
                        "(pass --home with a new folder, or leave it out for a temporary one)")
    home = Home(root)
    db = home.init()
    try:
        demo = DemoFactory(home=home, repo=root / REPO_KEY, model=model)
        make_sample_repo(demo.repo)
        write_config(home, demo.repo, model)
        sandboxed, why = bwrap_available()
        save_demo_policies(db, sandboxed=sandboxed)
        if not sandboxed:
            demo.notes.append(
                f"commands run WITHOUT the bubblewrap sandbox: {why}. The demo's policies "
                "allow that (allow_unsandboxed = true); a real factory should not."
            )
        write_specs(demo, python or sys.executable, time_scale)
        copy_scenarios(home)
        if history:  # before the live runs: run ids follow time
            from andon.engine.ops.demo_history import add_demo_history

            add_demo_history(home, db, demo.specs)
        if queue:
            queue_specs(db, demo)
        (root / MARKER).write_text(describe(demo), encoding="utf-8")  # last: the home is whole
    finally:
        db.close()
    return demo


def make_sample_repo(path: Path) -> None:
    """`textkit`, a small Python package with its own tests, as a git repository on main.

    Package data cannot hold dot-files reliably, so `dot-x` in the data becomes `.x`.
    """
    source = data_dir() / "repo"
    for item in sorted(source.rglob("*")):
        if item.is_dir() or "__pycache__" in item.parts:
            continue
        rel = Path(*(p.replace("dot-", ".", 1) if p.startswith("dot-") else p
                     for p in item.relative_to(source).parts))
        target = path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(item.read_bytes())
    run_git(path, "init", "-q")
    run_git(path, "symbolic-ref", "HEAD", "refs/heads/main")
    # The factory's merges happen in this repository: give it an identity of its own, so
    # a machine without a git user.name can run the demo.
    run_git(path, "config", "user.name", "Andon demo")
    run_git(path, "config", "user.email", "demo@andon.invalid")
    run_git(path, "add", "--all")
    run_git(path, "commit", "-q", "-m", "textkit 0.1.0: slugify() and truncate()")


def write_config(home: Home, repo: Path, model: str) -> None:
    """Adapt the andon.toml that `Home.init` wrote (so every default key stays, with its
    comment): the demo's provider, enough concurrency for all seven specs, the sample repo."""
    provider = "scripted" if model == "scripted" else "anthropic"
    text = home.config_path.read_text(encoding="utf-8")
    text = _set_key(text, "engine", "provider", _toml_str(provider))
    # Runs waiting at a gate keep their slot: let all seven demo specs run at once.
    text = _set_key(text, "engine", "concurrency", "7")
    entry = f'{{ path = {_toml_str(str(repo))}, base = "main" }}'
    text = _set_key(text, "repos", REPO_KEY, entry)
    home.config_path.write_text(text, encoding="utf-8")
    home.reload()
    if REPO_KEY not in home.config.repos or home.config.engine.provider != provider:
        raise AssertionError(f"could not write the demo settings into {home.config_path}")


def _set_key(text: str, table: str, key: str, value: str) -> str:
    """Set `key = value` in `[table]` of a TOML text, keeping everything else."""
    header = re.search(rf"^\[{re.escape(table)}\][ \t]*$", text, re.M)
    if header is None:
        return text.rstrip("\n") + f"\n\n[{table}]\n{key} = {value}\n"
    nxt = re.search(r"^\[", text[header.end():], re.M)
    end = header.end() + nxt.start() if nxt else len(text)
    body = text[header.end():end]
    line = re.compile(rf"^{re.escape(key)}[ \t]*=.*$", re.M)
    if line.search(body):
        body = line.sub(lambda _: f"{key} = {value}", body, count=1)
    else:
        body = f"\n{key} = {value}" + body
    return text[:header.end()] + body + text[end:]


def save_demo_policies(db: Database, *, sandboxed: bool) -> None:
    text = (data_dir() / "policies.toml").read_text(encoding="utf-8")
    policies = parse_policies(text, source="engine/demo_data/policies.toml")
    if not sandboxed:
        policies = {name: p.model_copy(update={"allow_unsandboxed": True})
                    for name, p in policies.items()}
    save_policies(db, policies, user=DEMO_USER, reason="demo factory")


def demo_spec_text(name: str, *, model: str, python: str) -> str:
    text = (data_dir() / "specs" / f"{name}.md").read_text(encoding="utf-8")
    text = text.replace("{python}", shlex.quote(python))
    if model != "scripted":
        text = re.sub(r"^model: scripted\n", "", text, flags=re.M)
    return text


def demo_script_text(name: str, *, python: str, time_scale: float = 1.0) -> str:
    text = (data_dir() / "specs" / f"{name}.script.yaml").read_text(encoding="utf-8")
    text = text.replace("{python}", shlex.quote(python))
    if time_scale != 1.0:
        text = _DELAY.sub(lambda m: f"{m.group(1)}{float(m.group(2)) * time_scale:.3f}", text)
    return text


def write_specs(demo: DemoFactory, python: str, time_scale: float) -> None:
    folder = demo.home.root / "specs"
    folder.mkdir(mode=0o700, exist_ok=True)
    for name in SPECS:
        path = folder / f"{name}.md"
        path.write_text(demo_spec_text(name, model=demo.model, python=python), encoding="utf-8")
        if demo.model == "scripted":
            (folder / f"{name}.script.yaml").write_text(
                demo_script_text(name, python=python, time_scale=time_scale), encoding="utf-8")
        demo.specs[name] = path


def copy_scenarios(home: Home) -> None:
    """The holdout scenarios into `<home>/scenarios/<name>/`, executable, private."""
    source = data_dir() / "scenarios"
    for item in sorted(source.rglob("*")):
        if item.is_dir() or "__pycache__" in item.parts:
            continue
        target = home.scenarios / item.relative_to(source)
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        target.write_bytes(item.read_bytes())
        target.chmod(0o700)


def queue_specs(db: Database, demo: DemoFactory) -> None:
    """Queue a run of every one-off spec; store the recurring ones for the scheduler. A
    spec whose agent is not installed here is left out, and the notes say how to add it."""
    for name, path in demo.specs.items():
        spec = parse_spec(path)
        why = backend.missing(backend.chosen_in(spec.front.agent, load_policy(db,
                                                                             spec.category)))
        if why is not None:
            demo.notes.append(f"specs/{name}.md is not queued: {why}")
        elif spec.front.schedule:
            upsert_spec(db, spec)
            demo.recurring.append(name)
        else:
            demo.runs[name] = submit(db, path).id or 0


def describe(demo: DemoFactory) -> str:
    lines = [
        "# Andon demo factory",
        "",
        f"Built by `andon demo` with the {demo.model} model. The sample repository is "
        f"`{REPO_KEY}/` (textkit, a small Python package); the specs are in `specs/`.",
        "",
        "| spec | what it shows |",
        "|---|---|",
        *(f"| specs/{name}.md | {what} |" for name, what in SPECS.items()),
        "",
        "The bugfix and feature lines come with months of past runs (marked as demo "
        "history): the readiness screen (key `r`, or `andon report`) reads bugfix "
        "\"may run dark\" and feature \"not yet\", each with its numbers.",
        "",
        f"Open it again: `andon --home {demo.home.root}`",
    ]
    lines += ["", *(f"Note: {note}" for note in demo.notes)] if demo.notes else []
    return "\n".join(lines) + "\n"


def _toml_str(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def scaled_cron(time_scale: float) -> Callable[[str], BaseTrigger]:
    """A trigger factory for `engine.service.runner.Engine(cron_trigger=...)` that shrinks a cron
    schedule's period by `time_scale`: "*/1 * * * *" at 0.05 fires every 3 seconds.
    Only for the demo's fast mode (tests); a real factory keeps real cron."""

    def trigger(expression: str) -> BaseTrigger:
        cron = crontab(expression)
        first = cron.get_next_fire_time(None, datetime.now(UTC))
        second = cron.get_next_fire_time(first, first + timedelta(seconds=1)) if first else None
        period = (second - first).total_seconds() if first and second else 60.0
        return IntervalTrigger(seconds=max(period * time_scale, 0.5), timezone=UTC)

    return trigger


def start_engine(home: Home, db: Database, *, time_scale: float = 1.0) -> Engine:
    """The demo's engine in this process (the same engine `andon serve` runs)."""
    from andon.engine.service.runner import EmbeddedEngine

    cron = scaled_cron(time_scale) if time_scale != 1.0 else None
    return EmbeddedEngine(home, db, cron_trigger=cron).start()
