"""Policies as code: TOML files.

Format: a policy file is a TOML document whose top-level tables are categories, one
table per category, so a file may hold one category or many::

    [feature]
    level = 2
    protected_paths = ["migrations/**", ".github/**"]

    [feature.budget]
    usd = 5.0

Fields left out take the defaults of the table's level (`policies.policy.LEVEL_DEFAULTS`);
unknown fields are errors. The defaults that ship with Andon (`DEFAULTS_DIR`) are one
file per category (``docs.toml``, ``deps.toml``, ...); an export (`dump_policies`) is
one document with every category, in category order, every field written out (fields
that are None, such as ``gate_timeout``, are left out: None is the default at every
level), so ``load(dump(x)) == x`` and ``dump(load(dump(x))) == dump(x)``.

Every problem raises `PolicyFileError` (a ValueError) whose message names the file, the
category and the field: ``policies/feature.toml: category 'feature', field 'level':
must be 2, 3 or 4 (got 7)``. Loading is pure: nothing is written anywhere.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import ValidationError

from andon.policies.policy import Policy

#: The default policy files shipped with Andon (one file per category).
DEFAULTS_DIR = Path(str(resources.files("andon.policies") / "defaults"))

_HEADER = (
    "# Andon policies: one table per category.\n"
    "# Fields left out take the defaults of the category's level (2, 3 or 4).\n\n"
)


class PolicyFileError(ValueError):
    """An unreadable or invalid policy file. ``str(err)`` is the message for a person."""

    def __init__(
        self,
        source: str,
        message: str,
        *,
        category: str | None = None,
        field: str | None = None,
    ) -> None:
        self.source = source
        self.category = category
        self.field = field
        self.detail = message
        where = [source]
        parts = []
        if category is not None:
            parts.append(f"category {category!r}")
        if field is not None:
            parts.append(f"field {field!r}")
        if parts:
            where.append(", ".join(parts))
        super().__init__(": ".join([*where, message]))


# -- loading ----------------------------------------------------------------------------


def load_policy_file(path: str | Path) -> dict[str, Policy]:
    """Read one policy file: ``{category: Policy}`` in file order."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise PolicyFileError(source, f"cannot read: {_reason(err)}") from None
    return parse_policies(text, source=source)


def load_policy_dir(directory: str | Path) -> dict[str, Policy]:
    """Read every ``*.toml`` in a folder (sorted by file name); a category defined in
    two files is an error naming both."""
    found: dict[str, Policy] = {}
    origin: dict[str, str] = {}
    for path in sorted(Path(directory).glob("*.toml")):
        for category, policy in load_policy_file(path).items():
            if category in found:
                raise PolicyFileError(
                    str(path), f"also defined in {origin[category]}", category=category
                )
            found[category] = policy
            origin[category] = str(path)
    return found


def default_policies() -> dict[str, Policy]:
    """The policies Andon ships with (loaded by ``andon init``), sorted by category."""
    loaded = load_policy_dir(DEFAULTS_DIR)
    return {category: loaded[category] for category in sorted(loaded)}


def parse_policies(text: str, *, source: str = "<policies>") -> dict[str, Policy]:
    """Parse policy TOML text; ``source`` names it in errors (a path, or "<stdin>")."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise PolicyFileError(source, f"not valid TOML: {err}") from None
    policies: dict[str, Policy] = {}
    for category, table in document.items():
        if not isinstance(table, dict):
            raise PolicyFileError(
                source,
                f"{category!r} is not a category table "
                f"(put settings under a [category] header)",
            )
        policies[category] = _policy_from_table(category, table, source)
    return policies


def _policy_from_table(category: str, table: dict[str, Any], source: str) -> Policy:
    data = dict(table)
    if "category" in data:
        if data["category"] != category:
            raise PolicyFileError(
                source,
                f"the table name sets the category; remove this field "
                f"(got {data['category']!r})",
                category=category,
                field="category",
            )
        del data["category"]
    data["category"] = category
    try:
        return Policy.model_validate(data, strict=True)
    except ValidationError as err:
        raise _file_error(err, category, source) from None


def _file_error(err: ValidationError, category: str, source: str) -> PolicyFileError:
    problems = err.errors(include_url=False)
    first = problems[0]
    field = _field_name(first["loc"])
    message = _message(first)
    if len(problems) > 1:
        others = ", ".join(repr(_field_name(p["loc"])) for p in problems[1:])
        message += f" (also invalid: {others})"
    if field == "category":  # the table name itself is wrong
        return PolicyFileError(source, message, category=category)
    return PolicyFileError(source, message, category=category, field=field)


def _field_name(loc: tuple[int | str, ...]) -> str:
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name


def _message(problem: Mapping[str, Any]) -> str:
    kind = problem["type"]
    loc = problem["loc"]
    if kind == "extra_forbidden":
        known = Policy.model_fields if len(loc) == 1 else {"usd": 0, "turns": 0, "minutes": 0}
        close = difflib.get_close_matches(str(loc[-1]), list(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown field{hint}"
    msg = str(problem["msg"])
    if kind in {"level", "timeout_decision", "on_budget", "category", "blank", "agent"}:
        return msg  # our own messages already say what was given
    msg = msg[:1].lower() + msg[1:]
    if kind == "missing":
        return msg
    return f"{msg} (got {problem.get('input')!r})"


def _reason(err: BaseException) -> str:
    return getattr(err, "strerror", None) or str(err)


# -- dumping ----------------------------------------------------------------------------


def policy_table(policy: Policy) -> dict[str, Any]:
    """One policy as a TOML-ready table (no category: the table name carries it)."""
    return policy.model_dump(mode="json", exclude={"category"}, exclude_none=True)


def dump_policies(policies: Mapping[str, Policy] | Iterable[Policy]) -> str:
    """Export policies as one TOML document, categories sorted, every field written."""
    items = policies.values() if isinstance(policies, Mapping) else policies
    document: dict[str, Any] = {}
    for policy in sorted(items, key=lambda p: p.category):
        if policy.category in document:
            raise ValueError(f"category {policy.category!r} given twice")
        document[policy.category] = policy_table(policy)
    return _HEADER + tomli_w.dumps(document)


def write_policy_file(path: str | Path, policies: Mapping[str, Policy] | Iterable[Policy]) -> None:
    """Write an export to a file (for ``andon policies export FILE``)."""
    Path(path).write_text(dump_policies(policies), encoding="utf-8")
