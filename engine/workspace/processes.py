"""Processes a run starts outside the sandbox, so a later engine can end them.

The sandbox ends with the engine (bubblewrap's --die-with-parent, its own PID
namespace), but the repository's setup commands run outside it, in a session of their
own (a timeout kills their whole process group). A kill -9 of the engine leaves them
running, and the resumed run would start them again beside the first: two installs
into one virtualenv at once.

So each setup command carries a token in its environment (`ANDON_PROCESS=<token>`,
inherited by everything it starts, even what leaves its process group), and the run
records the token and the host while the command runs. Recovery ends every process
that carries the token before the run resumes (`end_all`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from pathlib import Path

ENV_KEY = "ANDON_PROCESS"
RUN_KEY = "setup_process"  # in run.data: {"token", "host", "command"} while one runs
END_WAIT = 30.0  # seconds for killed processes to be gone


def new_token(run_id: int) -> str:
    return f"run-{run_id}-{uuid.uuid4().hex[:16]}"


def carrying(token: str) -> list[int]:
    """Live processes (not this one) whose environment holds `ANDON_PROCESS=<token>`."""
    wanted = f"{ENV_KEY}={token}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()  # empty for a zombie
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if wanted in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def end_all(token: str, wait: float = END_WAIT) -> list[int]:
    """SIGKILL every process carrying `token` (again, for any it forked meanwhile) until
    none is left or `wait` seconds passed; returns the pids killed."""
    killed: list[int] = []
    deadline = time.monotonic() + wait
    while True:
        pids = carrying(token)
        if not pids or time.monotonic() > deadline:
            return killed
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                if pid not in killed:  # (a killed one may show once more before it is gone)
                    killed.append(pid)
        time.sleep(0.02)
