"""Loop detection: a model that keeps making the same tool call is stuck.

`LoopGuard.see(name, input)` remembers the call and returns a reason when the same call
(same tool, same input) appears `repeats` times within the last `window` calls. The
history is plain data (`history`) so a checkpoint can carry it across a resume.
"""

from __future__ import annotations

import json
from typing import Any

WINDOW = 10
REPEATS = 3
SHOWN_CHARS = 300


def call_key(name: str, tool_input: Any) -> str:
    try:
        body = json.dumps(tool_input, sort_keys=True, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        body = repr(tool_input)
    return f"{name} {body}"


class LoopGuard:
    def __init__(self, history: list[str] | None = None, *, window: int = WINDOW,
                 repeats: int = REPEATS) -> None:
        self.window = window
        self.repeats = repeats
        self.history: list[str] = list(history or [])[-window:]

    def see(self, name: str, tool_input: Any) -> str | None:
        key = call_key(name, tool_input)
        self.history = [*self.history, key][-self.window:]
        count = self.history.count(key)
        if count < self.repeats:
            return None
        shown = key if len(key) <= SHOWN_CHARS else key[:SHOWN_CHARS] + "..."
        return (f"stuck: the same tool call was made {count} times in the last "
                f"{len(self.history)} calls: {shown}")
