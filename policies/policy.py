"""The policy of one category: its level, budgets, gates, escalation rules and thresholds.

`Policy` is an immutable pydantic model (``extra="forbid"``: an unknown field is an error).
Fields left out take the defaults of the policy's level (`LEVEL_DEFAULTS`), so
``Policy(category="docs", level=4)`` is a complete, sensible level-4 policy. Fields that
are None by default (``gate_timeout``) are None at every level, so a file that leaves
them out always means "none".

Glob fields (``protected_paths``, ``dependency_files``) use the syntax of
`policies.rules.path_matches`: ``**`` spans directories, a pattern without ``/`` matches
a file name at any depth, ``dir/`` means everything under ``dir``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from andon.policies.level import Level, LevelError

#: The agent backends a category may choose (engine.agent.backend runs them).
AGENTS = ("andon", "claude-code")

CATEGORY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
DEFAULT_BASH_TIMEOUT = 120  # seconds one agent command may run when the policy is silent

#: The usual dependency manifests and lock files; changing one escalates a run.
DEFAULT_DEPENDENCY_FILES: tuple[str, ...] = (
    # Python
    "pyproject.toml",
    "requirements*.txt",
    "requirements/*.txt",
    "constraints*.txt",
    "setup.py",
    "setup.cfg",
    "poetry.lock",
    "uv.lock",
    "pdm.lock",
    "Pipfile",
    "Pipfile.lock",
    "environment.yml",
    # JavaScript
    "package.json",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "bun.lockb",
    # Rust, Go, Ruby, JVM, PHP, .NET, Elixir, Swift
    "Cargo.toml",
    "Cargo.lock",
    "go.mod",
    "go.sum",
    "Gemfile",
    "Gemfile.lock",
    "*.gemspec",
    "pom.xml",
    "build.gradle",
    "build.gradle.kts",
    "gradle.lockfile",
    "composer.json",
    "composer.lock",
    "*.csproj",
    "packages.lock.json",
    "mix.exs",
    "mix.lock",
    "Package.swift",
    "Package.resolved",
)

#: Defaults that depend on the level; every other field has one default for all levels.
#: Stricter limits the darker the line runs: at level 4 no person looks at the diff.
LEVEL_DEFAULTS: dict[Level, dict[str, Any]] = {
    Level.SUPERVISED: {
        "budget": {"usd": 5.0, "turns": 60, "minutes": 60},
        "daily_usd": 25.0,
        "max_attempts": 3,
        "satisfaction_threshold": 0.8,
        "plan_gate": True,
        "max_diff_lines": 800,
        "on_budget": "gate",
        "promote_after": 10,
        "demote_after": 3,
    },
    Level.SPEC_DRIVEN: {
        "budget": {"usd": 5.0, "turns": 60, "minutes": 60},
        "daily_usd": 25.0,
        "max_attempts": 3,
        "satisfaction_threshold": 0.9,
        "plan_gate": False,
        "max_diff_lines": 500,
        "on_budget": "gate",
        "promote_after": 20,
        "demote_after": 3,
    },
    Level.DARK: {
        "budget": {"usd": 2.0, "turns": 40, "minutes": 30},
        "daily_usd": 10.0,
        "max_attempts": 2,
        "satisfaction_threshold": 1.0,
        "plan_gate": False,
        "max_diff_lines": 200,
        "on_budget": "fail",
        "promote_after": 20,
        "demote_after": 2,
    },
}


def _error(kind: str, message: str) -> PydanticCustomError:
    """A validation error whose message is shown as written (no template expansion)."""
    return PydanticCustomError(kind, "{message}", {"message": message})


EFFORTS = ("low", "medium", "high", "xhigh", "max")
MIN_THINKING = 1024  # the API's least budget_tokens


def check_thinking(value: Any) -> Any:
    """"adaptive" (the model decides), "off", or a budget of thinking tokens."""
    if value is None or value in ("adaptive", "off"):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= MIN_THINKING:
        return value
    raise _error("thinking", "must be 'adaptive', 'off' or a budget of tokens >= "
                 f"{MIN_THINKING} (got {value!r})")


def check_effort(value: Any) -> Any:
    if value is None or value in EFFORTS:
        return value
    raise _error("effort", f"must be one of {', '.join(EFFORTS)} (got {value!r})")


#: How the agent asks its model, checked the same way in a policy and in a spec.
Thinking = Annotated[str | int | None, BeforeValidator(check_thinking)]
Effort = Annotated[str | None, BeforeValidator(check_effort)]


class Budget(BaseModel):
    """Per-run limits; the engine checks them between model turns."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    usd: float = Field(gt=0, description="dollars per run")
    turns: int = Field(gt=0, description="model turns per run")
    minutes: int = Field(gt=0, description="wall-clock minutes per run")


class PromoteWhen(BaseModel):
    """When the readiness report says a category may run dark: thresholds on the 95%
    upper bounds of its costly errors (not on point estimates), over at least
    ``min_runs`` runs a person decided in the current evidence window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_runs: int = Field(default=100, ge=1, description="decided runs in the window")
    max_false_merge_rate: float = Field(
        default=0.05, gt=0, lt=1, description="level 4 would have merged, the person did not")
    max_revert_rate: float = Field(default=0.05, gt=0, lt=1,
                                   description="merged changes reverted after merge")


class Context(BaseModel):
    """How much of a long conversation the agent sends (engine.agent.context): after a cut it
    keeps the latest `keep_turns` turns, the latest `keep_results` of them with their tool
    output, and moves again after `batch` more turns (so the prompt cache is rebuilt
    once per batch)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keep_turns: int = Field(default=20, ge=2, description="turns kept after a cut")
    keep_results: int = Field(default=8, ge=1, description="latest turns keeping tool output")
    batch: int = Field(default=20, ge=1, description="turns between two cuts")


