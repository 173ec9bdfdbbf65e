"""The factory's tables. The store knows nothing of agents or screens.

Status and kind values are plain strings (listed in the constants below) so that a new
kind of gate or step never needs a migration.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from andon.store.clock import utcnow
from andon.store.types import JSONText, UTCDateTime

# Run statuses. Terminal ones never change again except merged -> reverted.
QUEUED = "queued"
RUNNING = "running"
WAITING = "waiting"  # a gate is open
HELD = "held"  # the cord is pulled, or the model service is unreachable
INTERRUPTED = "interrupted"  # its engine died; recovery resumes or fails it
MERGED = "merged"
FAILED = "failed"
STUCK = "stuck"
REJECTED = "rejected"
CANCELLED = "cancelled"
REVERTED = "reverted"
UNCHANGED = "unchanged"  # a recurring spec found nothing to change: not a failure
ACTIVE_STATUSES = (QUEUED, RUNNING, WAITING, HELD, INTERRUPTED)
TERMINAL_STATUSES = (MERGED, FAILED, STUCK, REJECTED, CANCELLED, REVERTED, UNCHANGED)

STAGES = ("prepare", "plan", "implement", "validate", "review", "merge")

# Gate statuses.
PENDING = "pending"
APPROVED = "approved"
GATE_REJECTED = "rejected"
REVISED = "revised"
TIMED_OUT = "timed_out"
VOIDED = "voided"  # the run ended (cancelled, failed) while the gate was open
NOTICE_KINDS = frozenset({"post-merge"})  # gates that tell; the run never waits on them


def _now_field() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def _when() -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=True)


class Spec(SQLModel, table=True):
    __tablename__ = "specs"

    id: int | None = Field(default=None, primary_key=True)
    path: str = Field(index=True, unique=True)
    title: str
    category: str = Field(index=True)
    repo: str
    base: str = "main"
    checks: list[str] = Field(default_factory=list, sa_type=JSONText)
    scenarios: str | None = None
    budget: dict[str, Any] = Field(default_factory=dict, sa_type=JSONText)
    schedule: str | None = None
    priority: int = 0
    model: str | None = None
    script: str | None = None
    body: str = ""
    front: dict[str, Any] = Field(default_factory=dict, sa_type=JSONText)
    digest: str = ""
    active: bool = True
    created_at: datetime = _now_field()
    updated_at: datetime = _now_field()
    last_fired_at: datetime | None = _when()


class Run(SQLModel, table=True):
    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_status_priority", "status", "priority", "id"),
        Index("ix_runs_category_created", "category", "created_at"),
        Index("ix_runs_created", "created_at"),
        Index("ix_runs_merged", "merged_at"),
        # A recurring spec's tick queues one run, however many engines fire it.
        Index("ux_runs_spec_tick", "spec_id", "tick", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    spec_id: int = Field(foreign_key="specs.id", index=True)
    title: str = ""
    category: str
    level: int = 2
    status: str = QUEUED
    stage: str | None = None
    attempt: int = 0
    priority: int = 0
    reason: str | None = None
    model: str = ""
    created_at: datetime = _now_field()
    started_at: datetime | None = _when()
    finished_at: datetime | None = _when()
    merged_at: datetime | None = _when()
    repo_path: str | None = None
    base: str | None = None
    worktree: str | None = None
    branch: str | None = None
    base_commit: str | None = None
    head_commit: str | None = None
    merge_commit: str | None = None
    turns: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cache_read: int = 0
    cache_write: int = 0
    cost_usd: float | None = 0.0  # None once any turn's cost is unknown
    satisfaction: float | None = None
    escalated: bool = False
    human_touched: bool = False
    cancel_requested: bool = False
    claimed_by: str | None = None
    heartbeat_at: datetime | None = _when()
    tick: datetime | None = _when()  # the cron time a recurring spec's run was queued for
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONText)


class Step(SQLModel, table=True):
    __tablename__ = "steps"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runs.id", index=True)
    stage: str
    kind: str  # turn, tool, check, scenario, plan, git, merge, gate
    name: str = ""
    status: str = "running"  # running, ok, failed, error, skipped, refused (gate or walls)
    input: Any = Field(default=None, sa_type=JSONText, nullable=True)
    output: str | None = None
    exit_code: int | None = None
    started_at: datetime = _now_field()
    finished_at: datetime | None = _when()
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONText)


class Event(SQLModel, table=True):
    """Append-only: triggers in the migrations refuse UPDATE and DELETE."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_run_id", "run_id", "id"),
                      Index("ix_events_run_kind", "run_id", "kind", "id"))

    id: int | None = Field(default=None, primary_key=True)
    run_id: int | None = Field(default=None, foreign_key="runs.id")
    ts: datetime = _now_field()
    kind: str
    stage: str | None = None
    message: str = ""
    data: dict[str, Any] | None = Field(default=None, sa_type=JSONText)


