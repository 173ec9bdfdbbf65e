"""Several engines on one PostgreSQL factory: each queued run is claimed by exactly one,
a category's limit counts every engine's runs, a recurring spec's tick queues one run,
the cord holds every engine's runs. Against a real server (skipped, saying why, where
none can start)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from andon.engine.factory.config import EngineConfig
from andon.engine.factory.home import Home
from andon.engine.run.queue import claim_next, submit, upsert_spec
from andon.engine.run.status import transition
from andon.engine.service import cord
from andon.engine.service.runner import Engine
from andon.engine.service.scheduler import RecurringSpecs, last_tick, new_scheduler
from andon.engine.spec.specfile import parse_spec
from andon.store import models as m
from andon.store.db import Database
from tests.engine.service.test_runner import FAST, Body, _spec, until
from tests.support.rows import add_run

CLAIMER = textwrap.dedent("""
    import json, sys
    from andon.engine.run.queue import claim_next
    from andon.store.db import Database

    db = Database(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()  # all start together
    got = []
    while (run := claim_next(db, sys.argv[2])) is not None:
        got.append(run.id)
    print(json.dumps(got), flush=True)
""")


@pytest.fixture
def dbs(pg_url: str) -> Iterator[Callable[[], Database]]:
    """Opens the factory's database again, as another engine (host) would."""
    opened: list[Database] = []

    def open_one() -> Database:
        opened.append(Database(pg_url))
        return opened[-1]

    yield open_one
    for db in opened:
        db.close()


def test_each_queued_run_is_claimed_by_exactly_one_of_three_engines(
        pg_url: str, dbs: Callable[[], Database]) -> None:
    db = dbs()
    with db.write() as s:
        ids = [add_run(s).id for _ in range(60)]
    owners = [f"{1000 + i}@engine-{i}" for i in range(3)]
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMER, pg_url, owner], text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
             for owner in owners]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    claimed = {}
    for owner, proc in zip(owners, procs, strict=True):
        out, _ = proc.communicate(timeout=300)
        claimed[owner] = json.loads(out.strip().splitlines()[-1])
    every = [run_id for got in claimed.values() for run_id in got]
    assert sorted(every) == sorted(ids)  # each once: none twice, none left
    with db.read() as s:
        rows = {r.id: r for r in s.exec(select(m.Run)).all()}
    for owner, got in claimed.items():
        assert all(rows[r].claimed_by == owner and rows[r].status == m.RUNNING for r in got)


def test_a_category_limit_counts_the_runs_of_every_engine(
        dbs: Callable[[], Database]) -> None:
    here, there = dbs(), dbs()
    with here.write() as s:
        first, second = add_run(s).id, add_run(s).id
        docs = add_run(s, category="docs").id
    limits = {"feature": 1}
    taken = claim_next(here, "1@host-a", limits=limits)
    assert taken is not None and taken.id == first
    elsewhere = claim_next(there, "2@host-b", limits=limits)
    assert elsewhere is not None and elsewhere.id == docs  # the feature waits
    assert claim_next(there, "2@host-b", limits=limits) is None
    with here.write() as s:
        run = s.get(m.Run, first)
        assert run is not None
        transition(s, run, m.MERGED, "merged")
    again = claim_next(there, "2@host-b", limits=limits)
    assert again is not None and again.id == second


def test_a_recurring_spec_fires_once_per_tick_whichever_engines_fire_it(
        tmp_path: Path, dbs: Callable[[], Database]) -> None:
    here, there = dbs(), dbs()
    spec = upsert_spec(here, parse_spec(_spec(tmp_path, "nightly", schedule="0 3 * * *")))
    trigger = CronTrigger(hour=3, minute=0, timezone=UTC)
    tick = last_tick(trigger, datetime(2026, 11, 30, 3, 0, 20, tzinfo=UTC))
    assert tick == datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    engines = [RecurringSpecs(db, new_scheduler(), lambda _e: trigger) for db in (here, there)]
    queued = engines[0].fire(spec.id or 0, tick=tick)
    assert queued is not None
    with here.write() as s:  # its run ends before the other engine's job runs
        run = s.get(m.Run, queued)
        assert run is not None
        transition(s, run, m.CANCELLED, "cancelled")
    assert engines[1].fire(spec.id or 0, tick=tick) is None
    assert engines[1].fire(spec.id or 0, tick=datetime(2026, 12, 1, 3, tzinfo=UTC)) is not None
    with there.read() as s:
        ticks = [r.tick for r in s.exec(select(m.Run).order_by(col(m.Run.id))).all()]
    assert ticks == [tick, datetime(2026, 12, 1, 3, tzinfo=UTC)]
    with pytest.raises(IntegrityError), here.write() as s:  # the key, not the courtesy
        s.add(m.Run(spec_id=spec.id or 0, category="feature", tick=tick))


