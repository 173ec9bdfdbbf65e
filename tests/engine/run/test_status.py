"""A run's status moves only along the table, in the caller's transaction, and a writer
that acted on a stale view loses cleanly (compare-and-set on the old status)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from andon.engine.run.status import ALLOWED, IllegalTransition, StatusConflict, transition
from andon.store import models as m
from andon.store.db import Database
from tests.support.rows import add_run


def _run(db: Database, **fields: Any) -> int:
    with db.write() as s:
        return add_run(s, **fields).id or 0


def _stored(db: Database, run_id: int) -> tuple[str, list[tuple[str, str]]]:
    with db.read() as s:
        run = s.get(m.Run, run_id)
        assert run is not None
        events = s.exec(select(m.Event).where(m.Event.run_id == run_id)
                        .order_by(col(m.Event.id))).all()
        return run.status, [(e.kind, e.message) for e in events]


def test_a_transition_writes_the_status_its_fields_and_its_event_together(
        db: Database) -> None:
    run_id = _run(db, status=m.RUNNING)
    with db.write() as s:
        run = s.get(m.Run, run_id)
        assert run is not None
        after = transition(s, run, m.MERGED, "merged into main", reason="merged into main",
                           merge_commit="abc")
    assert after.status == m.MERGED and after.merge_commit == "abc"
    assert after.finished_at is not None and after.merged_at is not None
    assert _stored(db, run_id) == (m.MERGED, [("run.merged", "merged into main")])


def test_an_illegal_transition_raises_and_writes_nothing(db: Database) -> None:
    queued = _run(db, status=m.QUEUED)
    merged = _run(db, status=m.MERGED)
    for run_id, to in ((queued, m.MERGED), (merged, m.RUNNING), (merged, m.QUEUED)):
        with pytest.raises(IllegalTransition, match="not an allowed transition"), \
                db.write() as s:
            run = s.get(m.Run, run_id)
            assert run is not None
            transition(s, run, to, "should not happen")
    assert _stored(db, queued) == (m.QUEUED, [])
    assert _stored(db, merged) == (m.MERGED, [])
    assert m.MERGED not in ALLOWED[m.QUEUED] and not ALLOWED.get(m.FAILED)


def test_the_transition_commits_or_rolls_back_with_the_callers_transaction(
        db: Database) -> None:
    run_id = _run(db, status=m.WAITING)
    with pytest.raises(RuntimeError, match="the decision failed"), db.write() as s:
        run = s.get(m.Run, run_id)
        assert run is not None
        transition(s, run, m.RUNNING, "gate 1 approved")
        raise RuntimeError("the decision failed")  # e.g. the gate's own write
    assert _stored(db, run_id) == (m.WAITING, [])


def test_a_racing_second_transition_loses_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "andon.db"
    first, second = Database(path), Database(path)  # two engines: two connections
    try:
        run_id = _run(first, status=m.RUNNING)
        both_read = threading.Barrier(2, timeout=60)
        outcome: dict[str, object] = {}

        def writer(db: Database, to: str, name: str) -> None:
            with db.read() as s:
                run = s.get(m.Run, run_id)  # each sees "running"...
            assert run is not None
            both_read.wait()  # ...before either writes
            try:
                with db.write() as s:
                    transition(s, run, to, f"{name} moved it", reason=name)
                outcome[name] = "won"
            except StatusConflict as exc:
                outcome[name] = exc

        threads = [threading.Thread(target=writer, args=(first, m.HELD, "cord")),
                   threading.Thread(target=writer, args=(second, m.FAILED, "crash"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        winner = next(name for name, result in outcome.items() if result == "won")
        loser = next(name for name in ("cord", "crash") if name != winner)
        lost = outcome[loser]
        assert isinstance(lost, StatusConflict)
        assert lost.expected == m.RUNNING
        status, events = _stored(first, run_id)
        assert status == {"cord": m.HELD, "crash": m.FAILED}[winner] == lost.found
        assert events == [(f"run.{status}", f"{winner} moved it")]  # the loser wrote nothing
        with first.read() as s:
            assert (s.get(m.Run, run_id) or m.Run(category="")).reason == winner
    finally:
        first.close()
        second.close()