class Gate(SQLModel, table=True):
    __tablename__ = "gates"
    __table_args__ = (Index("ix_gates_status_created", "status", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runs.id", index=True)
    kind: str  # action, plan, review, escalation, budget, post-merge, conflict
    stage: str | None = None
    status: str = PENDING
    title: str = ""
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSONText)
    created_at: datetime = _now_field()
    timeout_at: datetime | None = _when()
    decided_at: datetime | None = _when()
    decided_by: str | None = None
    comment: str | None = None


class PolicyRow(SQLModel, table=True):
    __tablename__ = "policies"

    category: str = Field(primary_key=True)
    level: int
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONText)
    updated_at: datetime = _now_field()
    updated_by: str | None = None


class PolicyChange(SQLModel, table=True):
    __tablename__ = "policy_changes"

    id: int | None = Field(default=None, primary_key=True)
    category: str = Field(index=True)
    field: str
    old: Any = Field(default=None, sa_type=JSONText, nullable=True)
    new: Any = Field(default=None, sa_type=JSONText, nullable=True)
    user: str
    reason: str | None = None
    ts: datetime = _now_field()


class Setting(SQLModel, table=True):
    """Small factory-wide state: the cord, counters, the daemon's heartbeat."""

    __tablename__ = "settings"

    key: str = Field(primary_key=True)
    value: Any = Field(default=None, sa_type=JSONText, nullable=True)
    updated_at: datetime = _now_field()
    updated_by: str | None = None


class Checkpoint(SQLModel, table=True):
    """The conversation after each completed turn, so a run resumes where it stopped."""

    __tablename__ = "checkpoints"
    __table_args__ = (UniqueConstraint("run_id", "attempt", "turn"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runs.id", index=True)
    attempt: int = 0
    turn: int
    messages: list[Any] = Field(default_factory=list, sa_type=JSONText)
    state: dict[str, Any] = Field(default_factory=dict, sa_type=JSONText)
    created_at: datetime = _now_field()


class Usage(SQLModel, table=True):
    """A model call's tokens and cost. Its run's category is copied onto the row so
    "spend today" reads only today's rows, from one covering index (category, time,
    model, cost), however old the factory is."""

    __tablename__ = "usage"
    __table_args__ = (Index("ix_usage_category_ts", "category", "ts", "model", "cost_usd"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runs.id", index=True)
    category: str  # the run's, written with the row (engine.llm.usage)
    turn: int
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: float | None = None
    ts: datetime = _now_field()
    purpose: str = "agent"  # who asked: agent (a turn), plan or judge


class Exchange(SQLModel, table=True):
    """Flight recorder: one request and its response, secrets redacted."""

    __tablename__ = "exchanges"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runs.id", index=True)
    turn: int
    request: Any = Field(default=None, sa_type=JSONText, nullable=True)
    response: Any = Field(default=None, sa_type=JSONText, nullable=True)
    ts: datetime = _now_field()
    purpose: str = "agent"


class Evidence(SQLModel, table=True):
    """What shaped a run (agent backend, model, instructions, policy, checks, scenarios),
    recorded once when it first starts: the readiness report's evidence windows."""

    __tablename__ = "evidence"
    __table_args__ = (Index("ix_evidence_category_run", "category", "run_id"),)

    run_id: int = Field(foreign_key="runs.id", primary_key=True)
    category: str
    spec_id: int | None = None
    fingerprint: str  # a short hash of parts
    parts: dict[str, Any] = Field(default_factory=dict, sa_type=JSONText)
    conflicts: int = 0  # merge conflicts the run met
    created_at: datetime = _now_field()


# Shadow verdicts: what level 4 would have done at a review point.
SHADOW_MERGE = "merge"
SHADOW_ESCALATE = "escalate"


class ShadowDecision(SQLModel, table=True):
    """At each review point, what level 4 would have decided with the same rules, checks
    and satisfaction (at level 4: what it did). The person's verdict is the gate's."""

    __tablename__ = "shadow_decisions"
    __table_args__ = (UniqueConstraint("run_id", "attempt"),
                      Index("ix_shadow_decisions_category_run", "category", "run_id"))

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runs.id")
    attempt: int = 1
    category: str
    level: int
    gate_id: int | None = Field(default=None, foreign_key="gates.id")
    verdict: str  # merge, escalate
    rules: list[Any] = Field(default_factory=list, sa_type=JSONText)  # [{rule, detail}]
    satisfaction: float | None = None
    steered: bool = False  # a person changed the course before review
    created_at: datetime = _now_field()
