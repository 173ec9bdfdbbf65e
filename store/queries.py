"""Reads shared by the CLI, the board and the engine. Every one is an indexed query."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, bindparam, case, literal_column, or_
from sqlmodel import col, func, select

from andon.store import models as m
from andon.store.db import Database
from andon.store.types import JSONText, UTCDateTime


def list_runs(db: Database, *, limit: int = 50, offset: int = 0,
              statuses: Sequence[str] | None = None,
              category: str | None = None) -> list[m.Run]:
    query = select(m.Run)
    if statuses:
        query = query.where(col(m.Run.status).in_(statuses))
    if category:
        query = query.where(m.Run.category == category)
    query = query.order_by(col(m.Run.id).desc()).offset(offset).limit(limit)
    with db.read() as s:
        return list(s.exec(query).all())


def count_runs(db: Database, statuses: Sequence[str] | None = None) -> int:
    query = select(func.count()).select_from(m.Run)
    if statuses:
        query = query.where(col(m.Run.status).in_(statuses))
    with db.read() as s:
        return int(s.exec(query).one())


def usage_of(db: Database, run_id: int) -> list[m.Usage]:
    """A run's model calls in order: tokens and cost of each turn, plan and judge call."""
    with db.read() as s:
        return list(s.exec(select(m.Usage).where(m.Usage.run_id == run_id)
                           .order_by(col(m.Usage.id))).all())


def steps_of(db: Database, run_id: int) -> list[m.Step]:
    with db.read() as s:
        return list(s.exec(select(m.Step).where(m.Step.run_id == run_id)
                           .order_by(col(m.Step.id))).all())


def events_of(db: Database, run_id: int, *, after_id: int = 0,
              limit: int | None = None) -> list[m.Event]:
    query = (select(m.Event).where(m.Event.run_id == run_id, col(m.Event.id) > after_id)
             .order_by(col(m.Event.id)))
    if limit:
        query = query.limit(limit)
    with db.read() as s:
        return list(s.exec(query).all())


def spec_of(db: Database, run: m.Run) -> m.Spec | None:
    with db.read() as s:
        return s.get(m.Spec, run.spec_id)


def list_specs(db: Database, *, include_inactive: bool = False, limit: int = 500
               ) -> list[m.Spec]:
    """Known specs, newest first (the active ones unless asked)."""
    query = select(m.Spec)
    if not include_inactive:
        query = query.where(col(m.Spec.active).is_(True))
    with db.read() as s:
        return list(s.exec(query.order_by(col(m.Spec.id).desc()).limit(limit)).all())


# -- the board's figures -------------------------------------------------------------
#
# Aggregates run as plain SQL over indexed columns (ix_runs_status_priority for active
# runs, ix_runs_created for "today" and the success window, ix_runs_merged for merges,
# ix_usage_category_ts for spend today, ix_gates_status_created for pending gates), so
# they stay fast with 100,000 runs.

ACTIVE = m.ACTIVE_STATUSES
TERMINAL = m.TERMINAL_STATUSES


def _in(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)  # our own constants, never user input


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="microseconds")


SCRIPTED = "scripted"  # = engine.llm.pricing.SCRIPTED_MODEL: simulated money


@dataclass(frozen=True)
class Spend:
    """A category's spend over a day, from its usage rows."""

    real: float = 0.0  # models with a price, not scripted
    simulated: float = 0.0  # the scripted model's priced-as money
    unknown: int = 0  # calls whose cost is unknown (a model with no price)

    @property
    def total(self) -> float:
        """What a daily budget counts: simulated money too, so budgets can be shown."""
        return self.real + self.simulated