@pytest.fixture
def factory(tmp_path: Path, pg_url: str) -> Iterator[Callable[..., Engine]]:
    """Engines on one PostgreSQL factory, each with a home (a host) of its own."""
    made: list[tuple[Engine, Database]] = []

    def make(body: Body, **settings: object) -> Engine:
        root = tmp_path / f"host-{len(made)}"
        root.mkdir()
        (root / "andon.toml").write_text(f'[store]\nurl = "{pg_url}"\n')
        home = Home(root)
        db = home.init()
        engine = Engine(home, db, executor=body,
                        settings=EngineConfig(**{**FAST, **settings}))  # type: ignore[arg-type]
        made.append((engine, db))
        return engine

    yield make
    for engine, db in made:
        engine.stop(timeout=5)
        db.close()


def test_three_engines_run_every_run_once_and_the_cord_holds_them_all(
        tmp_path: Path, factory: Callable[..., Engine]) -> None:
    hold = threading.Event()
    bodies = [Body(hold=hold) for _ in range(3)]
    engines = [factory(body, concurrency=2) for body in bodies]
    for engine in engines:
        engine.start()
    db = engines[0].db
    ids = [submit(db, _spec(tmp_path, f"s{i}")).id for i in range(9)]
    until(lambda: sum(len(b.started) for b in bodies) == 6, timeout=120)
    cord.pull(engines[2].db, "stop the line", user="tester")  # from any engine's side
    until(lambda: _statuses(db).count(m.HELD) == 6, timeout=120)
    hold.set()
    cord.release(engines[1].db, user="tester")
    until(lambda: _statuses(db) == [m.MERGED] * 9, timeout=300)
    started = [run_id for body in bodies for run_id in body.started]
    assert sorted(started) == sorted(ids)  # each run executed by exactly one engine
    assert all(body.started for body in bodies)  # (each engine took its share)


def _statuses(db: Database) -> list[str]:
    with db.read() as s:
        return [r.status for r in s.exec(select(m.Run).order_by(col(m.Run.id))).all()]


def test_an_engine_whose_deciding_settings_differ_claims_nothing_and_says_which(
        tmp_path: Path, factory: Callable[..., Engine]) -> None:
    from andon.engine.service import rules

    engine = factory(Body(), scenario_trials=5)
    db = engine.db
    # Another host recorded the factory's rules first, with 3 trials per scenario.
    assert rules.check(db, engine.home, EngineConfig(**{**FAST, "scenario_trials": 3}),
                       host="host-a") is None
    engine.start()
    queued = submit(db, _spec(tmp_path, "one")).id
    assert engine.rules_problem is not None
    assert engine.rules_problem.startswith(
        "[engine] scenario_trials differs from the factory's: 5 here, 3 as host-a set it")
    assert engine.dispatch() == []  # refused, not merely late
    # The same trials, but a scenario the other host does not have.
    (engine.home.scenarios / "extra").mkdir()
    (engine.home.scenarios / "extra" / "check.sh").write_text("exit 0\n")
    engine.settings = EngineConfig(**{**FAST, "scenario_trials": 3})
    engine.check_rules()
    assert (engine.rules_problem or "").startswith("scenarios differs from the factory's")
    (engine.home.scenarios / "extra" / "check.sh").unlink()
    engine.check_rules()
    assert engine.rules_problem is None
    assert engine.dispatch() == [queued]
