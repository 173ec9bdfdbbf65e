"""Column types that keep SQLite honest about time zones and JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.types import Text, TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stores ISO-8601 text in UTC and returns aware datetimes.

    SQLite has no datetime type; SQLAlchemy's default drops the offset, so a naive
    value could silently be read as local time. Refusing naive input keeps every
    timestamp in the store comparable.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> str | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps UTC only")
        return value.astimezone(UTC).isoformat(timespec="microseconds")

    def process_result_value(self, value: str | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class RawJSON(str):
    """A value already serialised as JSON: a JSONText column stores it as it is (the
    flight recorder serialises a turn's records once, to redact them)."""


class JSONText(TypeDecorator[Any]):
    """JSON in a TEXT column (compact, key order kept)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, RawJSON):
            return str(value)
        return json.dumps(value, separators=(",", ":"), default=str)

    def process_result_value(self, value: str | None, dialect: Any) -> Any:
        if value is None:
            return None
        return json.loads(value)