def _spend_query() -> Select[Any]:
    """Spend per category from `:p_since` on, from the covering index
    ix_usage_category_ts alone: the categories are found by a skip over the index (a
    recursive step per category, portable SQL), then each one's rows since `p_since`
    are one range in index order, so neither the table, older rows nor a sort are
    touched (tests check the plan; bench/spend_today.py times it)."""
    u = m.Usage.__table__.c  # type: ignore[attr-defined]
    later = m.Usage.__table__.alias("later")  # type: ignore[attr-defined]
    cats = select(func.min(u.category).label("name")).cte("cats", recursive=True)
    after = select(func.min(later.c.category)).where(later.c.category > cats.c.name)
    cats = cats.union_all(select(after.scalar_subquery()).where(cats.c.name.is_not(None)))
    scripted = u.model == SCRIPTED
    return (select(u.category,
                   func.coalesce(func.sum(case((scripted, 0.0), else_=u.cost_usd)), 0.0),
                   func.coalesce(func.sum(case((scripted, u.cost_usd), else_=0.0)), 0.0),
                   func.coalesce(func.sum(case((u.cost_usd.is_(None), 1), else_=0)), 0))
            .where(u.category.in_(select(cats.c.name)),
                   u.ts >= bindparam("p_since", type_=UTCDateTime()))
            .group_by(u.category))


_SPEND = _spend_query()  # built once: every dispatch pass and board refresh runs it


def spend_since(db: Database, since: datetime) -> dict[str, Spend]:
    """Each category's spend from `since` (the start of the factory's day) on: the one
    figure the board shows and the daily budgets count."""
    with db.read() as s:
        return _spend(s.connection(), since)


def _spend(conn: Any, since: datetime) -> dict[str, Spend]:
    return {category: Spend(float(real), float(simulated), int(unknown))
            for category, real, simulated, unknown in conn.execute(_SPEND,
                                                                    {"p_since": since})}


@dataclass
class CategoryFigures:
    category: str
    level: int | None = None
    active: dict[str, int] = field(default_factory=dict)  # status -> count
    finished: dict[str, int] = field(default_factory=dict)  # terminal status -> count (window)
    runs_today: int = 0
    spend_today: float = 0.0  # real money (models with a price, not scripted)
    simulated_spend_today: float = 0.0  # the scripted model's priced-as money
    unknown_cost_today: int = 0  # calls whose cost is unknown (a model with no price)


@dataclass
class BoardFigures:
    categories: dict[str, CategoryFigures]
    runs_today: int
    merges_today: int
    dark_merges_today: int
    spend_today: float
    simulated_spend_today: float
    unknown_cost_today: int
    pending_gates: int
    cord: Any


def _driver(db: Database, sql: str) -> str:
    """SQL written with SQLite's `?` placeholders, for the database's driver (psycopg
    takes `%s`); the queries here hold no other `?` or `%`."""
    return sql.replace("?", "%s") if db.postgres else sql


Finished = dict[str, dict[str, int]]  # category -> terminal status -> runs
#: How board_figures gets the window's ended runs: (database, connection, window, the
#: live runs' counts) -> Finished. The board passes one that reuses its last answer.
FinishedSource = Callable[[Database, Any, datetime, dict[str, dict[str, int]]], Finished]


def finished_counts(db: Database, conn: Any, window: datetime,
                    _active: dict[str, dict[str, int]] | None = None) -> Finished:
    """Runs created since `window` that ended, per category and status (at a million
    runs, a month of rows)."""
    by_created = "" if db.postgres else " INDEXED BY ix_runs_created"
    out: dict[str, dict[str, int]] = {}
    for name, status, n in conn.exec_driver_sql(
            _driver(db, f"SELECT category, status, count(*) FROM runs{by_created} "
                    f"WHERE created_at >= ? AND status IN ({_in(TERMINAL)}) "
                    "GROUP BY category, status"), (_iso(window),)):
        out.setdefault(name, {})[status] = int(n)
    return out


