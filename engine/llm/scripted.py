"""A scripted model served through the real anthropic SDK, for the demo and tests.

`ScriptedModel(script).client()` returns a genuine ``anthropic.Anthropic`` whose
HTTP transport is an in-process ``httpx2.MockTransport``: the agent loop calls
``client.messages.create(...)`` or ``client.messages.stream(...)`` exactly as it
would against the API, and gets Message objects / SSE streams built from the
script. The model is reported as ``"scripted"`` everywhere.

Script file
-----------
A YAML file beside the spec: ``specs/slugify.md`` -> ``specs/slugify.script.yaml``
(`script_beside(spec_path)` finds it). Either a bare list of turns, or a mapping::

    plan: |                       # answers a request that has no tools (the plan stage);
      1. Add slugify() to text.py # may also be a list: one per plan request, last repeats
      2. Test it
    turns:                        # consumed one per model request, in order
      - delay: 0.8                # seconds before the reply (spread over a stream)
        text: Let me look at the module first.
        tool_use:
          - name: str_replace_based_edit_tool
            input: {command: view, path: text.py}
      - text: Adding the helper.
        tool_use:
          - {name: bash, input: {command: "python -m pytest -q"}}
      - text: Done: slugify() is in text.py and tested.   # no tool_use -> end_turn
        usage: {output_tokens: 40}                          # optional usage override
      - stop_reason: max_tokens   # optional override: end_turn, tool_use, max_tokens,
        text: "Truncated..."      #   pause_turn, refusal, stop_sequence
      - error: {status: 529, type: overloaded_error, message: Overloaded, retry_after: 0}

Instead of ``turns`` a script may have ``attempts``: a list of turn lists, one per
implement attempt::

    attempts:
      - - {text: "first try", tool_use: [...]}
        - {text: "done"}
      - - {text: "fixing the failing check", tool_use: [...]}
        - {text: "done again"}

An attempt group ends when its turns run out, or when a fresh conversation
(a request with tools whose ``messages`` is a single user message) arrives after
the group has served a turn; the next group then starts. So it works whether the
agent loop restarts the conversation for a retry or continues it.

A run that resumes after a restart opens a new model with `skip(n)`: the script goes
on after the turns that answered the run's first n model requests (its checkpointed
conversation), instead of starting over.

Turn keys: ``delay``, ``text``, ``tool_use`` (list of ``{name, input}``; ids are
generated ``toolu_...``), ``stop_reason``, ``usage`` (merged over the simulated
usage), ``error`` (the request fails with that HTTP status and error body; the
turn is consumed). When the script runs out every further request is answered
with the end_turn text ``(script ended)``.

Usage is simulated honestly (see `engine.llm.cache_sim`): cache_control
breakpoints in the request produce cache writes and, on later turns, cache reads.

The transport also checks requests the way the API would and answers 400
``invalid_request_error`` for: no messages, a tool_use without its tool_result in
the next user message, a tool_result for an unknown id, or more than 4
cache_control breakpoints. Such a request does not consume a turn.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import yaml

from andon.engine.errors import UserError
from andon.engine.llm import sse
from andon.engine.llm.cache_sim import MAX_BREAKPOINTS, CacheSimulator, count_breakpoints

MODEL_NAME = "scripted"
SCRIPT_ENDED = "(script ended)"
STOP_REASONS = {"end_turn", "tool_use", "max_tokens", "pause_turn", "refusal", "stop_sequence"}
TURN_KEYS = {"delay", "text", "tool_use", "stop_reason", "usage", "error"}
SCRIPT_KEYS = {"plan", "turns", "attempts"}


class ScriptError(UserError, ValueError):
    """A script file that cannot be used; the message names the file and the turn."""


@dataclass
class ToolCall:
    name: str
    input: dict[str, Any]


@dataclass
class Turn:
    text: str | None = None
    tool_use: list[ToolCall] = field(default_factory=list)
    delay: float = 0.0
    stop_reason: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None


@dataclass
class Script:
    attempts: list[list[Turn]]
    plan: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- loading


def script_beside(spec_path: str | Path) -> Path:
    """The script file that belongs to a spec: `foo.md` -> `foo.script.yaml` (or .yml)."""
    spec_path = Path(spec_path)
    stem = spec_path.name.split(".")[0]
    candidates = [spec_path.with_name(f"{stem}.script.{ext}") for ext in ("yaml", "yml")]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ScriptError(
        f"{spec_path}: model is 'scripted' but there is no script file beside it "
        f"(expected {candidates[0]})"
    )


def load_script(source: str | Path | Sequence[Any] | dict[str, Any] | Script) -> Script:
    """Parse a script from a file path, YAML-shaped data (list or mapping), or a Script."""
    if isinstance(source, Script):
        return source
    where = "script"
    if isinstance(source, str | Path):
        path = Path(source)
        where = str(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ScriptError(f"{path}: cannot read script ({exc.strerror})") from exc
        except yaml.YAMLError as exc:
            raise ScriptError(f"{path}: not valid YAML ({exc})") from exc
    else:
        data = source
    if data is None:
        data = []
    if isinstance(data, list):
        return Script(attempts=[_turns(data, where, "turns")])
    if not isinstance(data, dict):
        raise ScriptError(f"{where}: a script is a list of turns or a mapping with 'turns'")
    unknown = set(data) - SCRIPT_KEYS
    if unknown:
        raise ScriptError(
            f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(SCRIPT_KEYS)}"
        )
    if "turns" in data and "attempts" in data:
        raise ScriptError(f"{where}: use either 'turns' or 'attempts', not both")
    plan = data.get("plan")
    if plan is None:
        plans: list[str] = []
    elif isinstance(plan, str):
        plans = [plan]
    elif isinstance(plan, list) and all(isinstance(p, str) for p in plan):
        plans = list(plan)
    else:
        raise ScriptError(f"{where}: 'plan' must be text or a list of texts")
    if "attempts" in data:
        groups = data["attempts"]
        if not isinstance(groups, list):
            raise ScriptError(f"{where}: 'attempts' must be a list of turn lists")
        attempts = []
        for n, group in enumerate(groups, 1):
            if isinstance(group, dict) and set(group) == {"turns"}:
                group = group["turns"]
            attempts.append(_turns(group, where, f"attempts[{n}]"))
    else:
        attempts = [_turns(data.get("turns") or [], where, "turns")]
    return Script(attempts=attempts, plan=plans)


def _turns(items: Any, where: str, label: str) -> list[Turn]:
    if not isinstance(items, list):
        raise ScriptError(f"{where}: '{label}' must be a list of turns")
    return [_turn(item, f"{where}: {label}[{n}]") for n, item in enumerate(items, 1)]


def _turn(item: Any, at: str) -> Turn:
    if isinstance(item, str):
        return Turn(text=item)
    if not isinstance(item, dict):
        raise ScriptError(f"{at}: a turn is a mapping (text, tool_use, delay, ...)")
    unknown = set(item) - TURN_KEYS
    if unknown:
        raise ScriptError(f"{at}: unknown key(s) {sorted(unknown)}; allowed: {sorted(TURN_KEYS)}")
    text = item.get("text")
    if text is not None and not isinstance(text, str):
        text = str(text)
    calls = []
    raw_calls = item.get("tool_use") or []
    if isinstance(raw_calls, dict):
        raw_calls = [raw_calls]
    if not isinstance(raw_calls, list):
        raise ScriptError(f"{at}: 'tool_use' must be a list of {{name, input}}")
    for k, call in enumerate(raw_calls, 1):
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise ScriptError(f"{at}: tool_use[{k}] needs a 'name'")
        tool_input = call.get("input") or {}
        if not isinstance(tool_input, dict):
            raise ScriptError(f"{at}: tool_use[{k}].input must be a mapping")
        calls.append(ToolCall(call["name"], tool_input))
    delay = item.get("delay", 0) or 0
    if not isinstance(delay, int | float) or delay < 0:
        raise ScriptError(f"{at}: 'delay' must be a number of seconds >= 0")
    stop = item.get("stop_reason")
    if stop is not None and stop not in STOP_REASONS:
        raise ScriptError(f"{at}: stop_reason {stop!r} is not one of {sorted(STOP_REASONS)}")
    usage = item.get("usage") or {}
    if not isinstance(usage, dict):
        raise ScriptError(f"{at}: 'usage' must be a mapping")
    error = item.get("error")
    if error is not None and (not isinstance(error, dict) or "status" not in error):
        raise ScriptError(f"{at}: 'error' must be a mapping with at least 'status'")
    return Turn(text, calls, float(delay), stop, usage, error)


# --------------------------------------------------------------------------- model


def _ids(prefix: str, seed: str) -> Iterator[str]:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    n = 0
    while True:
        n += 1
        value = int.from_bytes(hashlib.sha256(f"{seed}:{n}".encode()).digest()[:16], "big")
        chars = []
        for _ in range(22):
            value, r = divmod(value, 62)
            chars.append(alphabet[r])
        yield f"{prefix}01{''.join(chars)}"


def _api_error(status: int, error_type: str, message: str, headers: dict | None = None):
    return httpx2.Response(
        status,
        json={"type": "error", "error": {"type": error_type, "message": message}},
        headers=headers or {},
    )


class ScriptedModel:
    """A script answering Messages API requests; thread-safe.

    `requests` holds every request body received (dicts, in order), `turn_index`
    how many script turns have been served, `attempt_index` the attempt group.
    """

    def __init__(
        self,
        script: str | Path | Sequence[Any] | dict[str, Any] | Script,
        *,
        cache: CacheSimulator | None = None,
        sleep: Callable[[float], None] = time.sleep,
        seed: str = "scripted",
    ) -> None:
        self.script = load_script(script)
        self.cache = cache or CacheSimulator()
        self.requests: list[dict[str, Any]] = []
        self.turn_index = 0
        self.attempt_index = 0
        self._in_attempt = 0
        self._answered_in_attempt = 0
        self._plans_served = 0
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tool_ids = _ids("toolu_", f"{seed}:tool")
        self._msg_ids = _ids("msg_", f"{seed}:msg")

    # -- public ---------------------------------------------------------------

    def client(self, **kwargs: Any) -> anthropic.Anthropic:
        """A real SDK client whose transport is this script (no socket, no retries)."""
        http = httpx2.Client(transport=httpx2.MockTransport(self.handle))
        return anthropic.Anthropic(
            api_key="scripted",
            base_url="http://scripted.invalid",
            http_client=http,
            max_retries=kwargs.pop("max_retries", 0),
            **kwargs,
        )

    def skip(self, answered: int) -> None:
        """Continue where a run left off: pass over the turns that answered its first
        `answered` model requests (a run that resumes after a restart has them in its
        checkpointed conversation already; serving them again would repeat its edits).
        Error turns on the way are passed over too: the requests they failed were
        retried. Attempt groups end as they would have: when their turns run out."""
        with self._lock:
            done = 0
            while done < answered:
                turn, _ = self._next({"tools": [{}], "messages": [{}, {}]})
                if turn is None:
                    return
                if turn.error is None:
                    done += 1

    @property
    def exhausted(self) -> bool:
        with self._lock:
            return self.attempt_index >= len(self.script.attempts)

    # -- transport ------------------------------------------------------------

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        if request.method != "POST" or path not in ("/v1/messages", "/v1/messages/count_tokens"):
            return _api_error(404, "not_found_error", f"{request.method} {path} is not served")
        try:
            body = json.loads(request.content or b"{}")
        except ValueError:
            return _api_error(400, "invalid_request_error", "request body is not JSON")
        problem = self._check(body)
        if problem:
            return _api_error(400, "invalid_request_error", problem)
        if path.endswith("count_tokens"):
            return httpx2.Response(200, json={"input_tokens": self.cache.count(body)})

        with self._lock:
            self.requests.append(body)
            turn, plan = self._next(body)
            tool_ids = [next(self._tool_ids) for _ in (turn.tool_use if turn else [])]
            msg_id = next(self._msg_ids)

        if turn is not None and turn.error is not None:
            if turn.delay:
                self._sleep(turn.delay)
            return self._error_reply(turn.error)
        if turn is None:
            turn = Turn(text=plan if plan is not None else SCRIPT_ENDED)
        message = self._message(body, turn, tool_ids, msg_id)
        if body.get("stream"):
            return httpx2.Response(
                200,
                headers={"content-type": "text/event-stream", "request-id": f"req_{msg_id}"},
                content=self._stream(message, turn.delay),
            )
        if turn.delay:
            self._sleep(turn.delay)
        return httpx2.Response(200, json=message, headers={"request-id": f"req_{msg_id}"})

    def _next(self, body: dict[str, Any]) -> tuple[Turn | None, str | None]:
        """Pick what answers this request (lock held)."""
        if not body.get("tools") and self.script.plan:
            plan = self.script.plan[min(self._plans_served, len(self.script.plan) - 1)]
            self._plans_served += 1
            return None, plan
        fresh = (
            bool(body.get("tools"))
            and len(body.get("messages") or []) == 1
            and self._answered_in_attempt > 0
        )
        if fresh and self.attempt_index + 1 < len(self.script.attempts):
            self.attempt_index += 1
            self._in_attempt = 0
            self._answered_in_attempt = 0
        while self.attempt_index < len(self.script.attempts):
            group = self.script.attempts[self.attempt_index]
            if self._in_attempt < len(group):
                turn = group[self._in_attempt]
                self._in_attempt += 1
                self.turn_index += 1
                if turn.error is None:  # a scripted error is retried, not a new attempt
                    self._answered_in_attempt += 1
                return turn, None
            self.attempt_index += 1
            self._in_attempt = 0
            self._answered_in_attempt = 0
        return None, None

    def _message(
        self, body: dict[str, Any], turn: Turn, tool_ids: list[str], msg_id: str
    ) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if turn.text:
            content.append({"type": "text", "text": turn.text})
        for call, tool_id in zip(turn.tool_use, tool_ids, strict=True):
            content.append(
                {"type": "tool_use", "id": tool_id, "name": call.name, "input": call.input}
            )
        if not content:
            content.append({"type": "text", "text": ""})
        stop = turn.stop_reason or ("tool_use" if turn.tool_use else "end_turn")
        output = sum(
            math.ceil(len(json.dumps(b, ensure_ascii=False)) / self.cache.chars_per_token)
            for b in content
        )
        usage: dict[str, Any] = self.cache.account(body).as_dict()
        usage["output_tokens"] = max(1, output)
        usage.update(turn.usage)
        return {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": MODEL_NAME,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": usage,
        }

    def _stream(self, message: dict[str, Any], delay: float) -> Iterator[bytes]:
        events = sse.message_events(message)
        pause = delay / max(1, len(events) - 1) if delay else 0.0
        for n, (event_type, data) in enumerate(events):
            if pause and n:
                self._sleep(pause)
            yield sse.encode_event(event_type, data)

    def _error_reply(self, error: dict[str, Any]) -> httpx2.Response:
        status = int(error["status"])
        default_type = {
            400: "invalid_request_error",
            401: "authentication_error",
            403: "permission_error",
            404: "not_found_error",
            429: "rate_limit_error",
            529: "overloaded_error",
        }.get(status, "api_error")
        headers = {}
        if "retry_after" in error:
            headers["retry-after"] = str(error["retry_after"])
        return _api_error(
            status,
            str(error.get("type") or default_type),
            str(error.get("message") or f"scripted error {status}"),
            headers,
        )

    # -- request checks (what the API would refuse) -----------------------------

    @staticmethod
    def _check(body: dict[str, Any]) -> str | None:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "messages: at least one message is required"
        if count_breakpoints(body) > MAX_BREAKPOINTS:
            return (
                f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
                f"Found {count_breakpoints(body)}."
            )
        for i, message in enumerate(messages):
            content = message.get("content")
            blocks = content if isinstance(content, list) else []
            wanted = [
                b.get("id")
                for b in blocks
                if isinstance(b, dict) and b.get("type") == "tool_use"
            ]
            results = {
                b.get("tool_use_id")
                for b in blocks
                if isinstance(b, dict) and b.get("type") == "tool_result"
            }
            if results:
                previous = messages[i - 1] if i else {}
                prev_blocks = previous.get("content") if isinstance(previous, dict) else None
                known = {
                    b.get("id")
                    for b in (prev_blocks if isinstance(prev_blocks, list) else [])
                    if isinstance(b, dict) and b.get("type") == "tool_use"
                }
                stray = sorted(str(r) for r in results - known)
                if stray:
                    return (
                        f"messages.{i}.content: unexpected `tool_use_id` found in `tool_result` "
                        f"blocks: {', '.join(stray)}. Each `tool_result` block must have a "
                        "corresponding `tool_use` block in the previous message."
                    )
            if wanted and message.get("role") == "assistant" and i + 1 < len(messages):
                nxt = messages[i + 1].get("content")
                answered = {
                    b.get("tool_use_id")
                    for b in (nxt if isinstance(nxt, list) else [])
                    if isinstance(b, dict) and b.get("type") == "tool_result"
                }
                missing = [w for w in wanted if w not in answered]
                if missing:
                    return (
                        f"messages.{i + 1}: `tool_use` ids were found without `tool_result` "
                        f"blocks immediately after: {', '.join(map(str, missing))}. Each "
                        "`tool_use` block must have a corresponding `tool_result` block in "
                        "the next message."
                    )
        return None


def scripted_client(script: Any, **kwargs: Any) -> anthropic.Anthropic:
    """Shortcut: a client for a script (path, data or Script)."""
    return ScriptedModel(script, **kwargs).client()
