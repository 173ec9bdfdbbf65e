"""Bounded text: keep the head and the tail, say how much was dropped in between.

Everything shown to the model or stored in a step goes through here, so a command that
prints 50 MB, or a file full of binary junk, never ends up whole in memory, a prompt or
the database. Sizes are counted in UTF-8 bytes; bytes that are not UTF-8 are decoded
with replacement characters.
"""

from __future__ import annotations

DEFAULT_LIMIT = 30_000
MARKER = "\n[... {n} bytes elided ...]\n"


def to_text(data: str | bytes | bytearray | memoryview) -> str:
    """Decode bytes as UTF-8 with replacement; pass str through."""
    if isinstance(data, str):
        return data
    return bytes(data).decode("utf-8", errors="replace")


def marker(elided: int) -> str:
    return MARKER.format(n=elided)


def _split(limit: int, head: int | None, tail: int | None) -> tuple[int, int]:
    if head is None and tail is None:
        head = limit * 2 // 5
        tail = limit - head
    elif head is None:
        head = max(0, limit - (tail or 0))
    elif tail is None:
        tail = max(0, limit - head)
    return max(0, head), max(0, tail or 0)


def _join(head: bytes, tail: bytes, elided: int) -> str:
    # Cut points may land inside a multi-byte character; drop the broken pieces quietly
    # rather than showing replacement characters that were never in the output.
    h = head.decode("utf-8", errors="ignore") if elided else to_text(head)
    t = tail.decode("utf-8", errors="ignore") if elided else to_text(tail)
    if not elided:
        return h + t
    return h + marker(elided) + t


def cap(
    text: str | bytes | bytearray | memoryview,
    limit: int = DEFAULT_LIMIT,
    head: int | None = None,
    tail: int | None = None,
) -> str:
    """Return `text` whole if it fits in `limit` bytes, else its first `head` and last
    `tail` bytes around a "[... N bytes elided ...]" marker.

    By default the tail gets the larger share (errors tend to be printed last).
    """
    raw = text.encode("utf-8", errors="replace") if isinstance(text, str) else bytes(text)
    if len(raw) <= limit:
        return to_text(raw)
    h, t = _split(limit, head, tail)
    if h + t >= len(raw):
        return to_text(raw)
    elided = len(raw) - h - t
    return _join(raw[:h], raw[len(raw) - t :] if t else b"", elided)


class CappedBuffer:
    """Accumulates a byte stream in bounded memory: the first `head` bytes and the last
    `tail` bytes are kept, the middle is counted and dropped.

    `total` is the number of bytes ever fed. `render(limit)` gives a capped view of the
    stream no larger than `limit` (when `limit` <= head + tail), with an exact count of
    what was elided.
    """

    def __init__(self, head: int = 500_000, tail: int = 500_000) -> None:
        self.head_size = head
        self.tail_size = tail
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.total += len(chunk)
        room = self.head_size - len(self._head)
        if room > 0:
            self._head += chunk[:room]
            chunk = chunk[room:]
            if not chunk:
                return
        if self.tail_size <= 0:
            return
        if len(chunk) >= self.tail_size:
            self._tail = bytearray(chunk[-self.tail_size :])
            return
        self._tail += chunk
        excess = len(self._tail) - self.tail_size
        if excess > 0:
            del self._tail[:excess]

    @property
    def elided(self) -> int:
        return self.total - len(self._head) - len(self._tail)

    def render(
        self, limit: int | None = None, head: int | None = None, tail: int | None = None
    ) -> str:
        """The stream as text, at most about `limit` bytes (default: everything kept)."""
        if limit is None:
            return _join(bytes(self._head), bytes(self._tail), self.elided)
        if self.total <= limit and not self.elided:
            return to_text(bytes(self._head) + bytes(self._tail))
        h, t = _split(limit, head, tail)
        kept = bytes(self._head) + bytes(self._tail) if not self.elided else None
        if kept is not None:
            # Nothing dropped yet: cap the whole stream exactly.
            return cap(kept, limit=limit, head=h, tail=t)
        h = min(h, len(self._head))
        t = min(t, len(self._tail))
        head_part = bytes(self._head[:h])
        tail_part = bytes(self._tail[len(self._tail) - t :]) if t else b""
        return _join(head_part, tail_part, self.total - h - t)
