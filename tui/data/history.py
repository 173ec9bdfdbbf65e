"""History's read model: a page of past runs (keyset pagination on (created_at, id)),
the categories, and per-category runs, merges and cost per day or hour.

The store may hold 100,000 runs, so every read is an indexed query: pages use keyset
pagination on (created_at, id) (ix_runs_created / ix_runs_category_created), figures
are GROUP BY over the window's index range (ix_runs_created, ix_runs_merged).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import col, func, select

from andon.store import models as m
from andon.store.clock import as_utc
from andon.store.db import Database

PAGE = 50
MAX_DAYS = 366  # the sparklines of "all" cover at most the last year


@dataclass
class CategoryMetrics:
    category: str
    runs: list[float] = field(default_factory=list)  # one value per bucket, oldest first
    merges: list[float] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)

    @property
    def total_runs(self) -> int:
        return int(sum(self.runs))

    @property
    def total_merges(self) -> int:
        return int(sum(self.merges))

    @property
    def total_cost(self) -> float:
        return sum(self.cost)


@dataclass
class Metrics:
    bucket: str  # "day" or "hour"
    categories: list[CategoryMetrics]


@dataclass(frozen=True)
class HistoryFilter:
    category: str | None = None
    status: str | None = None  # a run status, "active", or None for any
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive

    def statuses(self) -> tuple[str, ...] | None:
        if self.status is None:
            return None
        return m.ACTIVE_STATUSES if self.status == "active" else (self.status,)


Key = tuple[datetime, int]  # (created_at, id) of a page's last row


@dataclass
class HistoryPage:
    runs: list[m.Run]
    total: int
    has_next: bool


def _where(query: Any, flt: HistoryFilter, *, with_status: bool = True) -> Any:
    if flt.category:
        query = query.where(m.Run.category == flt.category)
    statuses = flt.statuses() if with_status else None
    if statuses:
        query = query.where(col(m.Run.status).in_(statuses))
    if flt.start is not None:
        query = query.where(col(m.Run.created_at) >= flt.start)
    if flt.end is not None:
        query = query.where(col(m.Run.created_at) < flt.end)
    return query


def history_page(db: Database, flt: HistoryFilter, after: Key | None = None,
                 limit: int = PAGE) -> HistoryPage:
    """One page of runs, newest first, after `after` (keyset: no OFFSET scan)."""
    query = _where(select(m.Run), flt)
    if after is not None:
        created, run_id = after
        query = query.where(or_(col(m.Run.created_at) < created,
                                and_(col(m.Run.created_at) == created,
                                     col(m.Run.id) < run_id)))
    query = query.order_by(col(m.Run.created_at).desc(), col(m.Run.id).desc())
    with db.read() as s:
        rows = list(s.exec(query.limit(limit + 1)).all())
        total = int(s.exec(_where(select(func.count()).select_from(m.Run), flt)).one())
    return HistoryPage(rows[:limit], total, len(rows) > limit)


def history_categories(db: Database) -> list[str]:
    """Categories with a policy or with runs (the runs' index gives them cheaply)."""
    with db.read() as s:
        conn = s.connection()
        names = {r[0] for r in conn.exec_driver_sql("SELECT category FROM policies")}
        names |= {r[0] for r in conn.exec_driver_sql("SELECT DISTINCT category FROM runs")}
    return sorted(names)


def _buckets(start: datetime, end: datetime, hourly: bool, tz: tzinfo) -> list[str]:
    step = timedelta(hours=1) if hourly else timedelta(days=1)
    fmt = "%Y-%m-%dT%H" if hourly else "%Y-%m-%d"
    at = start.astimezone(tz).replace(minute=0, second=0, microsecond=0)
    if not hourly:
        at = at.replace(hour=0)
    keys = []
    while at < end:
        keys.append(at.strftime(fmt))
        at += step
    return keys


def history_metrics(db: Database, flt: HistoryFilter, now: datetime, tz: tzinfo) -> Metrics:
    """Runs (by creation), merges (by merge time) and cost per bucket of the window, per
    category; local days (or hours for a window of a day or less) in `tz`."""
    end = flt.end or now
    start = flt.start
    if start is None:
        with db.read() as s:
            first = s.exec(select(func.min(m.Run.created_at))).one()
        if isinstance(first, str):
            first = datetime.fromisoformat(first)
        start = as_utc(first) or end
    start = max(start, end - timedelta(days=MAX_DAYS))
    hourly = end - start <= timedelta(days=1)
    keys = _buckets(start, end, hourly, tz)
    offset = int((now.astimezone(tz).utcoffset() or timedelta()).total_seconds() // 60)
    fmt = "%Y-%m-%dT%H" if hourly else "%Y-%m-%d"
    params = [fmt, f"{offset:+d} minutes"]

    def window(column: str) -> tuple[str, list[Any]]:
        clauses = [f"{column} >= ?", f"{column} < ?"]
        values: list[Any] = [_iso(start), _iso(end)]
        if flt.category:
            clauses.append("category = ?")
            values.append(flt.category)
        return " AND ".join(clauses), values

    found: dict[str, CategoryMetrics] = {}

    def row(name: str) -> CategoryMetrics:
        if name not in found:
            found[name] = CategoryMetrics(name, [0.0] * len(keys), [0.0] * len(keys),
                                          [0.0] * len(keys))
        return found[name]

    index = {k: i for i, k in enumerate(keys)}
    with db.read() as s:
        conn = s.connection()
        where, values = window("created_at")
        for name, bucket, n, cost in conn.exec_driver_sql(
                f"SELECT category, strftime(?, created_at, ?) AS b, count(*), total(cost_usd) "
                f"FROM runs WHERE {where} GROUP BY category, b", (*params, *values)):
            if bucket in index:
                item = row(name)
                item.runs[index[bucket]] = float(n)
                item.cost[index[bucket]] = float(cost)
        where, values = window("merged_at")
        for name, bucket, n in conn.exec_driver_sql(
                f"SELECT category, strftime(?, merged_at, ?) AS b, count(*) "
                f"FROM runs WHERE {where} GROUP BY category, b", (*params, *values)):
            if bucket in index:
                row(name).merges[index[bucket]] = float(n)
    return Metrics("hour" if hourly else "day", [found[k] for k in sorted(found)])


def _iso(when: datetime) -> str:
    return (as_utc(when) or when).isoformat(timespec="microseconds")
