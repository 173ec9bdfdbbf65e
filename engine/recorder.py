"""The flight recorder: every model request and its response, secrets redacted.

One `store.models.Exchange` row per model reply. `request` is the request body as sent
(model, max_tokens, system, tools, messages with their cache_control marks, stream);
`response` is a small envelope::

    {"attempt": 1, "streamed": true, "message": {...the final Message, as JSON...}}

(for a stream, the message is the one the SDK assembled from the events). `andon replay`
serves the recorded messages back to the agent loop (engine.replay).

Redaction replaces with ``[REDACTED]``: anything shaped like an Anthropic key
(``sk-ant-...``), the values of environment variables the tool-environment scrubber
treats as secrets (engine.envscrub.is_secret; values of 8 characters or more), and any
extra values the caller names (the client's own API key, when it is a real one).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from engine.envscrub import is_secret

REDACTED = "[REDACTED]"
MIN_SECRET_CHARS = 8
MIN_KEY_CHARS = 16  # a client's api_key shorter than this is a placeholder ("scripted")
KEY_PATTERN = r"sk-ant-[A-Za-z0-9_\-]{4,}"


class Redactor:
    def __init__(self, env: Mapping[str, str] | None = None,
                 extra: Iterable[str | None] = ()) -> None:
        env = os.environ if env is None else env
        values = {v for k, v in env.items()
                  if isinstance(v, str) and len(v) >= MIN_SECRET_CHARS and is_secret(k, v)}
        values.update(v for v in extra if isinstance(v, str) and len(v) >= MIN_KEY_CHARS)
        # Longest first, so a secret that contains another is replaced whole.
        parts = [re.escape(v) for v in sorted(values, key=len, reverse=True)]
        parts.append(KEY_PATTERN)
        self._pattern = re.compile("|".join(parts))

    def text(self, value: str) -> str:
        return self._pattern.sub(REDACTED, value)

    def __call__(self, value: Any) -> Any:
        """A copy of a JSON-like value with every string redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self(v) for v in value]
        return value


def envelope(message: dict[str, Any], *, attempt: int, streamed: bool) -> dict[str, Any]:
    return {"attempt": attempt, "streamed": streamed, "message": message}