class Policy(BaseModel):
    """One category's settings. Immutable: change with ``policy.model_copy(update=...)``
    (or `with_level`), which does not re-validate; build a new Policy for user input."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    category: str
    level: Level = Level.SUPERVISED
    budget: Budget
    daily_usd: float = Field(gt=0)
    max_attempts: int = Field(ge=1)
    satisfaction_threshold: float = Field(ge=0.0, le=1.0)
    plan_gate: bool
    protected_paths: list[str] = Field(default_factory=list)
    max_diff_lines: int = Field(ge=1)
    dependency_files: list[str] = Field(default_factory=lambda: list(DEFAULT_DEPENDENCY_FILES))
    approvers: list[str] = Field(default_factory=list)
    gate_timeout: int | None = Field(default=None, gt=0, description="minutes; None = wait")
    timeout_decision: Literal["reject", "hold"] = "hold"
    on_budget: Literal["gate", "fail"]
    promote_after: int = Field(ge=1)
    demote_after: int = Field(ge=1)
    promote_when: PromoteWhen = Field(default_factory=PromoteWhen)
    network: bool = False
    # Unset stays out of exports and of the policy's fingerprint (engine.readiness), so
    # policies stored before this setting keep their evidence.
    bash_timeout: int | None = Field(default=None, gt=0, le=86_400,
                                     description="seconds one agent command may run")
    allow_unsandboxed: bool = False
    context: Context = Field(default_factory=Context)
    # how the agent asks its model (engine.llm.asking); a spec's own settings win
    max_tokens: int | None = Field(default=None, ge=1,
                                   description="cap on a reply; None: the model's limit")
    thinking: Thinking = None  # "adaptive", "off", or a budget of tokens >= 1024
    effort: Effort = None  # low, medium, high, xhigh or max; None: the model's default
    #: Who implements: Andon's own loop, or Claude Code under the same gates and walls.
    agent: Literal["andon", "claude-code"] = "andon"

    @property
    def bash_seconds(self) -> int:
        """How long one of the agent's bash commands may run before it is killed."""
        return self.bash_timeout or DEFAULT_BASH_TIMEOUT

    # -- validation -------------------------------------------------------------------

    @model_validator(mode="before")
    @classmethod
    def _fill_level_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        try:
            level = Level.parse(data.get("level", Level.SUPERVISED))
        except LevelError:
            level = Level.SUPERVISED  # the field validator reports the bad level alone
        defaults = LEVEL_DEFAULTS[level]
        filled = dict(data)
        for key, value in defaults.items():
            if key not in filled:
                filled[key] = dict(value) if isinstance(value, dict) else value
            elif key == "budget" and isinstance(filled[key], dict):
                filled[key] = {**value, **filled[key]}  # a file may set only usd
        return filled

    @field_validator("category", mode="before")
    @classmethod
    def _check_category(cls, value: Any) -> Any:
        if isinstance(value, str) and not CATEGORY_RE.match(value):
            raise _error(
                "category", f"must be lower-case letters, digits, '-' or '_' (got {value!r})"
            )
        return value

    @field_validator("level", mode="before")
    @classmethod
    def _parse_level(cls, value: Any) -> Level:
        try:
            return Level.parse(value)
        except LevelError as err:
            raise _error("level", str(err)) from None

    @field_validator("timeout_decision", mode="before")
    @classmethod
    def _check_timeout_decision(cls, value: Any) -> Any:
        if value not in ("reject", "hold"):
            raise _error(
                "timeout_decision",
                f"must be 'reject' or 'hold' (a gate never approves itself) (got {value!r})",
            )
        return value

    @field_validator("on_budget", mode="before")
    @classmethod
    def _check_on_budget(cls, value: Any) -> Any:
        if value not in ("gate", "fail"):
            raise _error("on_budget", f"must be 'gate' or 'fail' (got {value!r})")
        return value

    @field_validator("agent", mode="before")
    @classmethod
    def _check_agent(cls, value: Any) -> Any:
        if value not in AGENTS:
            raise _error("agent", f"must be one of {', '.join(map(repr, AGENTS))} (got {value!r})")
        return value

    @field_validator("protected_paths", "dependency_files", "approvers")
    @classmethod
    def _no_blank_entries(cls, value: list[str]) -> list[str]:
        for item in value:
            if not item.strip():
                raise _error("blank", "entries must not be blank")
        return value

    # -- helpers ----------------------------------------------------------------------

    @classmethod
    def default(cls, category: str, level: Level | int | str = Level.SUPERVISED) -> Policy:
        """The default policy of a category at a level."""
        return cls.model_validate({"category": category, "level": Level.parse(level)})

    def with_level(self, level: Level | int | str) -> Policy:
        """The same policy at another level; every other setting stays as it is."""
        return self.model_copy(update={"level": Level.parse(level)})

    def may_approve(self, user: str) -> bool:
        """May this OS user answer this category's gates? Empty approvers = anyone."""
        return not self.approvers or user in self.approvers
