"""`andon run-once`: run the queue in this process and return, without a daemon.

For cron jobs, CI and a person at a terminal. It runs queued runs one after another and
returns once nothing can move without a person: a run that reaches an open gate (or the
pulled cord) is parked, left resumable with its gate open, and the next run goes on. A
later `andon run-once` (or `andon serve`) resumes a parked run, which waits at its gate
again until a person decides it. A time limit stops the run in hand at its next step
boundary, resumable too.

The outcome is one of four exit statuses, the first that applies:

* 1 (`FAILED`): a run it ran did not end well (failed, rejected, reverted, over budget);
* 4 (`TIME_LIMIT`): the time limit passed with work left;
* 3 (`WAITING`): it stopped with runs waiting for a person (their gates are listed);
* 0 (`OK`): every run it ran ended well (merged, nothing to change, cancelled), or
  there was nothing to run.

(2 is the CLI's own: bad usage, a broken andon.toml, another engine holding the home.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from andon.engine.factory.home import Home
from andon.engine.gates.gate import list_gates
from andon.engine.run.control import RunControl, cord_state
from andon.engine.run.queue import claim_next, get_run, owner_id
from andon.engine.service import recovery
from andon.engine.service.runner import run_pipeline
from andon.store import models as m
from andon.store.db import Database

OK, FAILED, WAITING, TIME_LIMIT = 0, 1, 3, 4

#: Ends that are not a failure of the factory: merged, nothing to change, or a person's
#: own decision to cancel.
WELL = frozenset({m.MERGED, m.UNCHANGED, m.CANCELLED})


@dataclass(frozen=True)
class Ran:
    run_id: int
    status: str
    reason: str


@dataclass
class Outcome:
    ran: list[Ran] = field(default_factory=list)
    waiting: list[m.Gate] = field(default_factory=list)  # open gates, oldest first
    cord: bool = False  # runs are held by the pulled cord
    timed_out: bool = False

    @property
    def exit_status(self) -> int:
        if any(r.status not in WELL and r.status != m.INTERRUPTED for r in self.ran):
            return FAILED
        if self.timed_out:
            return TIME_LIMIT
        if self.waiting or self.cord:
            return WAITING
        return OK


def run_once(home: Home, db: Database, *, limit: int = 0, seconds: float | None = None,
             wait: bool = False, on_run: Callable[[Ran], None] | None = None) -> Outcome:
    """Run the queue (at most `limit` runs; 0: all) for at most `seconds`; `wait`: wait
    at open gates for a person (still no longer than `seconds`) instead of parking. The
    caller holds the home's engine lock, so no other engine runs these runs meanwhile."""
    config = home.config.engine
    owner = owner_id()
    outcome = Outcome()
    # Runs a stopped engine (or an earlier run-once) left: requeued to resume, or ended
    # (merged before it stopped, or interrupted too often): those are reported too.
    for settled in recovery.recover(db, own=owner, stale_after=config.stale_after,
                                    max_resumes=config.max_resumes):
        if settled.action in ("failed", "merged"):
            ended = Ran(settled.run_id, get_run(db, settled.run_id).status, settled.reason)
            outcome.ran.append(ended)
            if on_run is not None:
                on_run(ended)
    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set) if seconds else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        started = 0
        while (not limit or started < limit) and not stop.is_set():
            if cord_state(db):  # nothing starts while the cord is pulled
                outcome.cord = True
                break
            run = claim_next(db, owner)
            if run is None:
                break
            run_id, started = run.id or 0, started + 1
            # At a gate or the pulled cord the run parks: nothing moves without a person.
            control = RunControl(db, run_id, stop=stop, park=not wait)
            status = run_pipeline(home, db, run_id, control) or get_run(db, run_id).status
            done = Ran(run_id, status, get_run(db, run_id).reason or "")
            outcome.ran.append(done)
            if on_run is not None:
                on_run(done)
    finally:
        if timer is not None:
            timer.cancel()
    outcome.timed_out = stop.is_set()
    outcome.waiting = list_gates(db)
    if not outcome.cord:  # pulled while a run was in hand: it parked at a boundary
        outcome.cord = bool(cord_state(db)) and any(r.status == m.INTERRUPTED
                                                    for r in outcome.ran)
    return outcome
