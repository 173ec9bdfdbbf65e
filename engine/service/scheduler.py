"""The engine's APScheduler 3.x scheduler, and the recurring specs it fires.

`new_scheduler()` is the BackgroundScheduler an engine owns (UTC, a small thread pool,
coalescing: a job that missed several ticks runs once). `RecurringSpecs` keeps one cron
job per active spec with a `schedule:` and, when one fires, queues a run of the spec
(`engine.run.queue.enqueue`) and records `last_fired_at`.

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

from andon.engine.run.queue import enqueue
from andon.store import models as m
from andon.store.clock import utcnow
from andon.store.db import Database

log = logging.getLogger("andon.scheduler")

TriggerFactory = Callable[[str], BaseTrigger]

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
                self.wrap(job_id, partial(self.fire, spec.id or 0)), trigger,
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
                    self.fire(spec.id or 0)

    def remove(self, job_id: str) -> None:
        self.jobs.pop(job_id, None)
        if self.scheduler.get_job(job_id) is not None:
            self.scheduler.remove_job(job_id)

    def clear(self) -> None:
        for job_id in list(self.jobs):
            self.remove(job_id)

    def fire(self, spec_id: int) -> int | None:
        """A recurring spec's time came: queue a run (unless one is still active)."""
        with self.db.read() as s:
            spec = s.get(m.Spec, spec_id)
            if spec is None or not spec.active or not spec.schedule:
                return None
            busy = s.exec(select(m.Run.id).where(m.Run.spec_id == spec_id,
                                                 col(m.Run.status).in_(m.ACTIVE_STATUSES))
                          .limit(1)).first()
        run_id: int | None = None
        if busy is not None:
            log.info("recurring spec %s: run %s is still active; not queuing another",
                     spec.title, busy)
        else:
            run = enqueue(self.db, spec, reason=f"scheduled: {spec.schedule}")
            run_id = run.id
            log.info("recurring spec %s: queued run %s", spec.title, run_id)
        with self.db.write() as s:
            row = s.get(m.Spec, spec_id)
            if row is not None:
                row.last_fired_at = utcnow()
                s.add(row)
        if run_id is not None and self.on_queued is not None:
            self.on_queued(run_id)
        return run_id
