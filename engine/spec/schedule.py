"""A spec's `schedule:`: cron as cron reads it, as an APScheduler 3.x trigger.

The expression is parsed and evaluated by cronsim (which follows Debian's cron, DST
quirks included), not by APScheduler's CronTrigger, because the two disagree:

* when both day-of-month and weekday are restricted, cron fires when EITHER matches
  (`0 0 1 * 1`: the 1st of every month and every Monday); CronTrigger needs both;
* cron numbers weekdays from Sunday (0 and 7), CronTrigger from Monday;
* cron has `L` (last day), `#` (`MON#2`, the second Monday) and `@daily`-style names.

`crontab()` validates an expression (a ValueError says what is wrong) and gives the
`CronSchedule` trigger the engine's scheduler runs, in the `[engine] timezone`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from itertools import islice
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from cronsim import CronSim, CronSimError

# The names cron accepts for common schedules (`@reboot` has no meaning for a factory).
NICKNAMES = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_TICK = timedelta(microseconds=1)


def expand(expression: str) -> str:
    """The five fields of a schedule (a nickname such as `@daily` spelt out)."""
    text = " ".join(expression.split())
    nickname = NICKNAMES.get(text.lower())
    if nickname is not None:
        return nickname
    if text.startswith("@"):
        raise ValueError(f"unknown nickname {text!r} (known: {', '.join(NICKNAMES)})")
    fields = text.split(" ") if text else []
    if len(fields) != 5:
        raise ValueError(f"needs five fields (minute hour day month weekday), got "
                         f"{len(fields)}")
    return text


class CronSchedule(BaseTrigger):
    """An APScheduler trigger firing when a cron expression matches, in a time zone."""

    def __init__(self, expression: str, timezone: tzinfo = UTC) -> None:
        self.expression = expression
        self.fields = expand(expression)
        self.timezone = timezone
        try:
            self._after(datetime.now(UTC))  # parse now: a bad field is an error here
        except CronSimError as exc:
            raise ValueError(str(exc).lower() or "not a cron expression") from None

    def _after(self, moment: datetime) -> datetime | None:
        """The first match strictly after `moment` (whole seconds), or None for never."""
        try:
            return next(CronSim(self.fields, moment.astimezone(self.timezone)))
        except StopIteration:  # no match in the next fifty years (31 February)
            return None

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime
                           ) -> datetime | None:
        # As APScheduler's own triggers: the first match at or after `now`; after a
        # fire, the first match after it (never the same time twice; missed times
        # come out one by one and the scheduler coalesces them).
        start = now if previous_fire_time is None else previous_fire_time + _TICK
        # cronsim drops microseconds and starts one second on: step back a whole second.
        return self._after(start if start.microsecond else start - timedelta(seconds=1))

    def next_times(self, after: datetime, count: int = 3) -> list[datetime]:
        """The next `count` fire times after `after`, in the schedule's time zone."""
        try:
            return list(islice(CronSim(self.fields, after.astimezone(self.timezone)), count))
        except CronSimError:
            return []

    def __str__(self) -> str:
        return f"cron[{self.expression}]"

    def __repr__(self) -> str:
        return f"<CronSchedule {self.expression!r} in {self.timezone}>"

    def __getstate__(self) -> dict[str, Any]:
        return {"expression": self.expression, "timezone": self.timezone}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["expression"], state["timezone"])  # type: ignore[misc]


def crontab(expression: str, timezone: tzinfo = UTC) -> CronSchedule:
    """A spec's `schedule:` as a trigger; ValueError (saying what is wrong) if it is not cron."""
    return CronSchedule(expression, timezone)
