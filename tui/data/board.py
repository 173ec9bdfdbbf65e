"""The board's read model: the production lines, today's figures and the runs.

The clock is injectable: `clock_from_env()` honours ``ANDON_NOW`` (an ISO time) so
snapshot tests and demos render the same elapsed times on every run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from andon.engine.llm.pricing import is_simulated
from andon.store import models as m
from andon.store import queries as q
from andon.store.clock import as_utc, start_of_day, utcnow
from andon.store.db import Database

NOW_ENV = "ANDON_NOW"
SUCCESS_WINDOW = timedelta(days=30)
WINDOW_REUSE = 30.0  # seconds the window's ended runs are reused between refreshes
RECENT_FINISHED = 50
PAGE = 200

Clock = Callable[[], datetime]


def clock_from_env() -> Clock:
    """`utcnow`, or a frozen time when ANDON_NOW is set (tests, screenshots)."""
    frozen = os.environ.get(NOW_ENV)
    if not frozen:
        return utcnow
    when = as_utc(datetime.fromisoformat(frozen))
    assert when is not None
    return lambda: when


# -- engine mode ----------------------------------------------------------------------


@dataclass(frozen=True)
class EngineMode:
    name: str  # "daemon", "embedded" or "off"
    detail: str = ""


# -- the board ------------------------------------------------------------------------

FILTERS: dict[str, tuple[str, ...] | None] = {
    "recent": None,  # live runs, then the latest finished ones
    "live": m.ACTIVE_STATUSES,
    "waiting": (m.WAITING,),
    "failed": (m.FAILED, m.STUCK, m.REJECTED, m.INTERRUPTED),
    "merged": (m.MERGED, m.REVERTED),
    "all": (),
}


@dataclass(frozen=True)
class LineRow:
    category: str
    level: int | None
    running: int
    queued: int
    waiting: int
    held: int
    finished: int
    succeeded: int
    spend_today: float  # real money
    spend_simulated: float  # scripted model money (shown, not spent)
    unknown_cost: bool  # some run's cost is unknown

    @property
    def success_rate(self) -> float | None:
        return self.succeeded / self.finished if self.finished else None


@dataclass(frozen=True)
class RunRow:
    id: int
    title: str
    category: str
    level: int
    status: str
    stage: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    turns: int
    tokens: int
    cost_usd: float | None
    model: str
    gate_kind: str | None = None
    reason: str | None = None
    unsandboxed: bool = False  # its commands ran without the sandbox (policy allowed it)
    host: str | None = None  # the host of the engine that runs it (a factory on a server)

    @property
    def active(self) -> bool:
        return self.status in m.ACTIVE_STATUSES

    @property
    def simulated(self) -> bool:
        return is_simulated(self.model)

    @classmethod
    def of(cls, run: m.Run, gate: m.Gate | None = None, *, hosts: bool = False) -> RunRow:
        """`hosts`: the factory is on a server several engines share; say whose run it is."""
        host = ((run.claimed_by or "").partition("@")[2] or None) if hosts else None
        return cls(id=run.id or 0, title=run.title, category=run.category, level=run.level,
                   status=run.status, stage=run.stage, created_at=run.created_at,
                   started_at=run.started_at, finished_at=run.finished_at, turns=run.turns,
                   tokens=run.tokens_in + run.tokens_out, cost_usd=run.cost_usd,
                   model=run.model, gate_kind=gate.kind if gate else None, reason=run.reason,
                   unsandboxed=bool((run.data or {}).get("unsandboxed")), host=host)


@dataclass(frozen=True)
class BoardData:
    now: datetime
    mode: EngineMode
    cord: dict[str, Any] | None
    runs_today: int
    merges_today: int
    dark_merges_today: int
    spend_today: float
    spend_simulated: float
    unknown_cost_today: bool
    needs_you: int
    lines: list[LineRow]
    runs: list[RunRow]
    filter: str = "recent"
    search: str = ""
    more: bool = False  # another page of runs exists

    @property
    def dark_ratio(self) -> float | None:
        return self.dark_merges_today / self.merges_today if self.merges_today else None


SUCCESS = (m.MERGED,)


def load_lines(figures: q.BoardFigures) -> list[LineRow]:
    rows = []
    for c in figures.categories.values():
        finished = sum(n for status, n in c.finished.items()
                       if status not in (m.CANCELLED, m.UNCHANGED))
        rows.append(LineRow(
            category=c.category, level=c.level,
            running=c.active.get(m.RUNNING, 0) + c.active.get(m.INTERRUPTED, 0),
            queued=c.active.get(m.QUEUED, 0), waiting=c.active.get(m.WAITING, 0),
            held=c.active.get(m.HELD, 0), finished=finished,
            succeeded=sum(c.finished.get(s, 0) for s in SUCCESS),
            spend_today=c.spend_today, spend_simulated=c.simulated_spend_today,
            unknown_cost=c.unknown_cost_today > 0))
    return rows


def load_runs(db: Database, *, filter: str = "recent", search: str = "",
              limit: int = PAGE) -> tuple[list[m.Run], bool]:
    """The board's runs for a filter, newest first, and whether more exist."""
    if filter == "recent" and not search:
        live = q.search_runs(db, statuses=m.ACTIVE_STATUSES, limit=limit)
        done = q.search_runs(db, statuses=m.TERMINAL_STATUSES, limit=RECENT_FINISHED)
        return live + done, False
    statuses = FILTERS.get(filter) or None
    rows = q.search_runs(db, statuses=statuses, text=search, limit=limit + 1)
    return rows[:limit], len(rows) > limit


