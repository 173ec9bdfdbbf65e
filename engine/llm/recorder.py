"""The flight recorder: every model request and its response, secrets redacted.

One `store.models.Exchange` row per model reply. `request` is the request body as sent
(model, max_tokens, system, tools, messages with their cache_control marks, stream);
`response` is a small envelope::

    {"attempt": 1, "streamed": true, "purpose": "agent",
     "message": {...the final Message, as JSON...}}

(`purpose`: agent, plan or judge; replay serves agent replies only.)

(for a stream, the message is the one the SDK assembled from the events). `andon replay`
serves the recorded messages back to the agent loop (engine.ops.replay).

Redaction replaces with ``[REDACTED]``: anything shaped like an Anthropic key
(``sk-ant-...``), the values of environment variables the tool-environment scrubber
treats as secrets (engine.workspace.environment.is_secret; values of 8 characters or more), and any
extra values the caller names (the client's own API key, when it is a real one).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from andon.engine.workspace.environment import is_secret
from andon.store.types import RawJSON

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
        ordered = sorted(values, key=len, reverse=True)
        self._pattern = re.compile("|".join([*map(re.escape, ordered), KEY_PATTERN]))
        # The same secrets as they appear inside a JSON document (quotes, backslashes and
        # control characters escaped), to redact a serialized value in one pass.
        in_json = sorted({json.dumps(v)[1:-1] for v in ordered}, key=len, reverse=True)
        self._json_pattern = re.compile("|".join([*map(re.escape, in_json), KEY_PATTERN]))

    def text(self, value: str) -> str:
        return self._pattern.sub(REDACTED, value)

    def json(self, value: Any) -> RawJSON:
        """`value` serialised as JSON with every secret redacted: one serialisation, and
        a parse only when something was replaced (to be sure the text is still JSON)."""
        try:
            text, replaced = self._json_pattern.subn(REDACTED, json.dumps(
                value, separators=(",", ":")))
            if replaced:
                json.loads(text)
            return RawJSON(text)
        except (TypeError, ValueError):  # not plain JSON (or a freak match): value by value
            return RawJSON(json.dumps(self._walk(value), separators=(",", ":"), default=str))

    def __call__(self, value: Any) -> Any:
        """A copy of a JSON-like value with every string redacted."""
        try:
            return json.loads(self._json_pattern.sub(REDACTED, json.dumps(value)))
        except (TypeError, ValueError):  # not plain JSON (or a freak match): go value by value
            return self._walk(value)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self._walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._walk(v) for v in value]
        return value


def envelope(message: dict[str, Any], *, attempt: int, streamed: bool,
             purpose: str = "agent") -> dict[str, Any]:
    return {"attempt": attempt, "streamed": streamed, "purpose": purpose, "message": message}
