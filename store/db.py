"""Opening the factory's SQLite database, and the one write path.

SQLite allows one writer at a time. The stdlib driver opens transactions lazily and in
DEFERRED mode, so a read-modify-write done by two processes interleaves and one update
is lost. Every write transaction here starts with BEGIN IMMEDIATE instead, taking the
write lock up front; `busy_timeout` makes the others wait for it rather than fail.

Another process may hold the write lock longer than `busy_timeout` (a long transaction,
a backup, a person's sqlite3 shell). Nothing has been done when BEGIN IMMEDIATE gives
up, so `write()` simply tries again, for up to `lock_wait` seconds in all, saying once
that it waits: contention costs time, never a run.

A factory that outgrows one machine keeps its state on PostgreSQL instead (a URL in
place of the path): the same tables and migrations, the same one-writer-at-a-time
guarantee and change counter, given by `andon.store.postgres`.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from andon.store import postgres

BUSY_TIMEOUT_MS = 30_000
LOCK_WAIT = 600.0  # seconds a write waits, in all, for another process's write lock
_WRITE = "andon_write"

log = logging.getLogger("andon.store")


def locked(exc: BaseException) -> bool:
    """Is this SQLite's "database is locked" (another connection holds the write lock),
    or PostgreSQL's lock_timeout (55P03) waiting for the writers' lock?"""
    orig = getattr(exc, "orig", exc)
    if getattr(orig, "sqlstate", None) == "55P03":
        return True
    return isinstance(orig, sqlite3.OperationalError) and (
        "database is locked" in str(orig) or "database is busy" in str(orig))


FULL = "full"
LOCKED = "locked"
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_FULL_TEXTS = ("database or disk is full", "No space left on device", "Disk quota exceeded",
               "Out of diskspace")  # (the last is git's own wording)


def storage_fault(exc: BaseException) -> str | None:
    """FULL when `exc` (or what caused it) is a full disk: an OSError ENOSPC/EDQUOT,
    SQLite's "database or disk is full", a tool (git) saying "No space left on device";
    LOCKED when it is SQLite's write lock held past every wait; else None. Neither is
    the run's fault: such a run is held for resume, never failed."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _FULL_ERRNOS:
            return FULL
        text = f"{current} {getattr(current, 'stderr', '') or ''}"
        if any(t in text for t in _FULL_TEXTS):
            return FULL
        if locked(current):
            return LOCKED
        current = current.__cause__ or current.__context__ or getattr(current, "orig", None)
    return None


def in_database(exc: BaseException) -> bool:
    """Did the database itself raise this (rather than git, or a file write)?"""
    orig = getattr(exc, "orig", exc)
    return isinstance(orig, sqlite3.Error) or type(orig).__module__.startswith("psycopg")


def fault_message(fault: str, home: Path | str | None) -> str:
    """One line a person can act on, for a `storage_fault` kind; `home` names the disk
    (None: a disk the run writes to, not the home's: its repository or worktree)."""
    if fault == FULL:
        disk = f"the disk holding {home}" if home else "a disk the run writes to"
        return f"{disk} is full; free some space (nothing is lost)"
    return (f"another process holds the write lock of the database in {home} and did "
            "not let go; find it (e.g. `fuser andon.db`) and end it")


def _configure(engine: Engine, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Autocommit at the driver level; transactions are begun explicitly below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """One SQLite file, or a PostgreSQL database (`target` a postgresql:// URL).
    Thread-safe; open one per process and share it."""

    def __init__(self, target: Path | str, *, migrate: bool = True,
                 busy_timeout: float = BUSY_TIMEOUT_MS / 1000,
                 lock_wait: float = LOCK_WAIT) -> None:
        self.lock_wait = lock_wait
        self.lock_waits = 0  # how often a write found the lock held past busy_timeout
        self.postgres = postgres.is_url(target)
        self.path: Path | None = None
        self._listener: postgres.Listener | None = None
        if self.postgres:
            postgres.require_driver()
            self.location = postgres.shown(str(target))
            self._url = postgres.engine_url(str(target))
            self.engine = create_engine(self._url, pool_pre_ping=True)
        else:
            self.path = Path(target)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.location = str(self.path)
            self.engine = create_engine(
                f"sqlite:///{self.path}",
                connect_args={"check_same_thread": False, "timeout": busy_timeout},
            )
            _configure(self.engine, int(busy_timeout * 1000))
        self._writer = self.engine.execution_options(**{_WRITE: True})
        # A read is one snapshot on both: SQLite's deferred BEGIN gives it; PostgreSQL's
        # default (read committed) would see each statement's own.
        self._reader = (self.engine.execution_options(isolation_level="REPEATABLE READ")
                        if self.postgres else self.engine)
        self._watch: sqlite3.Connection | None = None
        self._watch_lock = threading.Lock()
        if migrate:
            self.migrate()

    def migrate(self) -> None:
        """Bring the schema to the newest revision; several processes may race here."""
        from andon.store.migrate import upgrade

        if self.path is not None:
            with FileLock(str(self.path) + ".migrate.lock"):
                upgrade(self.engine)
            return
        with self.engine.connect() as conn:  # a lock of the server's, for every host
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": postgres.MIGRATE_LOCK})
            try:
                upgrade(self.engine)
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"),
                             {"key": postgres.MIGRATE_LOCK})
                conn.commit()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A consistent snapshot for reading; nothing it changes is committed."""
        # Closing (not rolling back) ends the snapshot and leaves loaded rows usable.
        with Session(self._reader, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A short write transaction: BEGIN IMMEDIATE (PostgreSQL: the writers' advisory
        lock), commit on success."""
        with Session(self._writer, expire_on_commit=False) as session:
            self._begin(session)  # take the write lock before any read
            try:
                yield session
                if self.postgres:  # delivered at commit, to every listening process
                    session.connection().execute(text(f"NOTIFY {postgres.CHANNEL}"))
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def _begin(self, session: Session) -> None:
        """BEGIN IMMEDIATE, again and again while another process holds the write lock
        past busy_timeout, for up to `lock_wait` seconds in all."""
        if self.postgres:
            conn = session.connection()
            conn.execute(text("SELECT set_config('lock_timeout', :ms, true)"),
                         {"ms": f"{int(self.lock_wait * 1000)}ms"})
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": postgres.WRITE_LOCK})
            return
        deadline = time.monotonic() + self.lock_wait
        while True:
            try:
                session.connection()
                return
            except OperationalError as exc:
                session.rollback()
                if not locked(exc) or time.monotonic() >= deadline:
                    raise
                self.lock_waits += 1
                if self.lock_waits == 1 or self.lock_waits % 10 == 0:
                    log.warning("%s: another process holds the database's write lock; "
                                "waiting for it (up to %.0fs)", self.path, self.lock_wait)
                time.sleep(0.05)  # busy_timeout did the waiting; do not spin when it is 0

    def data_version(self) -> int:
        """Changes whenever another connection commits: cheap cross-process change detection
        (SQLite: PRAGMA data_version; PostgreSQL: LISTEN for the writes' NOTIFY)."""
        with self._watch_lock:
            if self.postgres:
                if self._listener is None:
                    self._listener = postgres.Listener(self._url)
                return self._listener.version
            if self._watch is None:
                self._watch = sqlite3.connect(
                    self.path or "", check_same_thread=False, isolation_level=None
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
            if self._listener is not None:
                self._listener.close()
                self._listener = None
        self.engine.dispose()
