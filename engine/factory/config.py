"""The factory's settings: andon.toml, parsed once into one typed model.

Every table and key is known, so a misspelt one is refused (with the key it most likely
meant) instead of being silently ignored; values are strictly typed (`"10"` is not a
number, `"no"` is not a boolean) and choices are closed (`merge = "squash"` is refused).
Any mistake is one `ConfigError` naming the file, the table, the key and the value, and
saying what to write instead. `andon doctor`, `andon serve` (which refuses to start) and
SIGHUP (which keeps the previous settings) all report the same error.

Code reads settings from `FactoryConfig` (`home.config`), never from the raw TOML.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from andon.engine.errors import UserError

# What `[notify] events` is when not set: an escalation opens a gate (kind "escalation"),
# so "gate.opened" covers it once.
DEFAULT_EVENTS = ("gate.opened", "run.failed", "run.stuck", "repo.blocked")
KEEP_CHOICES = ("never", "failed", "always")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_HOURS = re.compile(r"^\d+(\.\d+)?\s*h$")

Seconds = Annotated[float, Field(gt=0)]
Command = Annotated[str, Field(min_length=1, pattern=r"\S")]


class _Table(BaseModel):
    """A table of andon.toml: unknown keys refused, no type coercion, read-only."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class EngineConfig(_Table):
    """`[engine]`: how the engine runs. Intervals and timeouts are in seconds."""

    concurrency: int = Field(default=2, ge=0)
    provider: Literal["anthropic", "scripted"] = "anthropic"
    model: Command | None = None
    per_category: dict[str, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)
    timezone: str = "UTC"
    check_timeout: Seconds = 600.0
    setup_timeout: Seconds = 900.0
    scenario_timeout: Seconds = 300.0
    scenario_trials: int = Field(default=3, ge=1)
    post_merge_checks: bool = True
    keep_worktrees: str | float = "failed"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    dispatch_interval: float = Field(default=5.0, ge=0.05)
    watch_interval: float = Field(default=0.15, ge=0.01)
    inbox_interval: float = Field(default=2.0, ge=0.05)
    notify_interval: float = Field(default=1.0, ge=0.05)
    housekeeping_interval: float = Field(default=60.0, ge=0.05)
    heartbeat_interval: float = Field(default=5.0, ge=0.05)
    drain_timeout: float = Field(default=30.0, ge=0)
    stale_after: float = Field(default=300.0, ge=1)
    max_resumes: int = Field(default=3, ge=0)
    # delivery through a forge (engine/forge): pending checks, weather, the watch
    forge_poll: Seconds = 30.0
    forge_backoff: Annotated[list[Seconds], Field(min_length=2, max_length=2)] = Field(
        default_factory=lambda: [5.0, 300.0])
    forge_watch_minutes: Seconds = 60.0
    run_url: str | None = None  # a link to a run for pull requests: "{run}" is its id
    repo_retry: Seconds = 300.0  # longest pause between merges a blocked base checkout holds

    def model_for(self, spec_model: str | None) -> tuple[str, str | None]:
        """(provider, model) for a spec: its `model:` wins, then `provider` here. A model
        id means the anthropic provider; None means the provider's default model."""
        choice = spec_model or self.provider
        if choice == "scripted":
            return "scripted", "scripted"
        if choice == "anthropic":
            return "anthropic", self.model
        return "anthropic", choice

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError('is not a known time zone (an IANA name such as "UTC" or '
                             '"Europe/Berlin")') from None
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        upper = value.upper() if isinstance(value, str) else value
        return upper if upper in LOG_LEVELS else value

    @field_validator("keep_worktrees", mode="before")
    @classmethod
    def _keep(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value)
        if isinstance(value, str) and (value.strip().lower() in KEEP_CHOICES
                                       or _HOURS.match(value.strip().lower())):
            return value.strip().lower()
        raise ValueError('must be "never", "failed", "always" or a number of hours >= 0')


