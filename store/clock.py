"""One clock for the whole factory: timezone-aware UTC, always."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import overload
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
@overload
def as_utc(value: datetime | None) -> datetime | None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; they were stored as UTC, so say so."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def start_of_day(now: datetime, zone: str | tzinfo = "UTC") -> datetime:
    """Midnight of `now`'s day in `zone` (the factory's `[engine] timezone`, the zone its
    schedules use), in UTC: where "today" starts for the board and the daily budgets."""
    tz = ZoneInfo(zone) if isinstance(zone, str) else zone
    local = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    return local.astimezone(UTC)
