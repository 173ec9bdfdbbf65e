"""A held run's header says what holds it and until when (e.g. forge weather)."""

from __future__ import annotations

from andon.store import models as m
from andon.store.clock import utcnow
from andon.tui.data import RunDetail
from andon.tui.widgets.run_header import header_text

REASON = ("held by GitHub weather: GitHub answered 502 (Bad Gateway); trying again at "
          "14:03:10 UTC (in 20s)")


def detail(status: str, reason: str | None) -> RunDetail:
    run = m.Run(id=7, spec_id=1, title="greet", category="docs", level=4, status=status,
                stage="merge", reason=reason)
    return RunDetail(run=run, spec_path=None, gate=None, stages=[], checks=[], scenarios=[],
                     now=utcnow())


def test_a_held_run_shows_why_and_until_when() -> None:
    assert REASON in header_text(detail(m.HELD, REASON)).plain


def test_a_running_run_keeps_its_header_short() -> None:
    assert "weather" not in header_text(detail(m.RUNNING, REASON)).plain
