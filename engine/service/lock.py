"""One engine per home: an exclusive file lock on `<home>/engine.lock`.

The daemon (`andon serve`) and the engine a TUI starts in its own process both take it,
so two engines never execute runs of the same home. The lock is an `flock` on an open
file: the kernel drops it when the holder dies, even by `kill -9`, so a crashed engine
never leaves a stale lock behind. The file's text (pid, mode, start time) tells others
who holds it; it is only believed while the lock is actually held.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from andon.engine.errors import UserError
from andon.store.clock import utcnow

LOCK_NAME = "engine.lock"


class EngineRunning(UserError):
    """Another engine already holds this home's lock."""

    def __init__(self, holder: LockHolder | None, path: Path) -> None:
        self.holder = holder
        if holder is None:
            what = "another engine"
        else:
            kind = "daemon" if holder.mode == "daemon" else f"{holder.mode} engine"
            what = f"an andon {kind} (pid {holder.pid} on {holder.host}, since " \
                   f"{holder.started.strftime('%Y-%m-%d %H:%M:%S')} UTC)"
        super().__init__(f"{what} is already running for this home ({path.parent}); "
                         "stop it first, or attach to it with `andon`")


@dataclass(frozen=True)
class LockHolder:
    pid: int
    host: str
    mode: str  # "daemon" or "embedded"
    started: datetime

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "host": self.host, "mode": self.mode,
                "started": self.started.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LockHolder:
        return cls(pid=int(data["pid"]), host=str(data.get("host", "")),
                   mode=str(data.get("mode", "daemon")),
                   started=datetime.fromisoformat(data["started"]))


def lock_path(root: Path) -> Path:
    return root / LOCK_NAME


def _read(path: Path) -> LockHolder | None:
    try:
        return LockHolder.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def holder(root: Path) -> LockHolder | None:
    """Who holds the home's engine lock right now, or None when nobody does."""
    path = lock_path(root)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            # Held (exclusively) by a live engine: believe what it wrote.
            return _read(path) or LockHolder(0, "", "unknown", utcnow())
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class EngineLock:
    """The exclusive lock; `acquire()` raises EngineRunning naming the holder."""

    def __init__(self, root: Path, mode: str = "daemon") -> None:
        self.path = lock_path(root)
        self.mode = mode
        self._fd: int | None = None
        self.info: LockHolder | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> LockHolder:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise EngineRunning(_read(self.path), self.path) from None
        os.fchmod(fd, 0o600)
        info = LockHolder(os.getpid(), socket.gethostname(), self.mode, utcnow())
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info.to_json()) + "\n").encode(), 0)
        os.fsync(fd)
        self._fd, self.info = fd, info
        return info

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> EngineLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
