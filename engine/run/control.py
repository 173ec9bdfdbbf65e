"""Step boundaries: where a run notices the cord, a cancel, or a stop request.

Runs call `RunControl.boundary()` between stages and between agent turns. It returns at
once when nothing is asked of the run, raises `Cancelled` when a person cancelled it,
raises `Stopping` when this engine is shutting down (the run is left resumable), and
blocks with the run marked "held" while the andon cord is pulled. A run that must not
wait for a person (`andon run-once`: `park=True`) raises `Parked` instead of blocking,
at the cord here and at an open gate in `engine.gates.gate.wait_for_gate`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from andon.engine.run.status import allowed, transition
from andon.store import models as m
from andon.store.clock import utcnow
from andon.store.db import Database

CORD_KEY = "cord"
POLL_SECONDS = 0.1


class Cancelled(Exception):
    """A person cancelled the run."""


class Stopping(Exception):
    """The engine is stopping; the run stays resumable from its last checkpoint."""


class Parked(Stopping):
    """Nothing moves without a person (an open gate, the pulled cord) and the engine
    does not wait: the run stays resumable, its gate open."""


def cord_state(db: Database) -> dict[str, Any] | None:
    """The pulled cord's record ({"by", "at", "reason"}), or None when released."""
    with db.read() as s:
        row = s.get(m.Setting, CORD_KEY)
        return row.value if row and row.value else None


class RunControl:
    def __init__(self, db: Database, run_id: int,
                 stop: threading.Event | None = None,
                 on_hold: Callable[[str], None] | None = None, park: bool = False) -> None:
        self.db = db
        self.run_id = run_id
        self.stop = stop or threading.Event()
        self.on_hold = on_hold
        self.park = park

    def boundary(self) -> None:
        held = False
        while True:
            if self.stop.is_set():
                raise Stopping("the engine is stopping")
            with self.db.read() as s:
                run = s.get(m.Run, self.run_id)
                cord = s.get(m.Setting, CORD_KEY)
            if run is not None and run.cancel_requested:
                raise Cancelled("cancelled by a person")
            pulled = bool(cord and cord.value)
            if not pulled:
                if held:
                    self._set_status(m.RUNNING, "cord released: run resumes")
                return
            reason = (cord.value or {}).get("reason") if cord else None
            if self.park:
                raise Parked(f"held by the andon cord: {reason or 'no reason'}")
            if not held:
                held = True
                self._set_status(m.HELD, f"held by the andon cord: {reason or 'no reason'}")
            self.stop.wait(POLL_SECONDS)

    def wait(self, seconds: float) -> None:
        """Sleep that a stop request interrupts."""
        if self.stop.wait(seconds):
            raise Stopping("the engine is stopping")

    def _set_status(self, status: str, message: str) -> None:
        with self.db.write() as s:
            run = s.get(m.Run, self.run_id)
            if run is not None and (run.status != status or allowed(status, status)):
                transition(s, run, status, message, heartbeat_at=utcnow())
        if self.on_hold is not None:
            self.on_hold(message)
        time.sleep(0)  # let other threads see the change promptly
