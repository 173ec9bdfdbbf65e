"""An honest simulation of the Messages API's prompt caching, for the scripted model.

The point is that a scripted run reports `usage` the way the real API would, so the
cost and "share of input served from cache" numbers on the board mean something.

How a request is accounted (mirrors the documented behaviour):

* The request is laid out in API order as a list of blocks: each tool definition,
  then the system prompt blocks, then every content block of every message.
  Each block's size is estimated as ``ceil(len(json) / chars_per_token)``
  (``cache_control`` itself excluded). Anthropic-defined tools (``bash_*``,
  ``text_editor_*``) are counted at their documented definition size, and a
  request with tools carries the documented tool-use system prompt overhead.
* A block with ``cache_control`` is a breakpoint. The prefix ending at a
  breakpoint is identified by a hash of the model and every block up to it.
* Reading: the longest prefix ending at a block boundary that is already in the
  cache is served as ``cache_read_input_tokens``; candidates are the breakpoints
  and the up to 20 blocks before each one (the API's lookback window).
* Writing: from the read point up to the last breakpoint counts as
  ``cache_creation_input_tokens``, and every breakpoint prefix is stored.
* Everything after the last breakpoint is plain ``input_tokens``.
* A prefix shorter than ``min_tokens`` is never cached (the API's minimum
  cacheable length; 1024 for Sonnet models). Entries live ``ttl`` seconds
  (5 minutes, ephemeral) and every hit refreshes them.
* At most 4 breakpoints are allowed; `too_many_breakpoints` says so (the
  scripted provider answers 400 like the API does).

It is an estimate (no tokenizer), but it is the same estimate on every turn, so
the shares between fresh, written and read input are right in shape.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_BREAKPOINTS = 4
LOOKBACK_BLOCKS = 20

# Documented extra input tokens (pricing docs, "tool use"): the hidden tool-use
# system prompt added to any request with tools, and Anthropic-defined tool sizes.
TOOL_SYSTEM_PROMPT_TOKENS = 346
ANTHROPIC_TOOL_TOKENS = {"bash_": 245, "text_editor_": 700}


@dataclass(frozen=True)
class CacheUsage:
    input_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int

    @property
    def total_input(self) -> int:
        return self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens

    def as_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
        }


def estimate_tokens(value: Any, chars_per_token: float = 4.0) -> int:
    """Token estimate of any JSON-able value (strings by length, others by JSON length)."""
    text = value if isinstance(value, str) else _dumps(value)
    return math.ceil(len(text) / chars_per_token) if text else 0


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _strip_cache_control(block: Any) -> Any:
    if isinstance(block, dict) and "cache_control" in block:
        return {k: v for k, v in block.items() if k != "cache_control"}
    return block


def layout(body: dict[str, Any]) -> list[tuple[Any, bool]]:
    """The request as (block-without-cache_control, is_breakpoint) in API order."""
    blocks: list[tuple[Any, bool]] = []
    for tool in body.get("tools") or []:
        marked = isinstance(tool, dict) and "cache_control" in tool
        blocks.append((_strip_cache_control(tool), marked))
    system = body.get("system")
    if isinstance(system, str):
        if system:
            blocks.append(({"type": "text", "text": system}, False))
    elif isinstance(system, list):
        for block in system:
            blocks.append((_strip_cache_control(block), "cache_control" in block))
    for message in body.get("messages") or []:
        role = message.get("role")
        content = message.get("content")
        if isinstance(content, str):
            blocks.append(({"role": role, "type": "text", "text": content}, False))
            continue
        for block in content or []:
            marked = isinstance(block, dict) and "cache_control" in block
            stripped = _strip_cache_control(block)
            if isinstance(stripped, dict):
                stripped = {"role": role, **stripped}
            blocks.append((stripped, marked))
    return blocks


def count_breakpoints(body: dict[str, Any]) -> int:
    return sum(1 for _, marked in layout(body) if marked)


class CacheSimulator:
    """Prompt-cache bookkeeping across requests; thread-safe."""

    def __init__(
        self,
        *,
        chars_per_token: float = 4.0,
        min_tokens: int = 1024,
        ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.chars_per_token = chars_per_token
        self.min_tokens = min_tokens
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[str, float] = {}  # prefix hash -> expiry time
        self._lock = threading.Lock()

    def block_tokens(self, block: Any) -> int:
        if isinstance(block, dict) and "role" not in block:
            btype = str(block.get("type") or "")
            for prefix, tokens in ANTHROPIC_TOOL_TOKENS.items():
                if btype.startswith(prefix):
                    return tokens
        return estimate_tokens(block, self.chars_per_token)

    def count(self, body: dict[str, Any]) -> int:
        """Estimated total input tokens of a request (what count_tokens would say)."""
        overhead = TOOL_SYSTEM_PROMPT_TOKENS if body.get("tools") else 0
        return overhead + sum(self.block_tokens(b) for b, _ in layout(body))

    def account(self, body: dict[str, Any]) -> CacheUsage:
        """Usage for one request, updating the cache as the API would."""
        blocks = layout(body)
        overhead = TOOL_SYSTEM_PROMPT_TOKENS if body.get("tools") else 0
        cumulative = [overhead]  # cumulative[i] = tokens of the first i blocks
        hashes = [""]
        hasher = hashlib.sha256(str(body.get("model", "")).encode())
        for block, _ in blocks:
            cumulative.append(cumulative[-1] + self.block_tokens(block))
            hasher.update(_dumps(block).encode())
            hasher.update(b"\x1e")
            hashes.append(hasher.copy().hexdigest())
        total = cumulative[-1]
        breakpoints = [i + 1 for i, (_, marked) in enumerate(blocks) if marked]
        if not breakpoints:
            return CacheUsage(total, 0, 0)
        last = max(breakpoints)

        with self._lock:
            now = self._clock()
            self._entries = {h: t for h, t in self._entries.items() if t > now}
            candidates: set[int] = set()
            for bp in breakpoints:
                candidates.update(range(max(1, bp - LOOKBACK_BLOCKS + 1), bp + 1))
            read_at = 0
            for i in sorted(candidates, reverse=True):
                if hashes[i] in self._entries:
                    read_at = i
                    break
            if read_at:
                self._entries[hashes[read_at]] = now + self.ttl
            if cumulative[last] < self.min_tokens:
                # Too short to cache at all: the whole prompt is plain input.
                return CacheUsage(total, 0, 0)
            for bp in breakpoints:
                if cumulative[bp] >= self.min_tokens:
                    self._entries[hashes[bp]] = now + self.ttl

        read = cumulative[read_at] if read_at else 0
        written = cumulative[last] - read
        return CacheUsage(total - cumulative[last], written, read)
