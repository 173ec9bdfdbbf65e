"""Spec files: Markdown with YAML front matter, parsed into a validated model.

    ---
    title: Add a slugify helper
    category: feature
    repo: sample                  # a repo named in andon.toml, or a path
    checks: ["python -m pytest -q"]
    ---
    # Intent
    ...
    ## Acceptance criteria
    - ...

Every problem becomes one `SpecError` naming the file, the field and what is wrong;
nothing is queued from a spec that does not parse.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from andon.engine.errors import SpecError
from andon.engine.spec.schedule import crontab
from andon.policies.policy import AGENTS, Effort, Thinking

MAX_SPEC_BYTES = 1_000_000
_FRONT = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)(.*)\Z", re.S)
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)


class SpecBudget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    usd: float | None = Field(default=None, gt=0)
    turns: int | None = Field(default=None, gt=0)
    minutes: float | None = Field(default=None, gt=0)
    tokens: int | None = Field(default=None, gt=0)


class SpecFront(BaseModel):
    """The YAML front matter. Unknown fields are refused: a typo must not pass silently."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=200)
    category: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_-]*$")
    repo: str = Field(min_length=1)
    base: str = "main"
    checks: list[str] = Field(default_factory=list)
    scenarios: str | None = None
    budget: SpecBudget = Field(default_factory=SpecBudget)
    schedule: str | None = None
    priority: int = Field(default=0, ge=-100, le=100)
    model: str | None = None
    script: str | None = None
    # how the agent asks its model; each wins over the category's policy (engine.llm.asking)
    max_tokens: int | None = Field(default=None, ge=1)
    thinking: Thinking = None
    effort: Effort = None
    agent: str | None = None  # who implements; the category's policy decides when unset

    @field_validator("agent")
    @classmethod
    def _agent(cls, value: str | None) -> str | None:
        if value is not None and value not in AGENTS:
            raise ValueError(f"must be one of {', '.join(map(repr, AGENTS))}")
        return value

    @field_validator("checks")
    @classmethod
    def _checks_not_blank(cls, value: list[str]) -> list[str]:
        for check in value:
            if not check.strip():
                raise ValueError("a check must be a non-empty command")
        return value

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            crontab(value)  # reads weekdays as standard cron does
        except ValueError as exc:
            raise ValueError(f"not a cron expression ({exc})") from exc
        return value

    @field_validator("scenarios")
    @classmethod
    def _scenario_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", value):
            raise ValueError("must be a folder name under the home's scenarios/ (no slashes)")
        return value


class Spec(BaseModel):
    """A parsed spec: front matter, body and where it came from."""

    path: Path
    front: SpecFront
    body: str
    digest: str

    @property
    def title(self) -> str:
        return self.front.title

    @property
    def category(self) -> str:
        return self.front.category

    @property
    def intent(self) -> str:
        return section(self.body, "intent") or self.body.strip()

    @property
    def acceptance(self) -> str:
        return section(self.body, "acceptance criteria") or ""

    @property
    def script_path(self) -> Path | None:
        """The scripted model's turns: named in the spec, or `<name>.script.yaml` beside it."""
        if self.front.script:
            return (self.path.parent / self.front.script).resolve()
        beside = self.path.with_name(self.path.stem + ".script.yaml")
        return beside if beside.exists() else None


def section(body: str, name: str) -> str | None:
    """The text under a heading called `name` (any level), up to the next heading."""
    headings = list(_HEADING.finditer(body))
    for i, match in enumerate(headings):
        if match.group(2).strip().lower() == name:
            end = headings[i + 1].start() if i + 1 < len(headings) else len(body)
            return body[match.end() : end].strip()
    return None


def parse_spec_text(text: str, path: Path | str = "<spec>") -> Spec:
    where = str(path)
    if not text.strip():
        raise SpecError(where, None, "the file is empty; a spec needs YAML front matter")
    match = _FRONT.match(text.lstrip("\ufeff"))
    if not match:
        raise SpecError(
            where, None, "no YAML front matter: the file must start with a '---' line "
            "and the front matter must end with another '---' line"
        )
    raw, body = match.groups()
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 2}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(where, None, f"front matter is not valid YAML{at}: {problem}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(where, None, "front matter must be a mapping of fields, "
                        f"got {type(data).__name__}")
    try:
        front = SpecFront.model_validate(data)
    except ValidationError as exc:
        raise _first_problem(where, exc) from exc
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Spec(path=Path(path), front=front, body=body, digest=digest)


def parse_spec(path: Path | str) -> Spec:
    path = Path(path)
    where = str(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise SpecError(where, None, "no such file") from None
    except OSError as exc:
        raise SpecError(where, None, f"cannot read: {exc.strerror}") from exc
    if path.is_dir():
        raise SpecError(where, None, "is a folder, not a spec file")
    if size > MAX_SPEC_BYTES:
        raise SpecError(
            where, None, f"the file is {size / 1e6:.1f} MB; a spec may be at most "
            f"{MAX_SPEC_BYTES / 1e6:.0f} MB"
        )
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(
            where, None, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from exc
    return parse_spec_text(text, path.resolve())


def _first_problem(where: str, exc: ValidationError) -> SpecError:
    errors = exc.errors()
    # A misspelt field first: the "missing" error it causes ("category is required")
    # says less than "unknown field 'catgory' (did you mean 'category'?)".
    errors.sort(key=lambda e: e["type"] != "extra_forbidden")
    error = errors[0]
    field = ".".join(str(part) for part in error["loc"]) or None
    kind = error["type"]
    explained: set[str] = set()
    if kind == "extra_forbidden" and field:
        model = SpecBudget if field.startswith("budget.") else SpecFront
        prefix = "budget." if model is SpecBudget else ""
        name = field.removeprefix(prefix)
        close = difflib.get_close_matches(name, list(model.model_fields), n=1, cutoff=0.7)
        if close:
            explained.add(prefix + close[0])
            hint = f"did you mean '{prefix}{close[0]}'?"
        else:
            hint = f"allowed: {', '.join(prefix + f for f in model.model_fields)}"
        problem = f"unknown field '{field}' ({hint})"
    elif kind == "missing":
        problem = "is required but missing"
    else:
        got = error.get("input")
        shown = repr(got) if not isinstance(got, dict | list) else type(got).__name__
        problem = f"{error['msg'].removeprefix('Value error, ')} (got {shown[:80]})"
    more = sum(1 for e in errors[1:] if not (
        e["type"] == "missing" and ".".join(str(p) for p in e["loc"]) in explained))
    if more:
        problem += f"; and {more} more problem{'s' if more > 1 else ''}"
    if kind == "extra_forbidden":  # the message names the field itself
        found = SpecError(where, None, problem)
        found.field = field
        return found
    return SpecError(where, field, problem)


def spec_fields(spec: Spec) -> dict[str, Any]:
    """The columns of a `store.models.Spec` row for this spec."""
    front = spec.front
    return {
        "path": str(spec.path),
        "title": front.title,
        "category": front.category,
        "repo": front.repo,
        "base": front.base,
        "checks": list(front.checks),
        "scenarios": front.scenarios,
        "budget": front.budget.model_dump(exclude_none=True),
        "schedule": front.schedule,
        "priority": front.priority,
        "model": front.model,
        "script": str(spec.script_path) if spec.script_path else None,
        "body": spec.body,
        "front": front.model_dump(mode="json", exclude_none=True),
        "digest": spec.digest,
    }