def board_figures(db: Database, *, today: datetime, window: datetime,
                  finished: FinishedSource = finished_counts) -> BoardFigures:
    """Everything the board's header and lines table show, in one read snapshot."""
    cats: dict[str, CategoryFigures] = {}

    def cat(name: str) -> CategoryFigures:
        return cats.setdefault(name, CategoryFigures(name))

    by_created = "" if db.postgres else " INDEXED BY ix_runs_created"
    with db.read() as s:
        conn = s.connection()
        for name, level in conn.exec_driver_sql("SELECT category, level FROM policies"):
            cat(name).level = int(level)
        for name, status, n in conn.exec_driver_sql(
                f"SELECT category, status, count(*) FROM runs WHERE status IN ({_in(ACTIVE)}) "
                "GROUP BY category, status"):
            cat(name).active[status] = int(n)
        active = {name: dict(c.active) for name, c in cats.items() if c.active}
        for name, counts in finished(db, conn, window, active).items():
            cat(name).finished.update(counts)
        for name, n in conn.exec_driver_sql(
                _driver(db, f"SELECT category, count(*) FROM runs{by_created} "
                        "WHERE created_at >= ? GROUP BY category"), (_iso(today),)):
            cat(name).runs_today = int(n)
        for name, spend in _spend(conn, today).items():
            c = cat(name)
            c.spend_today, c.simulated_spend_today = spend.real, spend.simulated
            c.unknown_cost_today = spend.unknown
        merges, dark = conn.exec_driver_sql(_driver(
            db, "SELECT count(*), coalesce(sum(CASE WHEN human_touched THEN 0 ELSE 1 END), 0) "
            "FROM runs WHERE merged_at >= ?"), (_iso(today),)).one()
        (pending,) = conn.exec_driver_sql(
            "SELECT count(*) FROM gates WHERE status = 'pending'").one()
        cord = s.get(m.Setting, "cord")
    return BoardFigures(
        categories=dict(sorted(cats.items())),
        runs_today=sum(c.runs_today for c in cats.values()),
        merges_today=int(merges),
        dark_merges_today=int(dark),
        spend_today=sum(c.spend_today for c in cats.values()),
        simulated_spend_today=sum(c.simulated_spend_today for c in cats.values()),
        unknown_cost_today=sum(c.unknown_cost_today for c in cats.values()),
        pending_gates=int(pending),
        cord=cord.value if cord is not None and cord.value else None,
    )


def search_runs(db: Database, *, statuses: Sequence[str] | None = None,
                text: str = "", limit: int = 100, offset: int = 0) -> list[m.Run]:
    """Newest first; `text` matches the run number, the title or the category."""
    query = select(m.Run)
    if statuses and set(statuses) <= set(ACTIVE):
        query = query.where(col(m.Run.status).in_(statuses))  # few rows: the status index
    elif statuses:
        # Finished runs are most runs: walk the ids down and stop at `limit` (the status
        # index would collect every one of them and sort). PostgreSQL's planner chooses.
        status = col(m.Run.status) if db.postgres else literal_column("+runs.status")
        query = query.where(status.in_(statuses))
    text = text.strip()
    if text:
        number = text.lstrip("#")
        pattern = f"%{text}%"
        match = or_(col(m.Run.title).ilike(pattern), col(m.Run.category).ilike(pattern))
        if number.isdigit():
            match = or_(match, col(m.Run.id) == int(number))
        query = query.where(match)
    query = query.order_by(col(m.Run.id).desc()).offset(offset).limit(limit)
    with db.read() as s:
        return list(s.exec(query).all())


def pending_gates_by_run(db: Database, run_ids: Sequence[int] | None = None) -> dict[int, m.Gate]:
    """The oldest pending gate of each run that has one."""
    query = select(m.Gate).where(m.Gate.status == m.PENDING)
    if run_ids is not None:
        if not run_ids:
            return {}
        query = query.where(col(m.Gate.run_id).in_(list(run_ids)))
    found: dict[int, m.Gate] = {}
    with db.read() as s:
        for gate in s.exec(query.order_by(col(m.Gate.id))).all():
            found.setdefault(gate.run_id, gate)
    return found


