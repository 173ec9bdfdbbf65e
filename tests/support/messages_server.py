"""A loopback HTTP server speaking just enough of the Messages API for tests.

    with MessagesServer() as server:
        server.add(overloaded(retry_after=0), reply(text="hi"))
        client = anthropic.Anthropic(base_url=server.url, api_key="test", max_retries=0)
        client.messages.create(...)
        server.requests  # what arrived: [Recorded(method, path, headers, body), ...]

Replies are served in the order added; when none is left the server answers a
400 saying so (fast and loud, and not something a retry loop would retry).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from andon.engine.llm import sse


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None


def message(
    text: str = "ok",
    *,
    tool_use: list[dict[str, Any]] | None = None,
    stop_reason: str | None = None,
    usage: dict[str, int] | None = None,
    model: str = "claude-sonnet-5-5",
    thinking: str | None = None,
) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if thinking is not None:  # first, with the signature the API checks when it comes back
        content.append({"type": "thinking", "thinking": thinking,
                        "signature": f"sig-{len(thinking)}-{thinking[:8]}"})
    if text:
        content.append({"type": "text", "text": text})
    for n, call in enumerate(tool_use or [], 1):
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id", f"toolu_01test{n:04d}"),
                "name": call["name"],
                "input": call.get("input", {}),
            }
        )
    return {
        "id": "msg_01loopback",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason or ("tool_use" if tool_use else "end_turn"),
        "stop_sequence": None,
        "usage": usage or {"input_tokens": 10, "output_tokens": 5},
    }


def reply(text: str = "ok", **kwargs: Any) -> Reply:
    """A non-streamed 200 with a Message."""
    return Reply(200, json.dumps(message(text, **kwargs)).encode(), _json)


def streamed(text: str = "ok", **kwargs: Any) -> Reply:
    """A 200 text/event-stream carrying the message as SSE events."""
    body = sse.encode_message_stream(message(text, **kwargs))
    return Reply(200, body, {"content-type": "text/event-stream"})


def model_info(model: str, max_tokens: int | None) -> dict[str, Any]:
    """A Models API entry: the model's limits."""
    return {"type": "model", "id": model, "display_name": model, "lifecycle": "active",
            "created_at": "2026-01-01T00:00:00Z", "max_input_tokens": 1_000_000,
            "max_tokens": max_tokens}


def error(status: int, error_type: str, msg: str, headers: dict[str, str] | None = None) -> Reply:
    body = {"type": "error", "error": {"type": error_type, "message": msg}, "request_id": "req_t"}
    return Reply(status, json.dumps(body).encode(), {**_json, **(headers or {})})


def overloaded(retry_after: str | float | None = None) -> Reply:
    headers = {} if retry_after is None else {"retry-after": str(retry_after)}
    return error(529, "overloaded_error", "Overloaded", headers)


def rate_limited(retry_after: str | float | None = None) -> Reply:
    headers = {} if retry_after is None else {"retry-after": str(retry_after)}
    msg = "Number of request tokens has exceeded your rate limit."
    return error(429, "rate_limit_error", msg, headers)


_json = {"content-type": "application/json"}


class MessagesServer:
    def __init__(self) -> None:
        self._replies: list[Reply] = []
        self.requests: list[Recorded] = []
        self.models: dict[str, dict[str, Any]] = {}  # GET /v1/models/{id}; others 404
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                with outer._lock:
                    outer.requests.append(
                        Recorded("POST", self.path, dict(self.headers.items()), body)
                    )
                    pending = outer._replies.pop(0) if outer._replies else None
                if pending is None:
                    pending = error(
                        400, "invalid_request_error", "messages_server: no reply queued"
                    )
                self.send_response(pending.status)
                for name, value in pending.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(pending.body)))
                self.end_headers()
                self.wfile.write(pending.body)

            def do_GET(self) -> None:
                if not self.path.startswith("/v1/models/"):
                    return self.do_POST()
                with outer._lock:  # the Models API: from `models`, not the reply queue
                    outer.requests.append(
                        Recorded("GET", self.path, dict(self.headers.items()), None))
                    known = outer.models.get(self.path.rsplit("/", 1)[-1].split("?")[0])
                reply = (Reply(200, json.dumps(known).encode(), _json) if known else
                         error(404, "not_found_error", f"model: {self.path}"))
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def model(self, model: str, *, max_tokens: int | None = 64_000) -> MessagesServer:
        """Describe `model` in the Models API (any other id is a 404)."""
        with self._lock:
            self.models[model] = model_info(model, max_tokens)
        return self

    def add(self, *replies: Reply) -> MessagesServer:
        with self._lock:
            self._replies.extend(replies)
        return self

    def start(self) -> MessagesServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> MessagesServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
