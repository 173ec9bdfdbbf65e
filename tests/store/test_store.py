"""The store: one writer at a time across processes, UTC times, append-only events,
and a schema that migrations keep in step with the models; on an SQLite file and on
PostgreSQL alike (tests/store/conftest.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import SQLModel

from andon.store import models as m
from andon.store.db import Database, _configure
from andon.store.migrate import alembic_config, current_revision, head_revision, upgrade
from tests.store.conftest import NewTarget

INCREMENTER = textwrap.dedent("""
    import sys
    from andon.store.db import Database
    from andon.store.models import Setting

    db = Database(sys.argv[1])
    for _ in range(int(sys.argv[2])):
        with db.write() as s:
            row = s.get(Setting, "counter")
            row.value = row.value + 1
""")


def test_four_processes_lose_no_increment(new_target: NewTarget) -> None:
    path = new_target("andon")
    db = Database(path)
    with db.write() as s:
        s.add(m.Setting(key="counter", value=0))
    each = 50 if db.postgres else 200  # a server round trip per statement: fewer suffice
    procs = [subprocess.Popen([sys.executable, "-c", INCREMENTER, str(path), str(each)])
             for _ in range(4)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0, 0]
    with db.read() as s:
        assert s.get(m.Setting, "counter").value == 4 * each


def test_connections_use_wal_busy_timeout_and_foreign_keys(db: Database) -> None:
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    with pytest.raises(IntegrityError), db.write() as s:
        s.add(m.Run(spec_id=999, category="docs"))  # no such spec


def test_foreign_keys_hold(store_db: Database) -> None:
    with pytest.raises(IntegrityError), store_db.write() as s:
        s.add(m.Run(spec_id=999, category="docs"))  # no such spec


def test_times_come_back_aware_utc_and_naive_ones_are_refused(store_db: Database) -> None:
    db = store_db
    with db.write() as s:
        s.add(m.Event(kind="hello", ts=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)))
    with db.read() as s:
        event = s.get(m.Event, 1)
    assert event.ts == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert event.ts.tzinfo is not None
    with pytest.raises(Exception, match="naive datetime"), db.write() as s:
        s.add(m.Event(kind="naive", ts=datetime(2026, 1, 2)))


def test_events_cannot_be_changed_or_deleted(store_db: Database) -> None:
    db = store_db
    with db.write() as s:
        s.add(m.Event(kind="merged", message="run 1 merged"))
    for statement in ("UPDATE events SET message = 'rewritten'", "DELETE FROM events"):
        with pytest.raises(IntegrityError, match="append-only"), db.write() as s:
            s.exec(text(statement))
    with db.read() as s:
        assert s.get(m.Event, 1).message == "run 1 merged"


def test_a_failed_write_commits_nothing(store_db: Database) -> None:
    db = store_db
    with pytest.raises(RuntimeError), db.write() as s:
        s.add(m.Setting(key="half", value=1))
        s.flush()
        raise RuntimeError("crash in the middle")
    with db.read() as s:
        assert s.get(m.Setting, "half") is None


def test_data_version_moves_when_another_process_commits(new_target: NewTarget) -> None:
    target = new_target("andon")
    db = Database(target)
    before = db.data_version()
    subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        from andon.store.db import Database
        from andon.store.models import Setting
        with Database({target!r}).write() as s:
            s.add(Setting(key="x", value=1))
    """)], check=True)
    # PostgreSQL's notification arrives on a connection of its own: wait for it.
    deadline = time.monotonic() + 60
    while db.data_version() == before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert db.data_version() != before
    db.close()


def test_migrations_match_models(new_target: NewTarget) -> None:
    """A model change without its migration fails here."""
    db = Database(new_target("a"))
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []
    assert current_revision(db.engine) == head_revision()


def test_every_older_database_is_migrated_on_open_and_keeps_its_rows(
        new_target: NewTarget) -> None:
    script = ScriptDirectory.from_config(alembic_config())
    revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
    for older in ["base", *revisions[:-1]]:
        path = new_target(f"at-{older}")
        if path.startswith("postgresql"):
            engine = Database(path, migrate=False).engine
        else:
            engine = create_engine(f"sqlite:///{path}")
            _configure(engine)
        if older != "base":
            upgrade(engine, older)
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO settings (key, value, updated_at) "
                                  "VALUES ('kept', '1', '2026-01-01T00:00:00+00:00')"))
        engine.dispose()
        db = Database(path)
        assert current_revision(db.engine) == head_revision()
        if older != "base":
            with db.read() as s:
                assert s.get(m.Setting, "kept").value == 1
        db.close()


def test_reads_do_not_take_the_write_lock(store_db: Database) -> None:
    db = store_db
    with db.read() as s, db.write() as w:
        s.exec(text("SELECT count(*) FROM runs")).one()
        w.add(m.Setting(key="during-read", value=True))


def test_a_second_writer_waits_instead_of_failing(new_target: NewTarget) -> None:
    path = new_target("w")
    Database(path).close()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from andon.store.db import Database
        from andon.store.models import Setting
        with Database({path!r}).write() as s:
            s.add(Setting(key="first", value=1))
            print("locked", flush=True)
            time.sleep(0.5)
    """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    db = Database(path)
    try:
        with db.write() as s:
            s.add(m.Setting(key="second", value=2))
    except OperationalError as exc:  # pragma: no cover - the failure this test guards
        pytest.fail(f"second writer failed instead of waiting: {exc}")
    holder.wait(timeout=10)
    with db.read() as s:
        assert {r.key for r in s.exec(text("SELECT key FROM settings")).all()} >= {"first"}
