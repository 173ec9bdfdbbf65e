"""A factory's state on PostgreSQL: its URL, its one writer at a time, its wake-ups.

SQLite's BEGIN IMMEDIATE lets one write transaction run at a time, and the engine's
read-modify-write steps (a claim that counts a category's running runs, a budget summed
before a start) rely on that. On PostgreSQL every write transaction takes one
transaction-scoped advisory lock first, which gives every engine on every host the same
guarantee; reads never take it. Each write also sends a NOTIFY (delivered at commit), so
`Listener` moves a counter the way `PRAGMA data_version` does on SQLite.

psycopg (3) is an optional extra, `andon[postgres]`: imported only here, only when a
factory names a PostgreSQL URL.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

log = logging.getLogger("andon.store")

CHANNEL = "andon_changed"
# Advisory lock keys (any two bigints: these spell "andon" and "andon migrate").
WRITE_LOCK = 0x616E646F6E
MIGRATE_LOCK = 0x616E646F6E6D
SCHEMES = ("postgresql://", "postgresql+psycopg://", "postgres://")


def is_url(target: object) -> bool:
    """Is `target` a PostgreSQL URL (rather than the path of an SQLite file)?"""
    return isinstance(target, str) and target.startswith(SCHEMES)


def engine_url(target: str) -> URL:
    """The SQLAlchemy URL for a PostgreSQL URL as a person writes it (psycopg 3 driver)."""
    try:
        url = make_url("postgresql://" + target.split("://", 1)[1])
    except ArgumentError as exc:
        raise ValueError(f"database url {shown(target)!r} does not parse: {exc}") from None
    return url.set(drivername="postgresql+psycopg")


def shown(target: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return make_url("postgresql://" + target.split("://", 1)[1]).render_as_string(
            hide_password=True)
    except ArgumentError:
        return target.split("@")[-1]


def conninfo(url: URL) -> str:
    """What psycopg.connect takes for a SQLAlchemy URL."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def require_driver() -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise RuntimeError("a PostgreSQL factory needs psycopg: pip install 'andon[postgres]'"
                           ) from None


class Listener:
    """LISTEN on the factory's channel in a thread of its own; `version` moves with every
    notification, and whenever the connection was lost (a change may have been missed)."""

    def __init__(self, url: URL) -> None:
        self.conninfo = conninfo(url)
        self.version = 0
        self.changed = threading.Condition()
        self._stop = threading.Event()
        self._conn: Any = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="andon-listen", daemon=True)
        self._thread.start()
        self._ready.wait(30)  # the first LISTEN is in place before anyone reads a version

    def _connect(self) -> Any:
        import psycopg

        conn = psycopg.connect(self.conninfo, autocommit=True)
        conn.execute(f"LISTEN {CHANNEL}")
        return conn

    def _bump(self) -> None:
        with self.changed:
            self.version += 1
            self.changed.notify_all()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._conn = self._connect()
            except Exception as exc:
                log.warning("cannot listen for changes (%s); trying again", exc)
                self._ready.set()
                self._stop.wait(1.0)
                continue
            self._ready.set()
            self._bump()  # anything may have changed while nobody listened
            try:
                while not self._stop.is_set():
                    for _ in self._conn.notifies(timeout=1.0):
                        self._bump()
            except Exception as exc:
                if not self._stop.is_set():
                    log.warning("lost the connection listening for changes (%s)", exc)
            finally:
                self._close_conn()

    def _close_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