class WindowCounts:
    """The 30-day window's ended runs per line, read again only when a run started or
    ended (the live runs' counts changed) or after `max_age` seconds (a revert, the
    window sliding). At a million runs that read is a month of rows, more than a
    frame's time, while most refreshes are live runs moving on: new turns, tokens,
    stages."""

    def __init__(self, max_age: float = WINDOW_REUSE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age
        self.clock = clock
        self.reads = 0  # how often the window was read (tests, bench)
        self._value: q.Finished | None = None
        self._active: dict[str, dict[str, int]] | None = None
        self._at = 0.0

    def __call__(self, db: Database, conn: Any, window: datetime,
                 active: dict[str, dict[str, int]]) -> q.Finished:
        now = self.clock()
        if self._value is None or active != self._active or now - self._at >= self.max_age:
            self._value = q.finished_counts(db, conn, window)
            self._active, self._at = active, now
            self.reads += 1
        return self._value


def load_board(db: Database, *, now: datetime, mode: EngineMode, filter: str = "recent",
               search: str = "", limit: int = PAGE, zone: str = "UTC",
               window: WindowCounts | None = None) -> BoardData:
    """`zone`: the factory's (`[engine] timezone`), whose day the daily budgets count;
    `window`: the month's ended runs, reused between refreshes (the board's own)."""
    figures = q.board_figures(db, today=start_of_day(now, zone),
                              window=now - SUCCESS_WINDOW, finished=window or q.finished_counts)
    runs, more = load_runs(db, filter=filter, search=search, limit=limit)
    gates = q.pending_gates_by_run(db, [r.id or 0 for r in runs if r.status == m.WAITING])
    return BoardData(
        now=now, mode=mode, cord=figures.cord, runs_today=figures.runs_today,
        merges_today=figures.merges_today, dark_merges_today=figures.dark_merges_today,
        spend_today=figures.spend_today, spend_simulated=figures.simulated_spend_today,
        unknown_cost_today=figures.unknown_cost_today > 0, needs_you=figures.pending_gates,
        lines=load_lines(figures),
        runs=[RunRow.of(r, gates.get(r.id or 0), hosts=db.postgres) for r in runs],
        filter=filter, search=search, more=more)
