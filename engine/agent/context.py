"""What the agent sends of a long conversation: bounded, and changed only in batches.

The whole conversation is kept (checkpoints rebuild it; a new attempt continues it),
but a request carries a window of it: the task (the first message), then the latest
turns. Two points move through the conversation, both at once and only every `batch`
turns, so the prompt cache keeps serving the same prefix in between:

* the cut: turns before it are left out; the task message then carries a short note
  saying so (the work they did is in the worktree);
* the clear point: tool results before it (and after the cut) are replaced by a short
  placeholder; the model may run the tool again if it needs the output.

When the window has grown to `keep_turns + batch` turns, the cut moves to leave the
latest `keep_turns` turns and the clear point to leave the latest `keep_results` turns'
results whole. So a request never holds more than `keep_turns + batch` turns, and the
engine's own work per turn (building, serialising, recording the request) is bounded too.

The points live in the checkpoint (`AgentState.context`), so a resumed run sends exactly
what it would have sent. Messages alternate user / assistant from the task on, so a point
at an assistant message (an odd index) starts a turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OMITTED_NOTE = ("(Earlier turns of this conversation were left out to keep it short. "
                "Their changes are in the worktree: look at the files again when you "
                "need them.)")
CLEARED = "(output cleared to keep the conversation short; run the tool again if needed)"


@dataclass(frozen=True)
class ContextPolicy:
    keep_turns: int = 20  # turns kept after a cut
    keep_results: int = 8  # of those, the latest whose tool results stay whole
    batch: int = 20  # turns the window grows by before the points move again

    @classmethod
    def of(cls, source: Any) -> ContextPolicy:
        """From a policy's `context` table (a pydantic model or a dict) or None."""
        if source is None or isinstance(source, ContextPolicy):
            return source or cls()
        get = source.get if isinstance(source, dict) else lambda k, d: getattr(source, k, d)
        return cls(**{k: int(get(k, getattr(cls, k))) for k in ("keep_turns", "keep_results",
                                                                 "batch")})


class Window:
    """The view of a conversation a request sends; cached between moves so the same
    message objects go out every turn (the recorder and the prompt cache rely on it)."""

    def __init__(self, policy: ContextPolicy | None = None) -> None:
        self.policy = policy or ContextPolicy()
        self._key: tuple[int, int, int] | None = None  # (cut, clear, id of the task)
        self._head: list[dict[str, Any]] = []  # the task (with the note) + cleared turns

    def advance(self, messages: list[dict[str, Any]], points: dict[str, Any]) -> bool:
        """Move the points (the checkpoint's context dict, in place) when the window has
        grown by a batch; True when they moved."""
        p = self.policy
        if len(messages) - max(int(points.get("cut") or 0), 1) < 2 * (p.keep_turns + p.batch):
            return False
        points["cut"] = _turn_start(len(messages) - 2 * p.keep_turns)
        points["clear"] = _turn_start(len(messages) - 2 * min(p.keep_results, p.keep_turns))
        return True

    def view(self, messages: list[dict[str, Any]], points: dict[str, Any]
             ) -> list[dict[str, Any]]:
        """The messages a request sends at these points."""
        cut, clear = int(points.get("cut") or 0), int(points.get("clear") or 0)
        if cut <= 1 and clear <= 1:
            return messages
        key = (cut, clear, id(messages[0]))
        if key != self._key:
            self._key = key
            self._head = [_with_note(messages[0]) if cut > 1 else messages[0],
                          *(_cleared(msg) for msg in messages[max(cut, 1):clear])]
        return [*self._head, *messages[max(cut, 1, clear):]]


def _turn_start(index: int) -> int:
    """The assistant message at or just before `index` (odd indices), at least 1."""
    return max(1, index if index % 2 else index - 1)


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content or [])


def _with_note(message: dict[str, Any]) -> dict[str, Any]:
    return {**message, "content": [*_blocks(message), {"type": "text", "text": OMITTED_NOTE}]}


def _cleared(message: dict[str, Any]) -> dict[str, Any]:
    """A user message with its tool results' content replaced by the placeholder."""
    content = message.get("content")
    if message.get("role") != "user" or not isinstance(content, list):
        return message
    if not any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content):
        return message
    return {**message, "content": [
        {**b, "content": CLEARED} if isinstance(b, dict) and b.get("type") == "tool_result"
        else b for b in content]}
