"""A per-run loopback stand-in for the Messages API, in front of the run's model client.

Claude Code talks to this proxy (``ANTHROPIC_BASE_URL``) with a token that is good for
this run only; the API key stays in the engine, and the proxy forwards each request
through the run's `ModelClient`, so it is retried, priced and recorded exactly as the
built-in loop's turns are (usage row, flight-recorder exchange, run totals, the turn's
step and its transcript events, in one transaction). The board, the transcript, the
daily budget and `andon replay` cannot tell the backends apart.

Whatever the CLI can reach, its own processes could reach too, so the proxy itself
enforces the run's budgets: requests are taken one at a time, and before each one the
turn boundary runs (the engine commits what the last turn changed; cord, cancel and
stop are honoured) and the budget is checked; once it is spent every request is
refused. The tool names the CLI uses (``mcp__andon__bash``) are shown to the model as
Andon's own (``bash``), and renamed back in the reply.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from andon.engine.agent import checkpoint, turnlog
from andon.engine.agent.budget import Breach, RunBudget, Spend
from andon.engine.agent.checkpoint import AgentState
from andon.engine.agent.walled_tools import PREFIX
from andon.engine.llm import sse
from andon.engine.llm.client import ModelClient
from andon.engine.llm.retry import ModelCallFailed
from andon.engine.run.control import Cancelled, Stopping
from andon.engine.run.log import RunLog
from andon.store.clock import utcnow

#: Request keys the SDK's messages.stream takes as arguments; others go in extra_body.
KNOWN = frozenset({"model", "max_tokens", "messages", "system", "tools", "tool_choice",
                   "temperature", "top_p", "top_k", "stop_sequences", "thinking"})
DROPPED = frozenset({"stream", "metadata"})  # the CLI's device and session ids stay here


class Refusal(Exception):
    """A request the proxy answers with an API error (and the CLI does not retry)."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


