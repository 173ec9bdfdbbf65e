"""The specs screen's read model: known specs, the queue in the order the engine claims
it, and schedules with their next firing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import case
from sqlmodel import col, select

from andon.engine.errors import UserError
from andon.engine.factory.home import Home
from andon.store import models as m
from andon.store.db import Database

MAX_ROWS = 500


def schedule_zone(home: Home | None) -> str:
    """The factory's time zone, andon.toml's [engine] timezone (UTC by default):
    schedules fire in it, and its day is the day of spend today and daily budgets."""
    if home is None:
        return "UTC"
    try:
        return home.config.engine.timezone
    except UserError:
        return "UTC"  # `andon doctor` and the daemon report the bad config


def next_fire(schedule: str | None, now: datetime, zone: str = "UTC") -> datetime | None:
    """When a spec's schedule fires next after `now`, read as the engine reads it
    (standard cron weekdays, in `zone`); None if it does not parse."""
    if not schedule:
        return None
    from andon.engine.spec.schedule import crontab

    try:
        return crontab(schedule, ZoneInfo(zone)).get_next_fire_time(None, now)
    except ValueError:
        return None


@dataclass
class SpecsData:
    specs: list[m.Spec]
    queue: list[m.Run]
    schedules: list[tuple[m.Spec, datetime | None]]
    now: datetime
    zone: str = "UTC"


def load_specs(db: Database, now: datetime, zone: str = "UTC") -> SpecsData:
    """Known specs (newest first), active runs (running ones, then the queue in the order
    the engine claims it), and scheduled specs with their next firing in `zone`."""
    queued_last = case((col(m.Run.status) == m.QUEUED, 1), else_=0)
    with db.read() as s:
        specs = list(s.exec(select(m.Spec).order_by(col(m.Spec.id).desc())
                            .limit(MAX_ROWS)).all())
        queue = list(s.exec(select(m.Run).where(col(m.Run.status).in_(m.ACTIVE_STATUSES))
                            .order_by(queued_last, col(m.Run.priority).desc(),
                                      col(m.Run.id)).limit(MAX_ROWS)).all())
        scheduled = list(s.exec(select(m.Spec).where(col(m.Spec.schedule).is_not(None),
                                                     col(m.Spec.active).is_(True))
                                .order_by(col(m.Spec.id))).all())
    return SpecsData(specs, queue, [(spec, next_fire(spec.schedule, now, zone))
                                      for spec in scheduled], now, zone)


def spec_by_id(db: Database, spec_id: int) -> m.Spec | None:
    with db.read() as s:
        return s.get(m.Spec, spec_id)
