"""Autonomy levels of a category: 2 supervised, 3 spec-driven, 4 dark.

The numbering follows the five-level framework (0..4); Andon runs levels 2..4 only.
`Level.parse` accepts what a person or a file may write (``3``, ``"3"``, ``"dark"``,
``"L4"``, ``"spec-driven"``) and raises `LevelError` (a ValueError) naming the value.
"""

from __future__ import annotations

import re
from enum import IntEnum


class LevelError(ValueError):
    """A value that is not one of the levels 2, 3 or 4."""


class Level(IntEnum):
    SUPERVISED = 2
    SPEC_DRIVEN = 3
    DARK = 4

    @property
    def label(self) -> str:
        """Short lower-case name used in the UI and files: supervised, spec-driven, dark."""
        return _LABELS[self]

    @property
    def title(self) -> str:
        """``"level 3 (spec-driven)"``: for sentences."""
        return f"level {int(self)} ({self.label})"

    def __str__(self) -> str:
        return str(int(self))

    @classmethod
    def parse(cls, value: object) -> Level:
        """A Level from an int, a digit string, a label or ``L<n>``; LevelError otherwise."""
        if isinstance(value, Level):
            return value
        if isinstance(value, bool):  # bool is an int; True is not a level
            raise LevelError(f"must be 2, 3 or 4 (got {value!r})")
        if isinstance(value, int):
            try:
                return cls(value)
            except ValueError:
                raise LevelError(f"must be 2, 3 or 4 (got {value})") from None
        if isinstance(value, str):
            text = value.strip().lower()
            match = re.fullmatch(r"(?:level\s*|l)?(\d+)", text)
            if match:
                return cls.parse(int(match.group(1)))
            key = text.replace("_", "-").replace(" ", "-")
            for level, label in _LABELS.items():
                if key == label or key == level.name.lower().replace("_", "-"):
                    return level
            raise LevelError(
                f"must be 2, 3 or 4 (or supervised, spec-driven, dark) (got {value!r})"
            )
        raise LevelError(f"must be 2, 3 or 4 (got {value!r})")

    @property
    def higher(self) -> Level | None:
        """The next level up, or None at level 4."""
        return Level(self + 1) if self < Level.DARK else None

    @property
    def lower(self) -> Level | None:
        """The next level down, or None at level 2."""
        return Level(self - 1) if self > Level.SUPERVISED else None


_LABELS: dict[Level, str] = {
    Level.SUPERVISED: "supervised",
    Level.SPEC_DRIVEN: "spec-driven",
    Level.DARK: "dark",
}