# -- one run's pages -----------------------------------------------------------------


def run_events(db: Database, run_id: int, *, kinds: Sequence[str] | None = None,
               after_id: int = 0, before_id: int | None = None, limit: int = 1000,
               newest: bool = False) -> list[m.Event]:
    """A page of a run's events in id order; `newest` takes the page from the end."""
    query = select(m.Event).where(m.Event.run_id == run_id, col(m.Event.id) > after_id)
    if kinds:
        query = query.where(col(m.Event.kind).in_(kinds))
    if before_id is not None:
        query = query.where(col(m.Event.id) < before_id)
    order = col(m.Event.id).desc() if newest else col(m.Event.id)
    with db.read() as s:
        rows = list(s.exec(query.order_by(order).limit(limit)).all())
    return rows[::-1] if newest else rows


@dataclass
class StepRow:
    """A step without its full output: the first `preview` characters and the length."""

    id: int
    stage: str
    kind: str
    name: str
    status: str
    input: Any
    output: str
    output_chars: int
    exit_code: int | None
    started_at: datetime
    finished_at: datetime | None
    data: dict[str, Any]


def run_steps(db: Database, run_id: int, *, kinds: Sequence[str] | None = None,
              ids: Sequence[int] | None = None, after_id: int = 0,
              since: datetime | None = None, until: datetime | None = None,
              preview: int = 4000) -> list[StepRow]:
    """A run's steps in id order, outputs cut to `preview` characters in SQL."""
    where = ["run_id = ?"]
    params: list[Any] = [run_id]
    if kinds:
        where.append(f"kind IN ({', '.join('?' for _ in kinds)})")
        params += list(kinds)
    if ids is not None:
        if not ids:
            return []
        where.append(f"id IN ({', '.join('?' for _ in ids)})")
        params += list(ids)
    if after_id:
        where.append("id > ?")
        params.append(after_id)
    if since is not None:
        where.append("started_at >= ?")
        params.append(_iso(since))
    if until is not None:
        where.append("started_at < ?")
        params.append(_iso(until))
    sql = ("SELECT id, stage, kind, name, status, input, substr(output, 1, ?), "
           "length(output), exit_code, started_at, finished_at, data FROM steps WHERE "
           + " AND ".join(where) + " ORDER BY id")
    dt, js = UTCDateTime(), JSONText()
    with db.read() as s:
        rows = s.connection().exec_driver_sql(_driver(db, sql), (preview, *params)).all()
    return [StepRow(id=r[0], stage=r[1], kind=r[2], name=r[3], status=r[4],
                    input=js.process_result_value(r[5], None), output=r[6] or "",
                    output_chars=int(r[7] or 0), exit_code=r[8],
                    started_at=dt.process_result_value(r[9], None),  # type: ignore[arg-type]
                    finished_at=dt.process_result_value(r[10], None),
                    data=js.process_result_value(r[11], None) or {})
            for r in rows]


def step_output(db: Database, step_id: int) -> str:
    with db.read() as s:
        step = s.get(m.Step, step_id)
        return (step.output or "") if step else ""


def pending_gate_of(db: Database, run_id: int) -> m.Gate | None:
    with db.read() as s:
        return s.exec(select(m.Gate).where(m.Gate.run_id == run_id,
                                           m.Gate.status == m.PENDING)
                      .order_by(col(m.Gate.id)).limit(1)).first()


def last_event_id(db: Database) -> int:
    with db.read() as s:
        return int(s.exec(select(func.max(m.Event.id))).one() or 0)


def events_since(db: Database, after_id: int, kinds: Sequence[str],
                 limit: int = 20) -> list[m.Event]:
    """The factory's newest events of these kinds (a primary-key range scan)."""
    query = (select(m.Event).where(col(m.Event.id) > after_id, col(m.Event.kind).in_(kinds))
             .order_by(col(m.Event.id)).limit(limit))
    with db.read() as s:
        return list(s.exec(query).all())
