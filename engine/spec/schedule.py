"""A spec's `schedule:`: five-field cron with standard weekday numbers, as an APScheduler trigger.

APScheduler 3.x counts weekdays from Monday while cron counts from Sunday (0 and 7 both
Sunday), so numbers become day names, which mean the same to both.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")



def _cron_days(field_: str) -> str:
    """Standard cron numbers the days of the week 0-7 from Sunday (0 and 7 both Sunday);
    APScheduler 3.x numbers them from Monday. Numbers become day names, which mean the
    same to both; names and `*` pass through."""
    parts = []
    for part in field_.split(","):
        body, _, step_text = part.partition("/")
        if not any(ch.isdigit() for ch in body) and not (body == "*" and step_text):
            parts.append(part)
            continue
        if body == "*":
            first, last = 0, 6
        elif "-" in body:
            a, _, b = body.partition("-")
            first, last = int(a), int(b)
        else:
            first = last = int(body)
        step = int(step_text) if step_text else 1
        if not (0 <= first <= 7 and 0 <= last <= 7 and first <= last and step > 0):
            raise ValueError(f"day of week {part!r} is out of range (0-7, Sunday is 0 or 7)")
        parts.extend(_CRON_DAYS[day] for day in range(first, last + 1, step))
    return ",".join(dict.fromkeys(parts))


def crontab(expression: str, timezone: Any = UTC) -> BaseTrigger:
    """A spec's `schedule:` as a trigger: five-field cron (minute hour day month weekday)
    with standard weekday numbers, in `timezone` (UTC unless [engine] timezone says)."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"wrong number of fields; got {len(fields)}, expected 5")
    minute, hour, day, month, weekday = fields
    return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                       day_of_week=_cron_days(weekday), timezone=timezone)
