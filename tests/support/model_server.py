"""A scripted model behind a real loopback HTTP server, tallying what it would bill.

The usage it answers with and adds up is computed from the request bodies it receives
(engine.llm.cache_sim: token estimate, breakpoints, prefix cache), never from the
client's own accounting, so a test or the bench cannot grade itself.

    with ModelServer(script) as server:
        client = anthropic.Anthropic(base_url=server.url, api_key="test", max_retries=0)
        ...
        server.tally.billed, server.tally.cache_share, server.tally.per_request

Also runs as a process (the bench measures the engine's CPU without the model's):
`python -m tests.support.model_server SCRIPT.json` prints its URL on the first line of
stdout; GET /tally answers the tally as JSON; it ends when stdin closes.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2

from andon.engine.llm.cache_sim import CacheSimulator, CacheUsage
from andon.engine.llm.scripted import ScriptedModel

# What input costs relative to fresh input (cache writes 1.25x, reads 0.1x): "billed"
# input tokens are the three kinds weighted so, in fresh-input-token units.
WRITE_WEIGHT, READ_WEIGHT = 1.25, 0.1


@dataclass
class Tally:
    fresh: int = 0
    cache_write: int = 0
    cache_read: int = 0
    per_request: list[int] = field(default_factory=list)  # input tokens of each request
    read_per_request: list[int] = field(default_factory=list)  # of which from the cache

    def add(self, usage: CacheUsage) -> None:
        self.fresh += usage.input_tokens
        self.cache_write += usage.cache_creation_input_tokens
        self.cache_read += usage.cache_read_input_tokens
        self.per_request.append(usage.total_input)
        self.read_per_request.append(usage.cache_read_input_tokens)

    @property
    def input(self) -> int:
        return self.fresh + self.cache_write + self.cache_read

    @property
    def billed(self) -> float:
        return self.fresh + WRITE_WEIGHT * self.cache_write + READ_WEIGHT * self.cache_read

    @property
    def cache_share(self) -> float:
        return self.cache_read / self.input if self.input else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "input": self.input, "billed": self.billed,
                "cache_share": self.cache_share}


class _TallyingCache(CacheSimulator):
    def __init__(self, tally: Tally) -> None:
        super().__init__()
        self.tally = tally

    def account(self, body: dict[str, Any]) -> CacheUsage:
        usage = super().account(body)
        self.tally.add(usage)
        return usage


class ModelServer:
    def __init__(self, script: Any) -> None:
        self.tally = Tally()
        self.model = ScriptedModel(script, cache=_TallyingCache(self.tally))
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                request = httpx2.Request("POST", f"http://loopback{self.path}", content=raw,
                                         headers={"content-type": "application/json"})
                response = outer.model.handle(request)
                self._send(response.status_code, dict(response.headers), response.read())

            def do_GET(self) -> None:
                body = json.dumps(outer.tally.as_dict()).encode()
                self._send(200, {"content-type": "application/json"}, body)

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> ModelServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=30)


def main() -> None:
    script = json.loads(Path(sys.argv[1]).read_text())
    with ModelServer(script) as server:
        print(server.url, flush=True)
        sys.stdin.read()  # until the parent closes it


if __name__ == "__main__":
    main()
