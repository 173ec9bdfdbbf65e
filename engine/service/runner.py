"""The engine: claims queued runs and executes them in worker threads.

One `Engine` per home (it holds the home's engine lock). `andon serve` runs one
headless (mode "daemon"); the TUI starts one in its own process when no daemon runs
(mode "embedded"). Both do the same work with the same APScheduler 3.x jobs:

* dispatch: claims queued runs, highest priority first then oldest, while fewer than
  `[engine] concurrency` run, skipping categories at their `[engine.per_category]` limit
  or past their policy's daily dollar budget, and nothing at all while the cord is
  pulled. Besides its interval tick, a dispatch pass runs as soon as anything commits
  to the database (a watcher reads `PRAGMA data_version` every `watch_interval`
  seconds), so a submit, a gate decision or a cord release from another process is
  seen within a fraction of a second; and whenever a run finishes.
* cron: one job per recurring spec (its `schedule:`), which queues a run
  (`engine.service.scheduler.RecurringSpecs`).
* inbox: spec files dropped into the inbox folders are validated and queued.
* housekeeping: gate timeouts, orphaned runs of dead processes, worktree retention.
* notify: hooks for events that need a person.
* heartbeat: the Setting row "engine" (pid, mode, start, heartbeat, running runs).

`stop()` drains: dispatch stops, every running run's `RunControl` is told to stop (the
run raises `Stopping` at its next step boundary and stays resumable), and runs still
busy after the timeout are marked interrupted. The next engine to start resumes them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlmodel import col, select

from andon.engine.errors import UserError
from andon.engine.factory.config import EngineConfig
from andon.engine.factory.home import Home
from andon.engine.gates.gate import expire_gates
from andon.engine.run.control import Cancelled, RunControl, Stopping
from andon.engine.run.queue import claim_next, owner_id
from andon.engine.run.status import allowed, transition
from andon.engine.service import inbox, recovery, rules
from andon.engine.service.cord import cord_pulled
from andon.engine.service.lock import EngineLock, LockHolder
from andon.engine.service.notify import Notifier
from andon.engine.service.scheduler import RecurringSpecs, TriggerFactory, new_scheduler
from andon.engine.spec.schedule import crontab
from andon.store import models as m
from andon.store import queries as q
from andon.store.clock import start_of_day, utcnow
from andon.store.db import Database, fault_message, storage_fault

log = logging.getLogger("andon.engine")

ENGINE_KEY = "engine"  # Setting row: who runs the engine, and its heartbeat

Executor = Callable[[Home, Database, int, RunControl], str | None]


def _warm_up() -> None:
    # A failure here shows again, with its reason, when a run needs the pipeline.
    with contextlib.suppress(Exception):
        import andon.engine.pipeline.stages  # noqa: F401


def run_pipeline(home: Home, db: Database, run_id: int, control: RunControl) -> str | None:
    """Execute one run through the pipeline with the run's control (so a stop request
    reaches it at the next step boundary)."""
    from andon.engine.pipeline.stages import Pipeline  # the model SDK is slow to import

    record_fingerprint(home, db, run_id)
    return Pipeline(home, db, run_id, control=control).execute()


def record_fingerprint(home: Home, db: Database, run_id: int) -> None:
    """What shapes the run, for the readiness report's evidence windows (once per run).
    A failure here costs the report one fingerprint, never the run."""
    from andon.engine.readiness.fingerprint import record_evidence

    try:
        record_evidence(home, db, run_id)
    except Exception:
        log.exception("run %s: its evidence fingerprint was not recorded", run_id)


@dataclass
class EngineStats:
    """What the engine itself spent (for the benchmark and `andon doctor`)."""

    dispatch_passes: int = 0
    dispatch_seconds: float = 0.0  # wall time inside dispatch passes
    dispatch_cpu: float = 0.0  # CPU time of those passes (their own thread's)
    claimed: int = 0
    finished: int = 0
    run_seconds: float = 0.0  # time inside the executor, summed over runs


@dataclass
class Worker:
    run_id: int
    category: str
    thread: threading.Thread
    started: float


def spend_today(db: Database, category: str, now: datetime | None = None,
                zone: str = "UTC") -> float:
    """Dollars a category's model calls cost today (the day of `zone`, the factory's
    `[engine] timezone`): the board's "spend today", simulated money included."""
    since = start_of_day(now or utcnow(), zone)
    return q.spend_since(db, since).get(category, q.Spend()).total


