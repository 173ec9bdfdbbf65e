"""The engine in-process: claim order, concurrency and per-category limits, daily budgets,
the cord, wake-ups from another connection, graceful drain, recurring specs, one engine
per home. The run body here is a small executor that walks step boundaries like the
pipeline does (the daemon tests run the real pipeline)."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from sqlmodel import col, select

from andon.engine.factory.config import EngineConfig
from andon.engine.factory.home import Home
from andon.engine.run.control import CORD_KEY, RunControl, Stopping
from andon.engine.run.log import RunLog
from andon.engine.run.queue import submit, upsert_spec
from andon.engine.service.daemon import running_daemon, start_embedded
from andon.engine.service.lock import EngineRunning
from andon.engine.service.runner import EmbeddedEngine, Engine
from andon.engine.spec.specfile import parse_spec
from andon.policies.stored import load_policy, save_policies
from andon.store import models as m
from andon.store.clock import utcnow
from andon.store.db import Database
from tests.conftest import write_spec

FAST = dict(dispatch_interval=60.0, watch_interval=0.05, inbox_interval=60.0,
            notify_interval=60.0, housekeeping_interval=60.0, heartbeat_interval=60.0,
            drain_timeout=5.0)


class Body:
    """What a run does: record its start, walk boundaries for `seconds`, then merge."""

    def __init__(self, seconds: float = 0.0, hold: threading.Event | None = None) -> None:
        self.seconds = seconds
        self.hold = hold
        self.started: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, home: Home, db: Database, run_id: int, control: RunControl) -> str:
        with self.lock:
            self.started.append(run_id)
        log = RunLog(db, run_id)
        log.enter("implement")
        end = time.monotonic() + self.seconds
        while time.monotonic() < end or (self.hold is not None and not self.hold.is_set()):
            control.boundary()
            control.wait(0.02)
        log.transition(m.MERGED, "merged into main", reason="merged into main")
        return m.MERGED


def _spec(tmp_path: Path, name: str, category: str = "feature", priority: int = 0,
          schedule: str | None = None) -> Path:
    extra = f"\n        schedule: \"{schedule}\"" if schedule else ""
    return write_spec(tmp_path / "specs", name, f"""
        title: {name}
        category: {category}
        repo: /nowhere
        priority: {priority}{extra}
        """)


def _status(db: Database, run_id: int) -> m.Run:
    with db.read() as s:
        run = s.get(m.Run, run_id)
        assert run is not None
        return run


def until(check: Callable[[], object], timeout: float = 30.0) -> float:
    """Wait until `check()` is truthy; returns the seconds it took."""
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"not within {timeout}s")
        time.sleep(0.01)
    return time.monotonic() - t0


@pytest.fixture
def engines(home: Home, db: Database) -> Iterator[Callable[..., Engine]]:
    made: list[Engine] = []

    def make(body: Callable[..., str] | None = None, cron: object = None,
             **settings: object) -> Engine:
        engine = Engine(home, db, executor=body or Body(),
                        settings=EngineConfig(**{**FAST, **settings}),  # type: ignore[arg-type]
                        cron_trigger=cron)  # type: ignore[arg-type]
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.stop(timeout=2)


def test_claims_by_priority_then_age_within_the_concurrency(
        tmp_path: Path, db: Database, engines: Callable[..., Engine]) -> None:
    older = submit(db, _spec(tmp_path, "older")).id
    urgent = submit(db, _spec(tmp_path, "urgent", priority=5)).id
    newer = submit(db, _spec(tmp_path, "newer")).id
    body = Body(seconds=0.05)
    engine = engines(body, concurrency=1).start()
    until(lambda: engine.stats.finished == 3)
    assert body.started == [urgent, older, newer]
    assert all(_status(db, r or 0).status == m.MERGED for r in (older, urgent, newer))


def test_global_and_per_category_limits(tmp_path: Path, db: Database,
                                        engines: Callable[..., Engine]) -> None:
    features = [submit(db, _spec(tmp_path, f"f{i}")).id for i in range(3)]
    docs = [submit(db, _spec(tmp_path, f"d{i}", category="docs")).id for i in range(3)]
    hold = threading.Event()
    engine = engines(Body(hold=hold), concurrency=3, per_category={"feature": 1}).start()
    until(lambda: len(engine.running_runs()) == 3)
    time.sleep(0.2)  # nothing more starts
    assert engine.running_runs() == sorted([features[0], docs[0], docs[1]])
    assert _status(db, features[1] or 0).status == m.QUEUED
    hold.set()
    until(lambda: engine.stats.finished == 6)


def test_a_category_past_its_daily_budget_waits_and_says_why(
        tmp_path: Path, db: Database, engines: Callable[..., Engine]) -> None:
    spent = submit(db, _spec(tmp_path, "earlier")).id
    with db.write() as s:
        run = s.get(m.Run, spent)
        assert run is not None
        run.status, run.started_at = m.MERGED, utcnow()
        s.add(m.Usage(run_id=spent or 0, category="feature", turn=1, model="x",
                      cost_usd=999.0))
    feature = submit(db, _spec(tmp_path, "more")).id
    doc = submit(db, _spec(tmp_path, "doc", category="docs")).id
    engine = engines(Body()).start()
    until(lambda: _status(db, doc or 0).status == m.MERGED)
    time.sleep(0.1)
    waiting = _status(db, feature or 0)
    assert waiting.status == m.QUEUED
    assert "daily budget" in (waiting.reason or "") and "$999.00" in (waiting.reason or "")
    assert engine.stats.finished == 1

    # A person raises the budget (from any process): the run starts, its reason goes.
    policy = load_policy(db, "feature")
    save_policies(db, [policy.model_copy(update={"daily_usd": 5000.0})], user="ann")
    until(lambda: _status(db, feature or 0).status == m.MERGED)
    assert "budget" not in (_status(db, feature or 0).reason or "")


def test_submit_from_another_connection_wakes_dispatch(
        tmp_path: Path, home: Home, db: Database, engines: Callable[..., Engine]) -> None:
    engine = engines(Body()).start()
    other = Database(home.db_path)  # another connection pool, as another process has
    try:
        run_id = submit(other, _spec(tmp_path, "late")).id
        # Dispatch polls once a minute here: a start well before that is the wake-up's
        # (its latency is bench/daemon_latency.py's to measure).
        took = until(lambda: _status(db, run_id or 0).status != m.QUEUED, timeout=30)
    finally:
        other.close()
    assert took < 30
    until(lambda: engine.stats.finished == 1)


def test_the_cord_stops_new_starts_and_release_wakes_dispatch(
        tmp_path: Path, db: Database, engines: Callable[..., Engine]) -> None:
    with db.write() as s:
        s.add(m.Setting(key=CORD_KEY, value={"by": "ann", "reason": "bad deploy"}))
    run_id = submit(db, _spec(tmp_path, "blocked")).id
    engines(Body()).start()
    time.sleep(0.3)
    assert _status(db, run_id or 0).status == m.QUEUED
    with db.write() as s:
        row = s.get(m.Setting, CORD_KEY)
        assert row is not None
        row.value = None
        s.add(row)
    until(lambda: _status(db, run_id or 0).status == m.MERGED)  # long before the next poll


def test_stop_drains_runs_at_a_boundary_and_leaves_them_resumable(
        tmp_path: Path, db: Database, engines: Callable[..., Engine]) -> None:
    run_id = submit(db, _spec(tmp_path, "long")).id
    engine = engines(Body(seconds=30)).start()
    until(lambda: engine.running_runs() == [run_id])
    t0 = time.monotonic()
    assert engine.stop(timeout=20) is True
    assert time.monotonic() - t0 < 20  # at the next boundary, not after the 30 s body
    run = _status(db, run_id or 0)
    assert run.status == m.INTERRUPTED and "resumes" in (run.reason or "")
    assert running_daemon(engine.home) is None

    # The next engine resumes it.
    again = engines(Body())
    again.start()
    until(lambda: _status(db, run_id or 0).status == m.MERGED)
    with db.read() as s:
        kinds = [e.kind for e in s.exec(select(m.Event).where(m.Event.run_id == run_id)
                                        .order_by(col(m.Event.id))).all()]
    assert kinds.count("run.started") == 2
    assert kinds.index("run.interrupted") < kinds.index("run.resumed") < len(kinds) - 1


def test_a_run_that_ignores_the_stop_is_marked_interrupted_after_the_timeout(
        tmp_path: Path, db: Database, engines: Callable[..., Engine]) -> None:
    release = threading.Event()

    def stubborn(home: Home, db: Database, run_id: int, control: RunControl) -> str:
        release.wait(10)  # a long tool call: no boundary in sight
        raise Stopping("finally noticed")

    run_id = submit(db, _spec(tmp_path, "stubborn")).id
    engine = engines(stubborn)
    engine.start()
    until(lambda: engine.running_runs() == [run_id])
    assert engine.stop(timeout=0.2) is False
    run = _status(db, run_id or 0)
    assert run.status == m.INTERRUPTED and "drain timeout" in (run.reason or "")
    release.set()


def test_a_crashing_run_fails_and_the_engine_goes_on(
        tmp_path: Path, db: Database, engines: Callable[..., Engine]) -> None:
    def crash(home: Home, db: Database, run_id: int, control: RunControl) -> str:
        raise RuntimeError("disk on fire")

    first = submit(db, _spec(tmp_path, "one")).id
    second = submit(db, _spec(tmp_path, "two")).id
    engines(crash, concurrency=1).start()
    until(lambda: _status(db, second or 0).status == m.FAILED)
    assert "disk on fire" in (_status(db, first or 0).reason or "")


def test_a_recurring_spec_fires_and_records_when(
        tmp_path: Path, db: Database, engines: Callable[..., Engine]) -> None:
    spec_path = _spec(tmp_path, "nightly", schedule="0 3 * * *")
    row = upsert_spec(db, parse_spec(spec_path))
    engine = engines(Body(), concurrency=0,
                     cron=lambda expression: IntervalTrigger(seconds=0.3))
    engine.start()
    assert engine.scheduler.get_job(f"cron-{row.id}") is not None
    until(lambda: _runs_of(db, row.id or 0))
    time.sleep(0.7)  # more firings while the first run is still queued: no pile-up
    runs = _runs_of(db, row.id or 0)
    assert len(runs) == 1 and runs[0].status == m.QUEUED
    with db.read() as s:
        spec = s.get(m.Spec, row.id)
        assert spec is not None and spec.last_fired_at is not None
        event = s.exec(select(m.Event).where(m.Event.run_id == runs[0].id)).first()
    assert event is not None and "scheduled: 0 3 * * *" in event.message

    # The schedule goes away with the spec's schedule.
    with db.write() as s:
        spec = s.get(m.Spec, row.id)
        assert spec is not None
        spec.schedule, spec.updated_at = None, utcnow()
    engine.sync_schedules()
    assert engine.scheduler.get_job(f"cron-{row.id}") is None


def _runs_of(db: Database, spec_id: int) -> list[m.Run]:
    with db.read() as s:
        return list(s.exec(select(m.Run).where(m.Run.spec_id == spec_id)).all())


def test_real_crontab_triggers_follow_the_spec() -> None:
    from andon.engine.spec.schedule import crontab

    def days(expression: str) -> set[int]:
        trigger, when, seen = crontab(expression), utcnow(), set()
        for _ in range(7):
            when = trigger.get_next_fire_time(None, when + timedelta(minutes=1))
            assert when is not None and (when.hour, when.minute) == (2, 30)
            seen.add(when.isoweekday() % 7)  # 0 = Sunday, as cron counts
        return seen

    # Standard cron weekdays (APScheduler 3's own numbering starts at Monday).
    assert days("30 2 * * 1") == {1}
    assert days("30 2 * * 0") == days("30 2 * * 7") == days("30 2 * * sun") == {0}
    assert days("30 2 * * 1-5") == {1, 2, 3, 4, 5}
    assert days("30 2 * * */2") == {0, 2, 4, 6}
    assert days("30 2 * * 5-7") == {5, 6, 0}
    assert days("30 2 * * *") == set(range(7))
    with pytest.raises(ValueError):
        crontab("30 2 * *")


def test_one_engine_per_home_and_running_daemon(home: Home, db: Database,
                                                engines: Callable[..., Engine]) -> None:
    assert running_daemon(home) is None
    first = engines(Body()).start()
    with pytest.raises(EngineRunning) as refused:
        Engine(home, db, settings=EngineConfig(**FAST)).start()
    assert f"pid {first.info.pid if first.info else '?'}" in str(refused.value)
    info = running_daemon(home)
    assert info is not None and info.mode == "daemon"
    assert info.pid == first.info.pid if first.info else False
    assert info.host == socket.gethostname()
    assert info.heartbeat is not None and not info.stale()
    first.stop()
    assert running_daemon(home) is None

    embedded = EmbeddedEngine(home, db, settings=EngineConfig(**FAST)).start()
    try:
        info = running_daemon(home)
        assert info is not None and info.mode == "embedded"
        assert start_embedded(home, db, log_to_file=False) is None  # one is running
    finally:
        embedded.stop()

    started = start_embedded(home, db, log_to_file=False)
    try:
        assert started is not None and started.running
        info = running_daemon(home)
        assert info is not None and info.mode == "embedded"
    finally:
        started.stop()
    assert running_daemon(home) is None


def test_the_lock_is_held_across_processes(home: Home, tmp_path: Path) -> None:
    """A lock taken by another process shows up here with its pid, and goes with it."""
    code = ("import sys,time; from pathlib import Path;"
            "from andon.engine.service.lock import EngineLock;"
            f"lk=EngineLock(Path({str(home.root)!r})); lk.acquire(); print('ok', flush=True);"
            "time.sleep(30)")
    with subprocess.Popen([__import__("sys").executable, "-c", code],
                          stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ok"
            info = running_daemon(home)
            assert info is not None and info.pid == proc.pid
        finally:
            proc.kill()
            proc.wait()
    assert running_daemon(home) is None  # the kernel dropped it with the process


def test_reload_keeps_the_old_configuration_when_the_file_is_broken(
        home: Home, db: Database) -> None:
    engine = Engine(home, db)
    assert engine.settings.concurrency == 2
    home.config_path.write_text("[engine]\nconcurrency = 4\nper_category = { docs = 1 }\n")
    assert engine.reload() is True
    assert engine.settings.concurrency == 4 and engine.settings.per_category == {"docs": 1}
    home.config_path.write_text("[engine\nconcurrency = 9\n")
    assert engine.reload() is False
    assert engine.settings.concurrency == 4


def test_a_failed_run_reaches_the_webhook(tmp_path: Path, home: Home, db: Database,
                                          engines: Callable[..., Engine]) -> None:
    from tests.engine.service.test_notify import Hooked

    hook = Hooked()
    hook.thread.start()
    try:
        home.config_path.write_text(f'[notify]\nwebhook = "{hook.url}"\ntimeout = 2\n')
        home.reload()

        def crash(home: Home, db: Database, run_id: int, control: RunControl) -> str:
            raise RuntimeError("out of disk")

        run_id = submit(db, _spec(tmp_path, "doomed")).id
        engines(crash, notify_interval=0.1).start()
        until(lambda: hook.bodies)
    finally:
        hook.server.shutdown()
        hook.server.server_close()
    [body] = hook.bodies
    assert body["event"] == "run.failed" and body["run"] == run_id
    assert "out of disk" in body["reason"] and body["category"] == "feature"


def test_housekeeping_expires_gates_and_recovers_runs_of_dead_processes(
        tmp_path: Path, db: Database, engines: Callable[..., Engine]) -> None:
    from andon.engine.gates.gate import open_gate

    waiting = submit(db, _spec(tmp_path, "waits")).id or 0
    orphan = submit(db, _spec(tmp_path, "orphan")).id or 0
    gone = subprocess.Popen(["true"])
    gone.wait()
    with db.write() as s:
        for run_id in (waiting, orphan):
            run = s.get(m.Run, run_id)
            assert run is not None
            run.status, run.claimed_by = m.RUNNING, f"{gone.pid}@{socket.gethostname()}"
            run.stage = "implement"
    gate = open_gate(db, waiting, "review", "Review it", timeout_minutes=1,
                     timeout_decision="reject")
    with db.write() as s:
        row = s.get(m.Gate, gate.id)
        assert row is not None
        row.timeout_at = utcnow() - timedelta(seconds=1)
    engine = engines(Body(), concurrency=0)
    engine.acquire()  # housekeeping without dispatch or recovery at start
    engine.housekeeping()
    with db.read() as s:
        expired = s.get(m.Gate, gate.id)
        assert expired is not None and expired.status == m.TIMED_OUT
    assert _status(db, orphan).status == m.QUEUED
    assert "resume" in (_status(db, orphan).reason or "")


def test_clean_restarts_never_fail_a_run_waiting_at_its_gate(
        tmp_path: Path, db: Database, engines: Callable[..., Engine]) -> None:
    from andon.engine.gates.gate import decide_gate, open_gate, wait_for_gate

    def at_review(home: Home, db: Database, run_id: int, control: RunControl) -> str:
        gate = open_gate(db, run_id, "review", "review the change", {})
        if not wait_for_gate(db, gate.id or 0, control=control).approved:
            raise AssertionError("only approved here")
        RunLog(db, run_id).transition(m.MERGED, "merged into main", reason="merged")
        return m.MERGED

    run_id = submit(db, _spec(tmp_path, "reviewed")).id or 0
    for _ in range(5):  # more clean stops than max_resumes allows interruptions
        engine = engines(at_review, max_resumes=3).start()
        until(lambda: _status(db, run_id).status == m.WAITING, timeout=60)
        assert engine.stop(timeout=30) is True
        assert _status(db, run_id).status == m.INTERRUPTED
    engine = engines(at_review, max_resumes=3).start()
    until(lambda: _status(db, run_id).status == m.WAITING, timeout=60)
    with db.read() as s:
        [gate] = s.exec(select(m.Gate).where(m.Gate.run_id == run_id)).all()
    decide_gate(db, gate.id or 0, "approve", user="ann")
    until(lambda: _status(db, run_id).status == m.MERGED, timeout=60)
    assert _status(db, run_id).data.get("resumes", 0) == 0


def test_a_drain_cut_short_by_its_timeout_is_not_counted_against_max_resumes(
        tmp_path: Path, db: Database, engines: Callable[..., Engine]) -> None:
    release = threading.Event()

    def stubborn(home: Home, db: Database, run_id: int, control: RunControl) -> str:
        release.wait(60)  # a long tool call: no boundary in sight
        raise Stopping("finally noticed")

    run_id = submit(db, _spec(tmp_path, "stubborn")).id or 0
    engine = engines(stubborn, max_resumes=0).start()
    until(lambda: engine.running_runs() == [run_id], timeout=60)
    assert engine.stop(timeout=0.2) is False
    release.set()
    until(lambda: engine.running_runs() == [], timeout=60)
    assert _status(db, run_id).status == m.INTERRUPTED

    engines(Body(), max_resumes=0).start()  # a person stopped it: not a crash loop
    until(lambda: _status(db, run_id).status == m.MERGED, timeout=60)
