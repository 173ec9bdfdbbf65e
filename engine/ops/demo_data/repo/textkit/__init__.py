"""textkit: small text helpers."""

from textkit.text import slugify, truncate

__all__ = ["slugify", "truncate"]
