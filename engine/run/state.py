"""What a run's pipeline has finished, as one typed object (kept in run.data["pipeline"]).

The pipeline loads it once when it starts (`Progress`), reads it from memory, and writes
every change through to the store at once, so a resumed run (or recovery, which reads
the same type) sees exactly what was done before its engine stopped. The stored form is
plain JSON with one key per field, only the fields that differ from a fresh run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from andon.store import models as m
from andon.store.db import Database

KEY = "pipeline"  # where the state lives in run.data


@dataclass(frozen=True)
class Pull:
    """The run's pull (merge) request on its forge."""
    number: int
    url: str
    digest: str = ""  # of the title and body last sent: unchanged text is not sent again


@dataclass(frozen=True)
class RevertPull:
    """The post-merge watch's revert through the forge: its branch head, then its pull."""
    head: str
    number: int | None = None
    url: str | None = None


@dataclass(frozen=True)
class PipelineState:
    setup: bool = False  # the repository's setup commands ran in the worktree
    excluded: list[str] = field(default_factory=list)  # files setup made: not the agent's
    plan: str | None = None  # the approved plan (None: none asked for yet)
    attempt: int = 0  # the attempt in progress (0: implement not started)
    feedback: str | None = None  # what the next attempt is told
    last_failure: str | None = None  # signature of the last failure (twice: stuck)
    implemented: int = 0  # the last attempt whose implement stage finished
    validated: int = 0
    forge_checked: int = 0  # the last attempt whose head the forge's required CI passed
    reviewed: int = 0
    merged: str | None = None  # the commit that holds the run's work on the base
    previous: str | None = None  # the base's tip just before that merge
    pushed: str | None = None  # the merged commit last pushed
    push_failed: str | None = None
    watched: bool = False  # the post-merge watch finished
    reverted: str | None = None  # the revert commit, when the watch reverted the run
    worktree_removed_at: str | None = None
    # delivery through a forge (engine.pipeline.delivery, engine.forge.landing)
    forge_pushed: str | None = None  # the head last pushed to the run's branch there
    pull: Pull | None = None
    forge_green: str | None = None  # the head whose required checks were last green
    merge_requested: str | None = None  # the head the forge was asked to merge
    revert: RevertPull | None = None

    @classmethod
    def of(cls, run: m.Run) -> PipelineState:
        """The state stored on a run (keys this version does not know are dropped)."""
        stored = dict((run.data or {}).get(KEY) or {})
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in stored.items() if k in names}
        if isinstance(values.get("pull"), dict):
            values["pull"] = Pull(**values["pull"])
        if isinstance(values.get("revert"), dict):
            values["revert"] = RevertPull(**values["revert"])
        return cls(**values)

    @property
    def started(self) -> bool:
        """Has the pipeline recorded anything yet (a resumed run has)."""
        return self != PipelineState()

    def as_data(self) -> dict[str, Any]:
        """The stored form: only what differs from a fresh run."""
        fresh = PipelineState()
        data: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value == getattr(fresh, f.name):
                continue
            if isinstance(value, Pull | RevertPull):
                value = {k: v for k, v in dataclasses.asdict(value).items() if v is not None}
            data[f.name] = value
        return data


class Progress:
    """A run's pipeline state, loaded once and written through on every change."""

    def __init__(self, db: Database, run_id: int) -> None:
        self.db, self.run_id = db, run_id
        with db.read() as s:
            run = s.get(m.Run, run_id)
        self.state = PipelineState.of(run) if run is not None else PipelineState()

    def mark(self, **changes: Any) -> PipelineState:
        """Record what the pipeline just finished (fields of PipelineState)."""
        state = dataclasses.replace(self.state, **changes)
        with self.db.write() as s:
            run = s.get(m.Run, self.run_id)
            assert run is not None
            run.data = {**(run.data or {}), KEY: state.as_data()}
            s.add(run)
        self.state = state
        return state
