"""Cron as cron reads it: day-of-month OR weekday, `L`, `#`, nicknames, in a time zone;
the trigger the engine schedules with, and the next fire times `andon specs` shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from andon.engine.spec.schedule import crontab
from andon.engine.spec.specfile import parse_spec_text

START = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # a Monday


def fires(expression: str, count: int = 8, zone: str = "UTC") -> list[datetime]:
    trigger, when, seen = crontab(expression, ZoneInfo(zone)), START, []
    previous = None
    for _ in range(count):
        nxt = trigger.get_next_fire_time(previous, when)
        assert nxt is not None
        seen.append(nxt)
        previous, when = nxt, nxt + timedelta(microseconds=1)
    return seen


def midnights(days: int, match) -> list[datetime]:  # type: ignore[no-untyped-def]
    """The oracle: every midnight after START whose date `match`es, counted day by day."""
    day = START.replace(hour=0) + timedelta(days=1)
    return [d for d in (day + timedelta(days=i) for i in range(days)) if match(d)]


def test_day_of_month_or_weekday_fires_when_either_matches() -> None:
    # `0 0 1 * 1`: the 1st of each month, and every Monday (cron's OR rule).
    expected = midnights(60, lambda d: d.day == 1 or d.weekday() == 0)[:8]
    assert fires("0 0 1 * 1") == expected
    assert datetime(2026, 12, 1, tzinfo=UTC) in expected  # a Tuesday, the 1st
    assert datetime(2026, 12, 7, tzinfo=UTC) in expected  # a Monday, the 7th
    # A star in either field means AND, as in cron: only the weekday then counts.
    assert fires("0 0 * * 1", 4) == midnights(40, lambda d: d.weekday() == 0)[:4]


def test_nicknames_last_day_and_nth_weekday() -> None:
    assert fires("@daily", 3) == midnights(3, lambda d: True)
    assert fires("@hourly", 2) == [START, START + timedelta(hours=1)]  # at or after now
    assert fires("0 0 L * *", 3) == [datetime(2026, 12, 31, tzinfo=UTC),
                                     datetime(2027, 1, 31, tzinfo=UTC),
                                     datetime(2027, 2, 28, tzinfo=UTC)]
    assert fires("0 9 * * MON#2", 2) == [datetime(2026, 12, 14, 9, tzinfo=UTC),
                                         datetime(2027, 1, 11, 9, tzinfo=UTC)]


def test_times_are_in_the_configured_zone() -> None:
    berlin = fires("30 2 * * *", 1, zone="Europe/Berlin")[0]
    assert berlin.utcoffset() == timedelta(hours=1)
    assert (berlin.hour, berlin.minute) == (2, 30)
    assert berlin.astimezone(UTC) == datetime(2026, 12, 1, 1, 30, tzinfo=UTC)


def test_a_fire_time_is_never_given_twice() -> None:
    trigger = crontab("*/15 * * * *")
    first = trigger.get_next_fire_time(None, START)
    assert first == START  # at or after now, as APScheduler's triggers do
    assert trigger.get_next_fire_time(first, START) == START + timedelta(minutes=15)
    # Missed while no engine ran: the first missed time, then on from there.
    late = START + timedelta(hours=2)
    assert trigger.get_next_fire_time(first, late) == START + timedelta(minutes=15)


@pytest.mark.parametrize(("schedule", "said"), [
    ("@reboot", "unknown nickname '@reboot'"),
    ("0 0 * * MON#9", "bad day-of-week"),
    ("0 0 0 0 0 0", "needs five fields"),
    ("every day", "needs five fields"),
    ("61 * * * *", "bad minute"),
])
def test_a_bad_schedule_is_one_clear_error(schedule: str, said: str) -> None:
    text = f'---\ntitle: t\ncategory: docs\nrepo: r\nschedule: "{schedule}"\n---\n'
    with pytest.raises(Exception) as caught:
        parse_spec_text(text, "weekly.md")
    assert str(caught.value).startswith("weekly.md: field 'schedule': not a cron expression")
    assert said in str(caught.value)
    assert "invalid literal" not in str(caught.value)


def test_cron_that_apscheduler_refused_is_accepted() -> None:
    for schedule in ("@daily", "0 9 * * MON#2", "0 0 L * *", "0 0 1 * 1"):
        text = f'---\ntitle: t\ncategory: docs\nrepo: r\nschedule: "{schedule}"\n---\n'
        assert parse_spec_text(text, "s.md").front.schedule == schedule