class RepoConfig(_Table):
    """`[repos.NAME]`: a repository specs may name, and how the engine treats it."""

    path: Command
    base: Command | None = None  # None: the spec's base (default "main")
    setup: list[Command] = Field(default_factory=list)
    network: bool = False  # setup commands may reach the network
    merge: Literal["merge", "rebase"] = "merge"
    push: Command | None = None
    # delivery through a forge: checked again by engine/forge/settings.py
    forge: Literal["github", "gitlab"] | None = None
    project: str | None = None
    api: str | None = None
    token_env: str | None = None
    remote: str | None = None
    reviewers: list[Command] = Field(default_factory=list)

    @field_validator("setup", mode="before")
    @classmethod
    def _one_command(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class InboxConfig(_Table):
    """`[inbox]`: more folders whose dropped specs are queued."""

    folders: list[Command] = Field(default_factory=list)

    @field_validator("folders", mode="before")
    @classmethod
    def _one_folder(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class NotifyConfig(_Table):
    """`[notify]`: the hooks run for events that need a person."""

    command: str | None = None
    webhook: str | None = None
    timeout: Seconds = 10.0
    events: tuple[str, ...] = DEFAULT_EVENTS

    @field_validator("webhook")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value or None

    @field_validator("events", mode="before")
    @classmethod
    def _events(cls, value: Any) -> Any:
        if isinstance(value, list):  # TOML arrays are lists; empty means the default
            return tuple(value) if value else DEFAULT_EVENTS
        return value

    @property
    def enabled(self) -> bool:
        return bool(self.command or self.webhook)

    def wants(self, kind: str) -> bool:
        """"escalation" in `events` adds the raw escalation events (kinds with "escalat")."""
        return any(kind == e or (e == "escalation" and "escalat" in kind)
                   for e in self.events)


Price = Annotated[float, Field(ge=0)]


class TierConfig(_Table):
    """One of `[prices.MODEL] tiers`: the rates of calls whose prompt is above `above`
    tokens (engine.llm.pricing)."""

    above: int = Field(gt=0)
    input: Price
    output: Price | None = None
    cache_write: Price | None = None
    cache_read: Price | None = None
    cache_write_1h: Price | None = None


class PriceConfig(_Table):
    """`[prices.MODEL]`: USD per million tokens; keys left out keep genai-prices' value."""

    input: Price | None = None
    output: Price | None = None
    cache_write: Price | None = None
    cache_read: Price | None = None
    cache_write_1h: Price | None = None
    tiers: list[TierConfig] | None = None


PG_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")


def check_database_url(value: str) -> str:
    """A PostgreSQL URL, or ValueError saying what one looks like."""
    if not value.startswith(PG_SCHEMES) or "/" not in value.split("://", 1)[1]:
        raise ValueError('must be a PostgreSQL URL such as "postgresql://andon@db:5432/andon" '
                         "(leave it out for the SQLite file in the home)")
    return value


class StoreConfig(_Table):
    """`[store]`: where the factory's state lives; no url means andon.db in the home.
    ANDON_DATABASE_URL, when set, wins (a password need not sit in a file)."""

    url: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else check_database_url(value)


class FactoryConfig(_Table):
    """All of andon.toml. Every table and key is optional."""

    engine: EngineConfig = Field(default_factory=EngineConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    repos: dict[str, RepoConfig] = Field(default_factory=dict)
    inbox: InboxConfig = Field(default_factory=InboxConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    prices: dict[str, PriceConfig] = Field(default_factory=dict)

    @field_validator("repos", mode="before")
    @classmethod
    def _path_only(cls, value: Any) -> Any:
        # `name = "~/src/app"` is short for `name = { path = "~/src/app" }`.
        if isinstance(value, dict):
            return {k: {"path": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    def price_overrides(self) -> dict[str, dict[str, Any]]:
        """`[prices]` as the price table takes it: only the keys that were given."""
        return {model: price.model_dump(exclude_none=True)
                for model, price in self.prices.items()}


# -- reading the file ------------------------------------------------------------------


class ConfigError(UserError):
    """One mistake in andon.toml: where (file, table, key), the value, and what to do.

    `rename` is set when the key is misspelt and there is exactly one key it can mean:
    (table path, wrong key, right key); `andon doctor --fix` applies it.
    """

    def __init__(self, path: Path | str, table: tuple[str, ...], key: str | None,
                 value: Any, problem: str, *, hint: str = "",
                 rename: tuple[tuple[str, ...], str, str] | None = None,
                 more: int = 0) -> None:
        self.path, self.table, self.key, self.value = Path(path), table, key, value
        self.problem, self.hint, self.rename, self.more = problem, hint, rename, more
        where = f"{path}: " + (f"[{'.'.join(table)}]" if table else "")
        shown = "" if value is _UNSET else f" = {toml_value(value)}"
        if key:
            text = f"{where}{' ' if table else ''}{key}{shown}: {problem}"
        else:
            text = f"{where}{': ' if table else ''}{problem}"
        if hint:
            text += f"; {hint}"
        if more:
            text += f" (and {more} more problem{'s' if more > 1 else ''} after this one)"
        super().__init__(text)


_UNSET: Any = object()


def toml_value(value: Any, limit: int = 60) -> str:
    """A value as it would be written in andon.toml (strings quoted, booleans lower-case)."""
    try:
        text = tomli_w.dumps({"v": value}).split("=", 1)[1].strip()
    except (TypeError, ValueError):
        text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load(path: Path) -> FactoryConfig:
    """The settings in `path`; the defaults when there is no file. Raises ConfigError."""
    if not path.exists():
        return FactoryConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(path, (), None, _UNSET, f"is not UTF-8 text (byte {exc.start})",
                          hint="save it as UTF-8") from None
    return parse(text, path)


def parse(text: str, path: Path | str = "andon.toml") -> FactoryConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, (), None, _UNSET, f"is not valid TOML: {exc}") from None
    return validate(data, path)


def validate(data: Mapping[str, Any], path: Path | str = "andon.toml") -> FactoryConfig:
    try:
        return FactoryConfig.model_validate(data)
    except ValidationError as exc:
        raise _first_problem(exc, data, Path(path)) from None


def _first_problem(exc: ValidationError, data: Mapping[str, Any], path: Path) -> ConfigError:
    errors = exc.errors()
    # A misspelt key first: it often explains the others (a required key "missing").
    errors.sort(key=lambda e: e["type"] != "extra_forbidden")
    error = errors[0]
    loc = [part for part in error["loc"] if not _is_branch(part)]
    index = ""
    while loc and isinstance(loc[-1], int):
        index = f"[{loc.pop()}]{index}"
    if not loc:
        return ConfigError(path, (), None, _UNSET, str(error["msg"]), more=len(errors) - 1)
    table = tuple(str(part) for part in loc[:-1])
    key = f"{loc[-1]}{index}"
    value = error.get("input", _UNSET) if error["type"] != "missing" else _UNSET
    present = _at(data, table)
    problem, hint, rename = _explain(error, table, str(loc[-1]), value, present)
    if not table and error["type"] == "extra_forbidden":  # a misspelt table: [engin]
        problem, value = "unknown table", _UNSET
        hint = hint.replace("known keys", "known tables")
        return ConfigError(path, (str(loc[-1]),), None, value, problem, hint=hint,
                           rename=rename, more=len(errors) - 1)
    return ConfigError(path, table, key, value, problem, hint=hint, rename=rename,
                       more=len(errors) - 1)


def _at(data: Mapping[str, Any], table: tuple[str, ...]) -> Mapping[str, Any]:
    for part in table:
        inner = data.get(part) if isinstance(data, Mapping) else None
        if not isinstance(inner, Mapping):
            return {}
        data = inner
    return data


def _is_branch(part: Any) -> bool:
    # Union members and validators appear in an error's location as type names.
    return isinstance(part, str) and (part.startswith(("function-", "union[")) or "[" in part)


_TYPES = {
    "int_type": "must be a whole number", "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number", "float_type": "must be a number",
    "float_parsing": "must be a number", "bool_type": "must be true or false",
    "bool_parsing": "must be true or false", "string_type": "must be a string in quotes",
    "list_type": "must be a list ([...])", "tuple_type": "must be a list ([...])",
    "dict_type": "must be a table", "model_type": "must be a table",
    "model_attributes_type": "must be a table",
}


def _explain(error: Any, table: tuple[str, ...], key: str, value: Any,
             present: Mapping[str, Any]
             ) -> tuple[str, str, tuple[tuple[str, ...], str, str] | None]:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        known = known_keys(table)
        # A key already given cannot be what a misspelt one meant.
        free = [k for k in known if k not in present]
        close = difflib.get_close_matches(key, free, n=2, cutoff=0.75)
        if len(close) == 1 or (close and _distance(key, close[0]) < _distance(key, close[1])):
            rename = (table, key, close[0])
            return ("unknown key", f"did you mean '{close[0]}'? (`andon doctor --fix` "
                    "renames it)", rename)
        return "unknown key", f"known keys: {', '.join(known) or 'none'}", None
    if kind == "missing":
        return "is required but missing", "", None
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}", "", None
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        sign = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=",
                "less_than": "<"}[kind]
        limit = next(iter(ctx.values()), "")
        return f"must be {sign} {limit}", "", None
    if kind in ("string_too_short", "string_pattern_mismatch"):
        return "must not be empty", "", None
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, "), "", None
    problem = _TYPES.get(kind, str(error["msg"]))
    return problem, _retype_hint(key, value, kind), None


def _retype_hint(key: str, value: Any, kind: str) -> str:
    """What to write instead when a value has the right content in the wrong type."""
    if not isinstance(value, str):
        return ""
    text = value.strip().lower()
    if kind.startswith("bool") and text in ("yes", "no", "true", "false", "on", "off",
                                            "1", "0"):
        return f"write {key} = {'true' if text in ('yes', 'true', 'on', '1') else 'false'}"
    if kind.startswith(("int", "float")):
        try:
            number = float(text)
        except ValueError:
            return ""
        shown = int(number) if number.is_integer() else number
        return f"write {key} = {shown} (no quotes)"
    return ""


def _distance(a: str, b: str) -> float:
    return 1 - difflib.SequenceMatcher(None, a, b).ratio()


def known_keys(table: tuple[str, ...]) -> list[str]:
    """The keys allowed in a table (for "did you mean"); empty for free-form tables."""
    model: Any = FactoryConfig
    for part in table:
        fields = getattr(model, "model_fields", None)
        if fields is not None:
            if part not in fields:
                return []
            model = _inner(fields[part].annotation)
        elif get_origin(model) is dict:
            model = _inner(get_args(model)[1])
        else:
            return []
    if get_origin(model) is dict:
        return []  # names of repos, models, categories: anything goes
    return list(getattr(model, "model_fields", {}))


def _inner(annotation: Any) -> Any:
    """The model or dict inside Optional/Annotated wrappers."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, UnionType):
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        else:
            return annotation
