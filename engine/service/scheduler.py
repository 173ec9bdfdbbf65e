"""The engine's APScheduler 3.x scheduler, and the recurring specs it fires.

`new_scheduler()` is the BackgroundScheduler an engine owns (UTC, a small thread pool,
coalescing: a job that missed several ticks runs once). `RecurringSpecs` keeps one cron
job per active spec with a `schedule:` and, when one fires, queues a run of the spec
(`engine.run.queue.enqueue`) and records `last_fired_at`.

Several engines on one PostgreSQL factory each run this scheduler, so each fires every
tick: the run is queued with the tick's cron time, unique per spec in the store, and the
engines after the first find the tick taken and queue nothing.

Schedules are five-field cron expressions (minute hour day month weekday) with the
standard weekday numbers: 0 and 7 are Sunday. APScheduler 3.x itself counts weekdays
from Monday, so `crontab()` turns numbers into day names, which both agree on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from sqlmodel import col, select

from andon.engine.run.queue import queue_in
from andon.store import models as m
from andon.store.clock import utcnow
from andon.store.db import Database

log = logging.getLogger("andon.scheduler")

TriggerFactory = Callable[[str], BaseTrigger]

def last_tick(trigger: BaseTrigger, now: datetime,
              window: timedelta = timedelta(hours=1)) -> datetime | None:
    """The latest time at or before `now` that `trigger` fires (looking back `window`,
    longer than any misfire grace), or None."""
    last = None
    fire = trigger.get_next_fire_time(None, now - window)
    while fire is not None and fire <= now:
        last = fire
        fire = trigger.get_next_fire_time(last, last + timedelta(microseconds=1))
    return last


def new_scheduler() -> BackgroundScheduler:
    return BackgroundScheduler(
        timezone=UTC,
        executors={"default": ThreadPoolExecutor(max_workers=4)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
    )


class RecurringSpecs:
    """One cron job per active spec with a `schedule:`, kept in step with the store."""

    def __init__(self, db: Database, scheduler: BackgroundScheduler,
                 trigger: TriggerFactory,
                 wrap: Callable[[str, Callable[[], Any]], Callable[[], None]] | None = None,
                 on_queued: Callable[[int], None] | None = None) -> None:
        self.db = db
        self.scheduler = scheduler
        self.trigger = trigger
        self.wrap = wrap or (lambda _name, func: func)
        self.on_queued = on_queued
        self.jobs: dict[str, tuple[str, datetime]] = {}
        self.last_sync = 0.0

    def sync(self) -> None:
        """Add, replace and remove cron jobs to match the stored specs."""
        self.last_sync = time.monotonic()
        with self.db.read() as s:
            specs = s.exec(select(m.Spec).where(col(m.Spec.schedule).is_not(None),
                                                col(m.Spec.active).is_(True))).all()
        wanted = {f"cron-{spec.id}": spec for spec in specs if spec.schedule}
        for job_id in [j for j in self.jobs if j not in wanted]:
            self.remove(job_id)
        for job_id, spec in wanted.items():
            key = (spec.schedule or "", spec.updated_at)
            if self.jobs.get(job_id) == key:
                continue
            self.remove(job_id)
            try:
                trigger = self.trigger(spec.schedule or "")
            except ValueError as exc:
                log.error("spec %s: schedule %r: %s", spec.path, spec.schedule, exc)
                self.jobs[job_id] = key
                continue
            job = self.scheduler.add_job(
                self.wrap(job_id, partial(self.fire_tick, spec.id or 0, trigger)), trigger,
                id=job_id, name=f"cron {spec.title}", replace_existing=True,
                misfire_grace_time=300)
            self.jobs[job_id] = key
            log.info("recurring spec %s (%s): next run %s", spec.title, spec.schedule,
                     job.next_run_time)
            if spec.last_fired_at is not None:
                missed = trigger.get_next_fire_time(None, spec.last_fired_at
                                                    + timedelta(seconds=1))
                if missed is not None and missed <= utcnow() - timedelta(seconds=1):
                    log.info("recurring spec %s missed %s while no engine ran: firing now",
                             spec.title, missed)
                    self.fire(spec.id or 0, tick=missed)

    def remove(self, job_id: str) -> None:
        self.jobs.pop(job_id, None)
        if self.scheduler.get_job(job_id) is not None:
            self.scheduler.remove_job(job_id)

    def clear(self) -> None:
        for job_id in list(self.jobs):
            self.remove(job_id)

    def fire_tick(self, spec_id: int, trigger: BaseTrigger) -> int | None:
        """What a cron job does: fire for the tick that came (the latest at or before now)."""
        return self.fire(spec_id, tick=last_tick(trigger, utcnow()))

    def fire(self, spec_id: int, *, tick: datetime | None = None) -> int | None:
        """A recurring spec's time came: queue a run (unless one is still active, or the
        `tick` already has its run, queued by this engine or another)."""
        with self.db.write() as s:  # the check and the run: one transaction
            spec = s.get(m.Spec, spec_id)
            if spec is None or not spec.active or not spec.schedule:
                return None
            busy = s.exec(select(m.Run.id).where(m.Run.spec_id == spec_id,
                                                 col(m.Run.status).in_(m.ACTIVE_STATUSES))
                          .limit(1)).first()
            taken = None if tick is None else s.exec(
                select(m.Run.id).where(m.Run.spec_id == spec_id, m.Run.tick == tick)).first()
            run_id: int | None = None
            if taken is not None:
                log.info("recurring spec %s: tick %s already queued run %s",
                         spec.title, tick, taken)
                return None
            if busy is not None:
                log.info("recurring spec %s: run %s is still active; not queuing another",
                         spec.title, busy)
            else:
                run = queue_in(s, spec, reason=f"scheduled: {spec.schedule}", tick=tick)
                run_id = run.id
                log.info("recurring spec %s: queued run %s", spec.title, run_id)
            spec.last_fired_at = utcnow()
            s.add(spec)
        if run_id is not None and self.on_queued is not None:
            self.on_queued(run_id)
        return run_id
