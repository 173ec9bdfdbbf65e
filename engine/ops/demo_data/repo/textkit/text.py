"""Text helpers."""

from __future__ import annotations

import re
import unicodedata


def slugify(text: str) -> str:
    """'Hello, World!' -> 'hello-world'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def truncate(text: str, width: int, ellipsis: str = "...") -> str:
    """Cut `text` to at most `width` characters, ending with `ellipsis` when cut."""
    if len(text) <= width:
        return text
    return text[:width] + ellipsis
