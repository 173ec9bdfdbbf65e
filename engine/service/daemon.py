"""`andon serve`: the headless daemon, and what others ask about it.

The daemon is an `engine.service.runner.Engine` in mode "daemon", with logging to the home's
`logs/andon.log` (rotating, private) and to stdout, and signal handling:

* SIGTERM, SIGINT: stop gracefully. Dispatch stops, running runs stop at their next
  step boundary (they stay resumable), and the process exits 0. A second signal while
  draining cuts the wait short (runs still busy are marked interrupted).
* SIGHUP: re-read andon.toml.

`running_daemon(home)` tells the TUI and the CLI whether an engine (a daemon, or a TUI's
embedded engine) runs for a home, with its pid, start time and last heartbeat;
`start_embedded(home, db)` starts the TUI's own engine when none runs.
"""

from __future__ import annotations

import io
import json
import logging
import logging.handlers
import os
import signal
import sqlite3
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from andon.engine.factory.config import ConfigError
from andon.engine.factory.home import Home
from andon.engine.service.lock import holder
from andon.store.clock import utcnow

log = logging.getLogger("andon.daemon")

LOG_NAME = "andon.log"
LOG_BYTES = 5_000_000
LOG_BACKUPS = 5
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


@dataclass(frozen=True)
class DaemonInfo:
    """The engine running for a home (from its lock file and its heartbeat row)."""

    pid: int
    host: str
    mode: str  # "daemon" (andon serve) or "embedded" (inside a TUI)
    started: datetime
    heartbeat: datetime | None = None
    running: list[int] = field(default_factory=list)

    def age(self, now: datetime | None = None) -> float | None:
        """Seconds since the last heartbeat (None before the first)."""
        if self.heartbeat is None:
            return None
        return ((now or utcnow()) - self.heartbeat).total_seconds()

    def stale(self, after: float = 60.0) -> bool:
        age = self.age()
        return age is None or age > after


