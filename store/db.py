"""Opening the factory's SQLite database, and the one write path.

SQLite allows one writer at a time. The stdlib driver opens transactions lazily and in
DEFERRED mode, so a read-modify-write done by two processes interleaves and one update
is lost. Every write transaction here starts with BEGIN IMMEDIATE instead, taking the
write lock up front; `busy_timeout` makes the others wait for it rather than fail.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlmodel import Session

BUSY_TIMEOUT_MS = 30_000
_WRITE = "andon_write"


def _configure(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Autocommit at the driver level; transactions are begun explicitly below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """One SQLite file. Thread-safe; open one per process and share it."""

    def __init__(self, path: Path | str, *, migrate: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(
            f"sqlite:///{self.path}",
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        )
        _configure(self.engine)
        self._writer = self.engine.execution_options(**{_WRITE: True})
        self._watch: sqlite3.Connection | None = None
        self._watch_lock = threading.Lock()
        if migrate:
            self.migrate()

    def migrate(self) -> None:
        """Bring the schema to the newest revision; several processes may race here."""
        from andon.store.migrate import upgrade

        with FileLock(str(self.path) + ".migrate.lock"):
            upgrade(self.engine)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A consistent snapshot for reading; nothing it changes is committed."""
        # Closing (not rolling back) ends the snapshot and leaves loaded rows usable.
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A short write transaction: BEGIN IMMEDIATE, commit on success."""
        with Session(self._writer, expire_on_commit=False) as session:
            session.connection()  # take the write lock before any read
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def data_version(self) -> int:
        """Changes whenever another connection commits: cheap cross-process change detection."""
        with self._watch_lock:
            if self._watch is None:
                self._watch = sqlite3.connect(
                    self.path, check_same_thread=False, isolation_level=None
                )
                self._watch.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            # The watch connection never writes, so every commit (this process's pool
            # included) moves the number.
            (version,) = self._watch.execute("PRAGMA data_version").fetchone()
            return int(version)

    def close(self) -> None:
        with self._watch_lock:
            if self._watch is not None:
                self._watch.close()
                self._watch = None
        self.engine.dispose()