class Engine:
    """Executes runs of one home. `start()`, then `stop()`; safe to use from any thread."""

    def __init__(self, home: Home, db: Database, *, mode: str = "daemon",
                 executor: Executor | None = None,
                 cron_trigger: TriggerFactory | None = None,
                 settings: EngineConfig | None = None) -> None:
        self.home = home
        self.db = db
        self.mode = mode
        self.owner = owner_id()
        self.execute = executor or run_pipeline
        self.cron_trigger = cron_trigger or self._crontab
        self._fixed_settings = settings is not None
        # Reading the settings refuses a broken andon.toml before anything starts.
        self.settings = settings or home.config.engine
        self.hooks = home.config.notify
        self.lock = EngineLock(home.root, mode)
        self.stop_event = threading.Event()  # handed to every run's RunControl
        self.stats = EngineStats()
        self.started_at: datetime | None = None
        self.info: LockHolder | None = None
        self._workers: dict[int, Worker] = {}
        self._mutex = threading.Lock()
        self._dirty = threading.Event()
        self._dispatching = threading.Lock()
        self._accepting = False
        self._closing = threading.Event()
        self._cut = threading.Event()
        self._watcher: threading.Thread | None = None
        self._deferred: dict[str, str] = {}
        self._notifier: Notifier | None = None
        self._fault: str | None = None  # a storage fault jobs hit (logged once)
        self.rules_problem: str | None = None  # set: this engine claims no run (rules.py)
        self.scheduler = new_scheduler()
        self.recurring = RecurringSpecs(db, self.scheduler, self.cron_trigger,
                                        wrap=self._guard, on_queued=self._on_queued)

    def _on_queued(self, _run_id: int) -> None:
        self.dispatch()

    # -- life cycle ----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._accepting

    def acquire(self) -> LockHolder:
        """Take the home's engine lock (EngineRunning names the holder). `start()` does
        this itself; call it first to refuse early, before setting anything up."""
        if self.info is None or not self.lock.held:
            self.info = self.lock.acquire()
        return self.info

    def start(self) -> Engine:
        """Take the home's lock (EngineRunning names the holder), recover runs a dead
        engine left, then start the scheduler's jobs and the wake-up watcher."""
        self.acquire()
        assert self.info is not None
        try:
            self.started_at = self.info.started
            self._recover_at_start()
            self.check_rules()
            self._notifier = Notifier(self.db, self.hooks)
            self._heartbeat()
            self._accepting = True
            self._add_jobs()
            self.scheduler.start()
            self.sync_schedules()
            self._watcher = threading.Thread(target=self._watch, name="andon-watch",
                                             daemon=True)
            self._watcher.start()
        except BaseException:
            self._accepting = False
            if self.scheduler.running:
                self.scheduler.shutdown(wait=False)
            self.lock.release()
            raise
        # The pipeline pulls in the model SDK (slow to import): load it before it is needed.
        threading.Thread(target=_warm_up, name="andon-warm-up", daemon=True).start()
        log.info("engine started (%s, pid %s, home %s, concurrency %s)", self.mode,
                 os.getpid(), self.home.root, self.settings.concurrency)
        self.dispatch()
        return self

    def stop(self, timeout: float | None = None) -> bool:
        """Drain and stop. True when every run reached a step boundary in time; runs
        still busy after `timeout` seconds are marked interrupted (and resume later)."""
        if not self.lock.held:
            return True
        timeout = self.settings.drain_timeout if timeout is None else timeout
        self._accepting = False
        self._closing.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.stop_event.set()
        with self._mutex:
            workers = list(self._workers.values())
        if workers:
            log.info("stopping: waiting up to %.0fs for %d run(s) to reach a step boundary",
                     timeout, len(workers))
        deadline = time.monotonic() + timeout
        for worker in workers:
            while (worker.thread.is_alive() and not self._cut.is_set()
                   and time.monotonic() < deadline):
                worker.thread.join(min(0.1, max(0.0, deadline - time.monotonic())))
        with self._mutex:
            left = list(self._workers.values())
        for worker in left:
            recovery.interrupt(self.db, worker.run_id,
                               f"the engine stopped (drain timeout {timeout:g}s) before the "
                               "run reached a step boundary; it resumes from its last "
                               "checkpoint when an engine starts")
            log.warning("run %s did not reach a boundary in time; marked interrupted",
                        worker.run_id)
        if self._watcher is not None:
            self._watcher.join(2)
        self._write_setting({"pid": os.getpid(), "host": socket.gethostname(),
                             "mode": self.mode, "stopped": utcnow().isoformat()})
        self.lock.release()
        # a run that reached its step boundary reads "interrupted" too (it resumes from
        # there): say which kind each count is, not "0 interrupted" after naming them so
        log.info("engine stopped: %d run(s) paused at a step boundary, %d cut off before "
                 "one; all resume when an engine starts", len(workers) - len(left), len(left))
        return not left

    def cut_drain(self) -> None:
        """Stop waiting for runs to reach a boundary (a second SIGTERM)."""
        self._cut.set()

    def reload(self) -> bool:
        """Re-read andon.toml (SIGHUP). A broken file is logged and the old one kept."""
        try:
            config = self.home.load_config()
        except UserError as exc:
            log.error("reload: keeping the previous configuration: %s", exc)
            return False
        self.home.use_config(config)
        settings = self.settings if self._fixed_settings else config.engine
        hooks = config.notify
        old, self.settings, self.hooks = self.settings, settings, hooks
        if self._notifier is not None:
            self._notifier.hooks = hooks
        if self.scheduler.running and old != settings:
            self._reschedule()
            if old.timezone != settings.timezone:  # every cron job, in the new zone
                self.recurring.clear()
                self.sync_schedules()
        log.info("configuration reloaded from %s", self.home.config_path)
        self.check_rules()
        self.dispatch()
        return True

    # -- jobs ----------------------------------------------------------------------------

    def _add_jobs(self) -> None:
        st = self.settings
        jobs: list[tuple[str, Callable[[], Any], float]] = [
            ("dispatch", self.dispatch, st.dispatch_interval),
            ("inbox", self.scan_inbox, st.inbox_interval),
            ("notify", self.notify, st.notify_interval),
            ("housekeeping", self.housekeeping, st.housekeeping_interval),
            ("heartbeat", self._heartbeat, st.heartbeat_interval),
        ]
        for job_id, func_, seconds in jobs:
            self.scheduler.add_job(self._guard(job_id, func_), IntervalTrigger(seconds=seconds),
                                   id=job_id, name=job_id, replace_existing=True)

    def _reschedule(self) -> None:
        st = self.settings
        for job_id, seconds in (("dispatch", st.dispatch_interval),
                                ("inbox", st.inbox_interval),
                                ("notify", st.notify_interval),
                                ("housekeeping", st.housekeeping_interval),
                                ("heartbeat", st.heartbeat_interval)):
            self.scheduler.reschedule_job(job_id, trigger=IntervalTrigger(seconds=seconds))

    def _guard(self, name: str, func_: Callable[[], Any]) -> Callable[[], None]:
        def job() -> None:
            if self._closing.is_set():
                return
            try:
                func_()
            except Exception as exc:  # one failing job must never stop the factory
                self._failed(name, exc)
            else:
                self._recovered()
        job.__name__ = f"andon_{name}"
        return job

    def _failed(self, name: str, exc: Exception) -> None:
        """Log a failed job: a storage fault once while it lasts (one line, not a
        traceback per job per tick), anything else with its traceback."""
        fault = storage_fault(exc)
        if fault is None:
            log.exception("job %s failed", name)
            return
        with self._mutex:
            told, self._fault = self._fault == fault, fault
        if not told:
            log.error("%s; the engine waits and goes on by itself",
                      fault_message(fault, self.home.root))

    def _recovered(self) -> None:
        if self._fault is None:
            return
        with self._mutex:
            fault, self._fault = self._fault, None
        if fault is not None:
            log.info("the store takes writes again; the engine goes on")

    def _watch(self) -> None:
        """Wake dispatch when another connection commits (submit, gate, cord, ...)."""
        try:
            last = self.db.data_version()
        except Exception:
            last = -1
        while not self._closing.wait(self.settings.watch_interval):
            try:
                version = self.db.data_version()
            except Exception:
                log.exception("watching the database failed")
                continue
            if version == last:
                continue
            last = version
            try:
                self.dispatch()
                if time.monotonic() - self.recurring.last_sync >= 1.0:
                    self.sync_schedules()
            except Exception as exc:
                self._failed("wake-up dispatch", exc)

    # -- dispatch ------------------------------------------------------------------------

    def wake(self) -> None:
        """Ask for a dispatch pass now (from any thread)."""
        self.dispatch()

    def dispatch(self) -> list[int]:
        """Claim and start queued runs while there is room; returns the runs started.
        Passes never overlap: a request during a pass makes that pass go round again."""
        self._dirty.set()
        started: list[int] = []
        while True:
            if not self._dispatching.acquire(blocking=False):
                return started
            try:
                while self._dirty.is_set():
                    self._dirty.clear()
                    t0, c0 = time.perf_counter(), time.thread_time()
                    started += self._dispatch_once()
                    self.stats.dispatch_passes += 1
                    self.stats.dispatch_seconds += time.perf_counter() - t0
                    self.stats.dispatch_cpu += time.thread_time() - c0
            finally:
                self._dispatching.release()
            if not self._dirty.is_set():
                return started

    def _cord_pulled(self) -> bool:
        return cord_pulled(self.db)

    def _dispatch_once(self) -> list[int]:
        if not self._accepting or self.rules_problem:
            return []
        with self._mutex:
            room = self.settings.concurrency - len(self._workers)
            busy: dict[str, int] = {}
            for worker in self._workers.values():
                busy[worker.category] = busy.get(worker.category, 0) + 1
        if room <= 0:
            return []
        with self.db.read() as s:
            waiting = list(s.exec(select(m.Run.category).where(m.Run.status == m.QUEUED)
                                  .distinct()).all())
        if not waiting or self._cord_pulled():
            return []
        blocked = self._blocked(waiting, busy)
        started: list[int] = []
        while room > 0 and self._accepting:
            if set(waiting) <= set(blocked):
                break
            run = claim_next(self.db, self.owner, exclude_categories=blocked,
                             limits=self.settings.per_category)
            if run is None:
                break
            self.stats.claimed += 1
            room -= 1
            busy[run.category] = busy.get(run.category, 0) + 1
            limit = self.settings.per_category.get(run.category)
            if limit is not None and busy[run.category] >= limit:
                blocked[run.category] = f"category {run.category} is at its limit of " \
                                        f"{limit} running"
            self._start_worker(run)
            started.append(run.id or 0)
        return started

    def _blocked(self, categories: list[str], busy: dict[str, int]) -> dict[str, str]:
        """Categories that may not start a run now, and why."""
        from andon.policies.stored import load_policy

        blocked: dict[str, str] = {}
        zone = self.settings.timezone
        today = q.spend_since(self.db, start_of_day(utcnow(), zone))  # one query a pass
        for cat in categories:
            limit = self.settings.per_category.get(cat)
            if limit is not None and busy.get(cat, 0) >= limit:
                blocked[cat] = f"category {cat} is at its limit of {limit} running"
                continue
            daily = load_policy(self.db, cat).daily_usd
            spent = today.get(cat, q.Spend()).total
            if spent >= daily:
                blocked[cat] = (f"waiting: category {cat} has spent ${spent:.2f} of its "
                                f"${daily:.2f} daily budget today ({zone})")
        self._tell_deferred(blocked)
        return blocked

    def _tell_deferred(self, blocked: dict[str, str]) -> None:
        """Say on queued runs why they wait for budget (once per change)."""
        news = {c: r for c, r in blocked.items() if r.startswith("waiting:")
                and self._deferred.get(c) != r}
        for cat in [c for c in self._deferred if c not in blocked]:
            del self._deferred[cat]
        if not news:
            return
        with self.db.write() as s:
            for cat, reason in news.items():
                rows = s.exec(select(m.Run).where(m.Run.status == m.QUEUED,
                                                  m.Run.category == cat)).all()
                for run in rows:
                    run.reason = reason
                    s.add(run)
                self._deferred[cat] = reason
                log.info("%s", reason)

    def _start_worker(self, run: m.Run) -> None:
        run_id = run.id or 0
        thread = threading.Thread(target=self._work, args=(run_id,), name=f"andon-run-{run_id}",
                                  daemon=True)
        with self._mutex:
            self._workers[run_id] = Worker(run_id, run.category, thread, time.monotonic())
        log.info("run %s started: %s [%s]", run_id, run.title, run.category)
        thread.start()

    def _work(self, run_id: int) -> None:
        t0 = time.perf_counter()
        try:
            self._execute(run_id)
        except Exception as exc:
            # Even recording how the run ended failed (a full disk, the write lock held
            # past every wait). The slot is freed all the same: the run, still claimed
            # by this engine but no longer worked on, is an orphan that housekeeping
            # marks interrupted and resumes once the store takes writes again.
            fault = storage_fault(exc)
            if fault is None:
                log.exception("run %s: recording its end failed", run_id)
            else:
                log.error("run %s: %s; it resumes from its last checkpoint then", run_id,
                          fault_message(fault, self.home.root))
        finally:
            with self._mutex:
                self._workers.pop(run_id, None)
                self.stats.run_seconds += time.perf_counter() - t0
                self.stats.finished += 1
        if self._accepting:
            self._guard("dispatch", self.dispatch)()

    def _execute(self, run_id: int) -> None:
        control = RunControl(self.db, run_id, stop=self.stop_event)
        status: str | None = None
        try:
            status = self.execute(self.home, self.db, run_id, control)
        except Stopping:
            status = None
        except Cancelled:
            self._end(run_id, m.CANCELLED, "cancelled by a person")
        except Exception as exc:
            fault = storage_fault(exc)
            if fault is not None:  # not the run's doing: it resumes (see _work)
                raise
            log.exception("run %s: the executor failed", run_id)
            self._end(run_id, m.FAILED, f"internal error: {type(exc).__name__}: {exc}")
        self._after(run_id, status)

    def _after(self, run_id: int, status: str | None) -> None:
        """Make sure a run that left its worker is either finished or resumable."""
        with self.db.read() as s:
            run = s.get(m.Run, run_id)
        if run is None or run.status in m.TERMINAL_STATUSES or run.status in (
                m.INTERRUPTED, m.QUEUED):
            if run is not None:
                log.info("run %s: %s%s", run_id, run.status,
                         f" ({run.reason})" if run.reason else "")
            return
        if self.stop_event.is_set():
            recovery.interrupt(self.db, run_id, "the engine stopped; the run resumes from "
                               "its last checkpoint when an engine starts")
            log.info("run %s: interrupted at a step boundary (engine stopping)", run_id)
        else:
            self._end(run_id, m.FAILED, f"the pipeline ended with the run still {run.status}"
                      f" (returned {status!r})")

    def _end(self, run_id: int, status: str, reason: str) -> None:
        with self.db.write() as s:
            run = s.get(m.Run, run_id)
            if run is None or run.status in m.TERMINAL_STATUSES:
                return
            if not allowed(run.status, status):
                log.error("run %s: left %s (%s -> %s is not allowed): %s", run_id,
                          run.status, run.status, status, reason)
                return
            transition(s, run, status, reason, reason=reason)

    # -- other jobs ----------------------------------------------------------------------

    def _recover_at_start(self) -> None:
        done = recovery.recover(self.db, own=self.owner, active=(),
                                stale_after=self.settings.stale_after,
                                max_resumes=self.settings.max_resumes)
        for item in done:
            log.warning("recovered run %s: %s", item.run_id, item.reason)

    def housekeeping(self) -> None:
        """Gate timeouts, runs orphaned by dead processes, worktree retention, and whether
        this engine still follows the factory's rules."""
        expire_gates(self.db)
        self.check_rules()
        with self._mutex:
            active = set(self._workers)
        for item in recovery.recover(self.db, own=self.owner, active=active,
                                     stale_after=self.settings.stale_after,
                                     max_resumes=self.settings.max_resumes):
            log.warning("recovered run %s: %s", item.run_id, item.reason)
        from andon.engine.workspace import worktree  # git is slow to import; only here

        policy = worktree.retention(self.home.config.engine.keep_worktrees)
        for run_id in worktree.sweep(self.db, policy):
            log.info("run %s: worktree removed (keep_worktrees)", run_id)

    def check_rules(self) -> None:
        """Compare this engine's deciding settings with the factory's (rules.py)."""
        problem = rules.check(self.db, self.home, self.settings)
        if problem != self.rules_problem:
            if problem:
                log.error("not claiming runs: %s", problem)
            else:
                log.info("this engine follows the factory's rules again: claiming runs")
        self.rules_problem = problem

    def scan_inbox(self) -> None:
        result = inbox.scan(self.home, self.db)
        if result.queued:
            self.dispatch()

    def notify(self) -> None:
        if self._notifier is not None:
            self._notifier.poll()

    def _heartbeat(self) -> None:
        with self._mutex:
            running = sorted(self._workers)
        now = utcnow()
        info = self.info
        self._write_setting({
            "pid": os.getpid(), "host": socket.gethostname(), "mode": self.mode,
            "started": info.started.isoformat() if info else None,
            "heartbeat": now.isoformat(), "running": running,
            "concurrency": self.settings.concurrency,
        })
        if running:
            with self.db.write() as s:
                for run in s.exec(select(m.Run).where(col(m.Run.id).in_(running),
                                                      m.Run.claimed_by == self.owner)).all():
                    run.heartbeat_at = now
                    s.add(run)

    def _write_setting(self, value: dict[str, Any]) -> None:
        with self.db.write() as s:
            row = s.get(m.Setting, ENGINE_KEY) or m.Setting(key=ENGINE_KEY)
            row.value = value
            row.updated_at = utcnow()
            row.updated_by = self.owner
            s.add(row)

    # -- recurring specs -----------------------------------------------------------------

    def sync_schedules(self) -> None:
        """Keep one cron job per active spec with a `schedule:`."""
        self.recurring.sync()

    def fire(self, spec_id: int) -> int | None:
        """Fire a recurring spec now (what its cron job does)."""
        return self.recurring.fire(spec_id)

    def _crontab(self, expression: str) -> BaseTrigger:
        from zoneinfo import ZoneInfo

        return crontab(expression, ZoneInfo(self.settings.timezone))

    # -- introspection -------------------------------------------------------------------

    def running_runs(self) -> list[int]:
        with self._mutex:
            return sorted(self._workers)


#: The engine a TUI starts in its own process when no daemon runs.
class EmbeddedEngine(Engine):
    def __init__(self, home: Home, db: Database, **kwargs: Any) -> None:
        kwargs.setdefault("mode", "embedded")
        super().__init__(home, db, **kwargs)