def _heartbeat_row(db_path: Path) -> dict[str, Any] | None:
    if not db_path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=2)
        try:
            row = conn.execute("SELECT value FROM settings WHERE key = 'engine'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    if not row or not row[0]:
        return None
    try:
        value = json.loads(row[0]) if isinstance(row[0], str) else row[0]
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def running_daemon(home: Home) -> DaemonInfo | None:
    """The engine holding this home's lock, or None when no engine runs."""
    who = holder(home.root)
    if who is None:
        return None
    beat = _heartbeat_row(home.db_path) or {}
    heartbeat = None
    if beat.get("pid") == who.pid and beat.get("heartbeat"):
        try:
            heartbeat = datetime.fromisoformat(beat["heartbeat"])
        except ValueError:
            heartbeat = None
    running = [int(r) for r in beat.get("running", []) if isinstance(r, int)] \
        if beat.get("pid") == who.pid else []
    return DaemonInfo(pid=who.pid, host=who.host, mode=who.mode, started=who.started,
                      heartbeat=heartbeat, running=running)


def start_embedded(home: Home, db: Any, *, log_to_file: bool = True) -> Any:
    """Start an engine inside this process (the TUI's), unless one already runs for the
    home. Returns the started `engine.service.runner.EmbeddedEngine` (call `.stop()` when the
    TUI quits), or None when a daemon or another TUI's engine is running."""
    from andon.engine.service.lock import EngineRunning
    from andon.engine.service.runner import EmbeddedEngine

    if running_daemon(home) is not None:
        return None
    engine = EmbeddedEngine(home, db)
    try:
        engine.acquire()
    except EngineRunning:
        return None
    if log_to_file:
        setup_logging(home, stdout=False)
    try:
        return engine.start()
    except BaseException:
        engine.lock.release()
        raise


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log whose files (the current one and every rotated one) are 0600."""

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)
        stream = os.fdopen(fd, self.mode.replace("w", "a"), encoding=self.encoding,
                           errors=self.errors)
        assert isinstance(stream, io.TextIOWrapper)  # a text mode fdopen
        return stream


def setup_logging(home: Home, *, stdout: bool = True, level: str | None = None) -> Path:
    """Log the engine to `<home>/logs/andon.log` (and stdout); returns the file's path."""
    home.logs.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = home.logs / LOG_NAME
    level_name = str(level or home.config.engine.log_level).upper()
    root = logging.getLogger("andon")
    root.setLevel(getattr(logging, level_name, logging.INFO))
    for handler in list(root.handlers):
        if getattr(handler, "_andon", False):
            root.removeHandler(handler)
            handler.close()
    formatter = logging.Formatter(LOG_FORMAT)
    handlers: list[logging.Handler] = [
        PrivateRotatingFileHandler(path, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS,
                                   encoding="utf-8"),
    ]
    if stdout:
        handlers.append(logging.StreamHandler(sys.stdout))
    for handler in handlers:
        handler.setFormatter(formatter)
        handler._andon = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.propagate = False
    # APScheduler says "Running job ..." at INFO on every tick: only its warnings.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    for handler in handlers:
        logging.getLogger("apscheduler").addHandler(handler)
    logging.getLogger("apscheduler").propagate = False
    return path


def _not_starting(home: Home, exc: ConfigError) -> None:
    # An unattended factory's person reads the log: say there why it did not start.
    setup_logging(home, stdout=False, level="INFO")
    log.error("not starting: %s", exc)


def serve(home: Home, *, stdout: bool = True) -> int:
    """Run the daemon until SIGTERM or SIGINT; returns the exit code (0 when stopped)."""
    from andon.engine.service.runner import Engine

    try:
        home.database()  # andon.toml says where the state is: a mistake refuses here
    except ConfigError as exc:
        _not_starting(home, exc)
        raise
    db = home.open() if home.exists() else home.init()
    try:
        engine = Engine(home, db, mode="daemon")  # reads andon.toml: a mistake refuses
    except ConfigError as exc:
        _not_starting(home, exc)
        db.close()
        raise
    try:  # refuse before writing anything to the running daemon's log file
        engine.acquire()
    except BaseException:
        db.close()
        raise
    path = setup_logging(home, stdout=stdout)
    stop = threading.Event()
    reload = threading.Event()
    signals = {"count": 0}

    def on_stop(signum: int, _frame: FrameType | None) -> None:
        signals["count"] += 1
        if signals["count"] == 1:
            log.info("%s received: stopping", signal.Signals(signum).name)
        stop.set()

    def on_hup(_signum: int, _frame: FrameType | None) -> None:
        reload.set()

    previous = {sig: signal.signal(sig, on_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hup)
    try:
        engine.start()
        log.info("andon daemon serving %s (pid %s, log %s)", home.root, os.getpid(), path)
        while not stop.wait(0.2):
            if reload.is_set():
                reload.clear()
                engine.reload()
        timeout = engine.settings.drain_timeout
        drained = _drain(engine, timeout, signals)
        log.info("andon daemon stopped%s", "" if drained else " (some runs interrupted)")
        return 0
    except BaseException:
        log.exception("the daemon failed; stopping")
        engine.stop(timeout=0)
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        db.close()


def _drain(engine: Any, timeout: float, signals: dict[str, int]) -> bool:
    """Stop the engine; a further signal while waiting shortens the wait to nothing."""
    first = signals["count"]
    result: dict[str, bool] = {}
    worker = threading.Thread(target=lambda: result.setdefault("ok", engine.stop(timeout)),
                              name="andon-drain", daemon=True)
    worker.start()
    deadline = utcnow() + timedelta(seconds=timeout + 10)
    while worker.is_alive() and utcnow() < deadline:
        worker.join(0.2)
        if signals["count"] > first:
            log.warning("second signal: not waiting for runs any longer")
            engine.stop_event.set()
            engine.cut_drain()
            first = signals["count"]
    worker.join(5)
    return result.get("ok", False)