class ModelProxy:
    def __init__(self, llm: ModelClient, log: RunLog, *, attempt: int,
                 budget: Callable[[], RunBudget], spend: Callable[[], Spend],
                 boundary: Callable[[], None],
                 paused: Callable[[Callable[[], Any]], Any],
                 elapsed: Callable[[], float] = lambda: 0.0,
                 calls: Callable[[], list[str]] = list) -> None:
        self.llm = llm
        self.log = log
        self.attempt = attempt
        self.budget, self.spend, self.boundary, self.paused = budget, spend, boundary, paused
        self.elapsed, self.calls = elapsed, calls
        self.token = secrets.token_urlsafe(32)
        self.breach: Breach | None = None  # the budget ran out: every request is refused
        self.stopped: BaseException | None = None  # Stopping or Cancelled, for the backend
        self.failed: str | None = None  # the API refused for good
        self.stuck: str | None = None  # the same tool call again and again
        self.turns = 0
        self._lock = threading.Lock()
        self._seen: list[Any] = []  # the conversation as recorded so far (no cache marks)
        self._head: tuple[Any, Any] = (None, None)
        self._server = _server(self)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True,
                                        name=f"andon-proxy-{log.run_id}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> ModelProxy:
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for a loop that never started
            self._server.shutdown()
            self._thread.join(timeout=30)
        self._server.server_close()

    # -- one request -------------------------------------------------------------------

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        """The reply to one request: status and body (a message or an error)."""
        key = headers.get("x-api-key") or headers.get("authorization", "").removeprefix(
            "Bearer ")
        if not secrets.compare_digest(key.encode(), self.token.encode()):
            raise Refusal(401, "authentication_error", "invalid x-api-key")
        route = path.split("?", 1)[0]
        try:
            body = json.loads(raw or b"{}")
        except ValueError as exc:
            raise Refusal(400, "invalid_request_error", "request body is not JSON") from exc
        if not isinstance(body, dict):
            raise Refusal(400, "invalid_request_error", "request body is not an object")
        if route == "/v1/messages/count_tokens":
            return 200, {"input_tokens": max(1, len(json.dumps(body)) // 4)}
        if route != "/v1/messages":
            raise Refusal(404, "not_found_error", f"{route} is not served")
        with self._lock:  # one at a time: the budget check holds for the request it admits
            return 200, self._turn(body)

    def _turn(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check()
        try:
            self.paused(self.boundary)  # the last turn's work is committed first
        except (Stopping, Cancelled) as exc:
            self.stopped = exc
            raise Refusal(400, "invalid_request_error", f"Andon: the run stops: {exc}") from exc
        breach = self.budget().check(self.spend())
        if breach is not None:
            self.breach = breach
            self.log.event("agent.budget", breach.reason, budget=breach.kind)
            self._check()
        request = self._request(body)
        messages = request["messages"]
        same = self._same(messages)
        turn = self.log.run().turns + 1
        started = utcnow()
        try:
            answer = self.llm.ask(request, turn=turn, pause=self.paused)
        except (Stopping, Cancelled) as exc:
            self.stopped = exc
            raise Refusal(400, "invalid_request_error", f"Andon: the run stops: {exc}") from exc
        except ModelCallFailed as exc:
            self.failed = exc.message
            self.log.event("agent.error", exc.message, status=exc.status_code)
            raise Refusal(400, exc.error_type or "invalid_request_error", exc.message) from exc
        reply = answer.message.model_dump(mode="json", exclude_none=True, warnings=False)
        reply.pop("parsed_output", None)
        content = reply.get("content") or []
        step = turnlog.step_values(self.log.run_id, self.log.stage, "turn", f"turn {turn}",
                                   started, output=answer.text, data={
                                       "stop_reason": reply.get("stop_reason"),
                                       "usage": reply.get("usage") or {}})
        events = [("model.text", answer.tail, {"turn": turn})] if answer.tail else []
        recorded = {**request, "messages": messages[same:]}
        with self.log.db.write() as s:
            turnlog.add_step(s, step)
            turnlog.add_events(s, self.log.run_id, self.log.stage, events)
            self.llm.record(s, request=recorded, answer=answer, turn=turn,
                            attempt=self.attempt, messages_from=same)
            # where the agent stands for the pipeline and a resume: its working time and
            # the loop guard's history (the conversation itself is Claude Code's session)
            checkpoint.save(s, self.log.run_id, AgentState(
                attempt=self.attempt, turn=turn, messages=[], elapsed=self.elapsed(),
                calls=self.calls()))
        self.turns += 1
        self._seen = [*map(_unmarked, messages),
                      _unmarked({"role": "assistant", "content": content})]
        return _renamed(reply, lambda name: PREFIX + name)

    def _check(self) -> None:
        if self.breach is not None:
            raise Refusal(400, "invalid_request_error",
                          f"Andon: the run's budget is spent ({self.breach.reason})")
        if self.stopped is not None:
            raise Refusal(400, "invalid_request_error", f"Andon: the run stops: {self.stopped}")
        if self.failed is not None:
            raise Refusal(400, "invalid_request_error", self.failed)
        if self.stuck is not None:
            raise Refusal(400, "invalid_request_error", f"Andon: {self.stuck}")

    def _request(self, body: dict[str, Any]) -> dict[str, Any]:
        """What the model is asked: the CLI's request with Andon's tool names and model;
        the system prompt and tools are the previous request's objects when unchanged,
        so the recorder keeps them once."""
        plain = _renamed(body, lambda name: name.removeprefix(PREFIX))
        request: dict[str, Any] = {k: v for k, v in plain.items() if k in KNOWN}
        extra = {k: v for k, v in plain.items() if k not in KNOWN and k not in DROPPED}
        if extra:
            request["extra_body"] = extra
        request["model"] = self.llm.model
        system, tools = request.get("system"), request.get("tools")
        if (system, tools) == self._head:
            request["system"], request["tools"] = self._head
        else:
            self._head = (system, tools)
        return request

    def _same(self, messages: list[Any]) -> int:
        """How many leading messages the recording already has (cache marks aside)."""
        seen = self._seen
        if seen and len(messages) > len(seen) and all(
                _unmarked(a) == b for a, b in zip(messages, seen, strict=False)):
            return len(seen)
        return 0


def _renamed(data: dict[str, Any], rename: Callable[[str], str]) -> dict[str, Any]:
    """`data` with every tool definition and tool_use block's name renamed."""
    out = dict(data)
    if isinstance(out.get("tools"), list):
        out["tools"] = [{**t, "name": rename(t["name"])} if isinstance(t, dict) and
                        isinstance(t.get("name"), str) else t for t in out["tools"]]
    if isinstance(out.get("content"), list):
        out["content"] = [_block(b, rename) for b in out["content"]]
    if isinstance(out.get("messages"), list):
        out["messages"] = [
            {**msg, "content": [_block(b, rename) for b in msg["content"]]}
            if isinstance(msg, dict) and isinstance(msg.get("content"), list) else msg
            for msg in out["messages"]]
    return out


def _block(block: Any, rename: Callable[[str], str]) -> Any:
    if isinstance(block, dict) and block.get("type") == "tool_use" and isinstance(
            block.get("name"), str):
        return {**block, "name": rename(block["name"])}
    return block


def _unmarked(value: Any) -> Any:
    """`value` without cache_control marks (the CLI moves them from turn to turn), text
    content as blocks (it sends the same text as a string on a later turn)."""
    if isinstance(value, dict):
        if isinstance(value.get("content"), str) and "role" in value:
            value = {**value, "content": [{"type": "text", "text": value["content"]}]}
        return {k: _unmarked(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_unmarked(v) for v in value]
    return value


def _server(proxy: ModelProxy) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                status, body = proxy.answer(self.path, headers, raw)
            except Refusal as exc:
                status, body = exc.status, {"type": "error", "error": {
                    "type": exc.kind, "message": exc.message}}
            except Exception as exc:  # a bug must reach the run, not hang the CLI
                proxy.failed = proxy.failed or f"proxy: {type(exc).__name__}: {exc}"
                status, body = 400, {"type": "error", "error": {
                    "type": "invalid_request_error", "message": proxy.failed}}
            wants_stream = b'"stream": true' in raw or b'"stream":true' in raw
            if status == 200 and body.get("type") == "message" and wants_stream:
                data = sse.encode_message_stream(body)
                kind = "text/event-stream"
            else:
                data, kind = json.dumps(body).encode(), "application/json"
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    return server
