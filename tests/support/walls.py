"""Helpers for tests of the walls: folders outside /tmp, waiting on conditions, and
finding processes by a marker in their command line."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

DEADLINE = 60.0  # generous: a loaded machine (2 cores, 8 agents) is slow, never wrong


def wait_until(condition: Callable[[], object], timeout: float = DEADLINE) -> bool:
    """Poll `condition` until it holds (True) or `timeout` seconds pass (False)."""
    end = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() > end:
            return False
        time.sleep(0.05)


def _under_tmp(path: Path) -> bool:
    real = os.path.realpath(path)
    return real == "/tmp" or real.startswith("/tmp/")


def outside_tmp_folder() -> Path | None:
    """A fresh folder outside /tmp (the sandbox replaces /tmp with a private one, so a
    test of hiding or escaping under /tmp can pass for the wrong reason); None when
    there is no writable place for one."""
    for base in (os.environ.get("ANDON_TEST_TMP"), Path.home() / ".cache", "/var/tmp"):
        if not base or _under_tmp(Path(base)):
            continue
        try:
            Path(base).mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(prefix="andon-test-", dir=base))
        except OSError:
            continue
    return None


def processes_with(marker: str) -> list[int]:
    """Live processes whose command line contains `marker` (seen from the host, so
    those inside a sandbox's PID namespace too)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(int(entry.name))
    return found
