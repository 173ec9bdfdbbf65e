"""`andon specs` shows when recurring specs fire next, in the configured time zone, as
cron reads the schedule; `andon policies list` is the list the README names."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from andon.engine.factory.home import Home
from andon.store.clock import utcnow
from tests.conftest import name_repo, write_spec
from tests.tui.cli.test_policies import Result, cli


@pytest.fixture
def andon(home: Home, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    def run(*args: str) -> Result:
        return cli(home, *args, monkeypatch=monkeypatch, capsys=capsys)
    return run


def test_specs_show_the_next_three_fire_times_in_the_zone(
        tmp_path: Path, home: Home, sample_repo: Path, andon) -> None:  # type: ignore[no-untyped-def]
    name_repo(home, sample_repo)
    home.config_path.write_text(home.config_path.read_text().replace(
        'provider = "anthropic"', 'provider = "anthropic"\ntimezone = "Asia/Tokyo"'))
    front = "title: Monthly or Monday\ncategory: docs\nrepo: sample\nmodel: scripted\n" \
            'schedule: "0 0 1 * 1"\n'
    recurring = write_spec(tmp_path, "monthly", front, script="turns: []\n")
    once = write_spec(tmp_path, "once", "title: Once\ncategory: docs\nrepo: sample\n"
                      "model: scripted\n", script="turns: []\n")
    before = utcnow()
    assert andon("submit", str(recurring), str(once)).code == 0

    listed = andon("specs", "--json")
    assert listed.code == 0, listed.err
    data = listed.json()
    assert data["timezone"] == "Asia/Tokyo"
    by_title = {s["title"]: s for s in data["specs"]}
    assert by_title["Once"]["next"] == []
    times = [datetime.fromisoformat(t) for t in by_title["Monthly or Monday"]["next"]]
    # The oracle: Tokyo midnights that are the 1st of a month OR a Monday, day by day.
    tokyo = before.astimezone(ZoneInfo("Asia/Tokyo"))
    day = tokyo.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    expected = [d for d in (day + timedelta(days=i) for i in range(40))
                if d.day == 1 or d.weekday() == 0][:3]
    assert times == expected
    assert all(t.utcoffset() == timedelta(hours=9) for t in times)

    text = andon("specs", "--recurring").out
    assert "Monthly or Monday" in text and "Once" not in text
    assert "next (Asia/Tokyo)" in text and expected[0].strftime("%Y-%m-%d 00:00") in text


def test_policies_list_is_the_policy_list(andon) -> None:  # type: ignore[no-untyped-def]
    listed = andon("policies", "list", "--json")
    assert listed.code == 0, listed.err
    assert listed.json() == andon("policies", "--json").json()
    assert "4 dark" in andon("policies", "list").out
