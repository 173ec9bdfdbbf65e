"""A deterministic factory for control-room tests and snapshots.

`seed_factory(home, db)` fills a fresh store with a fixed picture of a factory day:
policies for five lines, runs in every state (merged dark and touched, failed, running,
waiting at a review gate, queued, unknown cost), their stage events, streamed model
text, tool calls and checks, and a real git worktree for the running run's diff. Ids,
timestamps and commit hashes are the same on every machine.

For snapshots, use the `seeded` fixture (it also freezes "now" with ANDON_NOW and the
local time zone with TZ=UTC) and `frozen_app(seeded)`; `settle` waits until every
screen has loaded. Example (a screen registered as a mode, opened by its key):

    from tests.support.tui import Seeded, frozen_app, seeded, settle  # noqa: F401

    def test_gates_inbox_80x24(snap_compare, seeded: Seeded) -> None:
        assert snap_compare(frozen_app(seeded), press=["g"], terminal_size=(80, 24),
                            run_before=settle)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from andon.engine.factory.home import Home
from andon.store import models as m
from andon.store.db import Database

FROZEN_NOW = datetime(2026, 11, 25, 15, 0, 0, tzinfo=UTC)
GIT_DATE = "2026-11-25T09:00:00+00:00"

LEVELS = {"docs": 4, "deps": 3, "bugfix": 3, "feature": 2, "migration": 2}


@dataclass
class Seeded:
    home: Home
    db: Database
    runs: dict[str, int] = field(default_factory=dict)  # name -> run id
    gates: dict[str, int] = field(default_factory=dict)
    repo: Path | None = None


def at(minutes_ago: float) -> datetime:
    return FROZEN_NOW - timedelta(minutes=minutes_ago)


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Tester", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "Tester", "GIT_COMMITTER_EMAIL": "t@example.com",
           "GIT_AUTHOR_DATE": GIT_DATE, "GIT_COMMITTER_DATE": GIT_DATE}
    return subprocess.run(["git", "-c", "core.hooksPath=/dev/null", *args], cwd=cwd,
                          check=True, capture_output=True, text=True, env=env).stdout.strip()


def make_worktree(root: Path, run_id: int) -> tuple[Path, Path, str]:
    """A repo with one commit, and a worktree on andon/<run> with uncommitted work."""
    repo = root / "repo"
    repo.mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    (repo / "sample").mkdir()
    (repo / "sample" / "__init__.py").write_text("")
    (repo / "sample" / "text.py").write_text(
        '"""Text helpers."""\n\n\ndef shout(text: str) -> str:\n    return text.upper() + "!"\n')
    (repo / "README.md").write_text("# sample\n\nA tiny package.\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "initial")
    base = _git(repo, "rev-parse", "HEAD")
    worktree = root / "worktrees" / f"run-{run_id}"
    _git(repo, "worktree", "add", "-q", "-b", f"andon/{run_id}", str(worktree), base)
    (worktree / "sample" / "text.py").write_text(
        '"""Text helpers."""\n\nimport re\n\n\ndef shout(text: str) -> str:\n'
        '    return text.upper() + "!"\n\n\ndef slugify(text: str) -> str:\n'
        '    """Lower-case words joined by dashes."""\n'
        '    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")\n')
    (worktree / "tests").mkdir()
    (worktree / "tests" / "test_slug.py").write_text(
        "from sample.text import slugify\n\n\ndef test_slugify():\n"
        '    assert slugify("Hello, World!") == "hello-world"\n')
    return repo, worktree, base


def _run(s: Any, spec: m.Spec, **fields: Any) -> m.Run:
    run = m.Run(spec_id=spec.id or 0, title=spec.title, category=spec.category,
                level=LEVELS[spec.category], **fields)
    s.add(run)
    s.flush()
    if run.started_at is not None and run.model:  # its calls, as one: spend today's rows
        s.add(m.Usage(run_id=run.id or 0, category=run.category, turn=1, model=run.model,
                      input_tokens=run.tokens_in, output_tokens=run.tokens_out,
                      cost_usd=fields.get("cost_usd"), ts=run.started_at))
    return run


def seed_factory(home: Home, db: Database, *, with_repo: bool = True) -> Seeded:
    seeded = Seeded(home, db)
    with db.write() as s:
        for category, level in LEVELS.items():
            row = s.get(m.PolicyRow, category) or m.PolicyRow(category=category, level=level)
            row.level = level
            s.add(row)
        specs = {}
        for name, category, title in [
            ("readme", "docs", "Explain the cord in the README"),
            ("bump", "deps", "Bump pyyaml to 6.0.3"),
            ("nullfix", "bugfix", "Fix the crash on empty titles"),
            ("slug", "feature", "Add a slugify helper"),
            ("cache", "feature", "Cache the spec parser"),
            ("typo", "docs", "Fix typos in HACKING.md"),
            ("schema", "migration", "Add an index on events.kind"),
        ]:
            spec = m.Spec(path=f"/specs/{name}.md", title=title, category=category,
                          repo="sample", checks=["python -m pytest -q"], created_at=at(600),
                          updated_at=at(600), body="# Intent\nDo it.\n")
            s.add(spec)
            s.flush()
            specs[name] = spec
        r = seeded.runs
        r["old_failed"] = _run(s, specs["cache"], status=m.FAILED, stage="validate",
                               created_at=at(60 * 30), started_at=at(60 * 30),
                               finished_at=at(60 * 30 - 9), model="claude-sonnet-5-5",
                               turns=12, tokens_in=80_000, tokens_out=9_000, cost_usd=0.41,
                               reason="checks failed: `python -m pytest -q` (exit 1)").id or 0
        r["dark"] = _run(s, specs["readme"], status=m.MERGED, stage="merge",
                         created_at=at(300), started_at=at(299), finished_at=at(290),
                         merged_at=at(290), model="scripted", turns=3, tokens_in=9_000,
                         tokens_out=1_200, cost_usd=0.05, satisfaction=1.0,
                         reason="merged into main").id or 0
        r["touched"] = _run(s, specs["nullfix"], status=m.MERGED, stage="merge",
                            created_at=at(240), started_at=at(239), finished_at=at(200),
                            merged_at=at(200), model="claude-sonnet-5-5", turns=8,
                            tokens_in=40_000, tokens_out=5_000, cost_usd=0.23,
                            human_touched=True, satisfaction=1.0,
                            reason="merged into main").id or 0
        r["failed"] = _run(s, specs["schema"], status=m.FAILED, stage="validate",
                           created_at=at(120), started_at=at(119), finished_at=at(100),
                           model="claude-sonnet-5-5", turns=6, tokens_in=30_000,
                           tokens_out=4_000, cost_usd=0.18,
                           reason="checks failed: `python -m pytest -q` (exit 1)").id or 0
        r["waiting"] = _run(s, specs["bump"], status=m.WAITING, stage="review",
                            created_at=at(45), started_at=at(44), model="claude-sonnet-5-5",
                            turns=5, tokens_in=21_000, tokens_out=2_500, cost_usd=0.11).id or 0
        r["running"] = _run(s, specs["slug"], status=m.RUNNING, stage="implement",
                            created_at=at(4), started_at=at(3.5), model="scripted", turns=4,
                            tokens_in=10_400, tokens_out=1_900, cost_usd=0.04).id or 0
        r["unknown"] = _run(s, specs["typo"], status=m.RUNNING, stage="implement",
                            created_at=at(2), started_at=at(1.5), model="local-llama",
                            turns=1, tokens_in=3_000, tokens_out=200, cost_usd=None).id or 0
        r["queued"] = _run(s, specs["cache"], status=m.QUEUED, created_at=at(1)).id or 0

        gate = m.Gate(run_id=r["waiting"], kind="review", stage="review",
                      title="Review the change against its spec before merge",
                      detail={"diff": "", "numstat": "1\t1\tpyproject.toml"},
                      created_at=at(30))
        s.add(gate)
        s.flush()
        seeded.gates["review"] = gate.id or 0

        def event(run: str, minutes: float, kind: str, message: str, stage: str | None = None,
                  **data: Any) -> None:
            s.add(m.Event(run_id=r[run], ts=at(minutes), kind=kind, stage=stage,
                          message=message, data=data or None))

        def step(run: str, minutes: float, stage: str, kind: str, name: str, status: str,
                 output: str | None = None, input: Any = None, exit_code: int | None = None,
                 took: float = 0.05, **data: Any) -> None:
            s.add(m.Step(run_id=r[run], stage=stage, kind=kind, name=name, status=status,
                         input=input, output=output, exit_code=exit_code,
                         started_at=at(minutes),
                         finished_at=None if status == "running" else at(minutes - took),
                         data=data))

        for name, stages in [("dark", [("prepare", 299), ("implement", 298.5),
                                       ("validate", 293), ("review", 291), ("merge", 290.5)]),
                             ("touched", [("prepare", 239), ("implement", 238),
                                          ("validate", 215), ("review", 212), ("merge", 201)]),
                             ("failed", [("prepare", 119), ("implement", 118),
                                         ("validate", 101)]),
                             ("waiting", [("prepare", 44), ("implement", 43.5),
                                          ("validate", 35), ("review", 31)]),
                             ("running", [("prepare", 3.5), ("implement", 3.2)]),
                             ("unknown", [("prepare", 1.5), ("implement", 1.2)])]:
            for stage, minutes in stages:
                event(name, minutes, "stage", f"{stage} started", stage)
        event("queued", 1, "run.queued", "queued: Cache the spec parser (submitted)")
        event("running", 4, "run.queued", "queued: Add a slugify helper (submitted)")
        event("running", 3.4, "workspace", "worktree run-6 on andon/6", "prepare")
        event("running", 3.1, "model.text", "I'll read the module first, ", "implement",
              turn=1)
        event("running", 3.05, "model.text", "then add `slugify` next to `shout`.",
              "implement", turn=1)
        step("running", 3.0, "implement", "tool", "str_replace_based_edit_tool", "ok",
             output='"""Text helpers."""\n\n\ndef shout(text: str) -> str:\n'
                    '    return text.upper() + "!"\n',
             input={"command": "view", "path": "sample/text.py"})
        event("running", 2.5, "model.text", "Adding the helper and a test for it.",
              "implement", turn=2)
        step("running", 2.4, "implement", "tool", "str_replace_based_edit_tool", "ok",
             output="The file sample/text.py has been edited.",
             input={"command": "str_replace", "path": "sample/text.py",
                    "old_str": 'return text.upper() + "!"\n',
                    "new_str": 'return text.upper() + "!"\n\n\ndef slugify(text):\n    ...'})
        step("running", 1.0, "implement", "tool", "bash", "failed",
             output="F\n=== FAILURES ===\nE   AssertionError: 'hello,-world' != 'hello-world'\n"
                    "1 failed in 0.02s", input={"command": "python -m pytest -q"},
             exit_code=1)
        event("running", 0.9, "model.text", "The regex keeps the comma; I'll widen it.",
              "implement", turn=3)
        step("running", 0.5, "implement", "tool", "bash", "running",
             input={"command": "python -m pytest -q tests/test_slug.py"})
        event("waiting", 44, "run.queued", "queued: Bump pyyaml to 6.0.3 (submitted)")
        step("waiting", 34, "validate", "check", "python -m pytest -q", "ok",
             output="....\n4 passed in 0.11s", exit_code=0, took=0.3, seconds=0.31)
        step("waiting", 33, "validate", "scenario", "Loading a YAML config still works",
             "ok", output="(hidden)", seconds=1.2)
        step("waiting", 32.8, "validate", "scenario", "Unsafe YAML tags are refused", "failed",
             output="(hidden)", seconds=0.7)
        event("waiting", 31, "gate.opened", "review gate opened: Review the change", "review")
        step("failed", 101, "validate", "check", "python -m pytest -q", "failed",
             output="F.\n=== FAILURES ===\nE   sqlite3.OperationalError: no such column\n"
                    "1 failed, 1 passed in 0.05s", exit_code=1, took=0.2, seconds=0.2)
        event("failed", 100, "run.failed",
              "checks failed: `python -m pytest -q` (exit 1)", "validate")

    with db.write() as s:
        waiting = s.get(m.Run, r["waiting"])
        unknown = s.get(m.Run, r["unknown"])
        assert waiting is not None and unknown is not None
        waiting.satisfaction = 0.5
        unknown.cost_usd = None  # a model with no price: its cost is unknown, not free
        s.add_all([waiting, unknown])

    if with_repo:
        repo, worktree, base = make_worktree(home.root / "git", r["running"])
        seeded.repo = repo
        with db.write() as s:
            run = s.get(m.Run, r["running"])
            assert run is not None
            run.repo_path, run.worktree, run.base_commit = str(repo), str(worktree), base
            run.branch, run.base = f"andon/{r['running']}", "main"
            s.add(run)
    return seeded


@pytest.fixture
def seeded(home: Home, db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Seeded]:
    """A seeded factory with "now" frozen at FROZEN_NOW and local time in UTC."""
    monkeypatch.setenv("ANDON_NOW", FROZEN_NOW.isoformat())
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        yield seed_factory(home, db)
    finally:
        monkeypatch.undo()
        time.tzset()


def frozen_app(seeded: Seeded, **kwargs: Any) -> Any:
    """The control room over a seeded factory, with the frozen clock (no engine)."""
    from andon.tui.app import AndonApp
    from andon.tui.data import clock_from_env

    return AndonApp(seeded.home, seeded.db, clock=clock_from_env(), **kwargs)


async def settle(pilot: Any, rounds: int = 4) -> None:
    """Wait until the app's workers are done and what they posted is shown."""
    from textual.worker import WorkerCancelled, WorkerFailed

    for _ in range(rounds):
        # A failed or cancelled worker is reported by the app; here it only has to end.
        with contextlib.suppress(WorkerCancelled, WorkerFailed):
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def wait_for(condition: Callable[[], object], timeout: float = 30.0) -> float:
    """Wait until `condition()` holds; returns how long it took. Generous: on a loaded
    machine a timeout only makes a failing test slower. Latency is measured in bench/."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not true within {timeout}s")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


def highlighted_command(app: Any) -> str | None:
    """The command palette's highlighted command (its first line), once its search has
    settled on one; pressing enter before that picks whatever came first."""
    from textual.command import CommandList

    lists = app.screen.query(CommandList)
    if not lists or lists.first().highlighted is None:
        return None
    option = lists.first().get_option_at_index(lists.first().highlighted)
    return str(option.prompt).splitlines()[0] if option else None
