"""The HTTP and git machinery both forge stand-ins share."""

from __future__ import annotations

import json
import re
import subprocess
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

Answer = tuple[int, Any, dict[str, str]]  # status, JSON body, headers
Handler = Callable[..., Answer]
RELEASE_DEADLINE = 60.0  # a forgotten hold must not hang the suite


@dataclass
class Hold:
    """A route held by the test: `arrived` is set when a request reaches it (after the
    forge did its work, with `after=True`), and it answers once `release` is set;
    `drop` closes the connection without an answer (the client never learns)."""

    after: bool = False
    drop: bool = False
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


@dataclass
class Fault:
    status: int
    body: Any
    headers: dict[str, str]
    times: int | None  # None: until cleared


class StandIn:
    """A forge over one bare repository. Subclasses declare `routes`."""

    routes: list[tuple[str, str, str]] = []  # (method, path regex, handler name)
    prefix = ""

    def __init__(self, bare: Path, project: str, token: str = "t0ken") -> None:
        self.bare, self.project, self.token = bare, project, token
        self.lock = threading.RLock()
        self.calls: Counter[str] = Counter()
        self.faults: dict[str, list[Fault]] = {}
        self.holds: dict[str, Hold] = {}
        self.denied: dict[str, str] = {}  # handler name -> message of the 403
        self.ci: Callable[[str], dict[str, tuple[str, str]]] | None = None
        self._compiled = [(m, re.compile(self.prefix + p + r"/?$"), h)
                          for m, p, h in self.routes]
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> StandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for hold in self.holds.values():
            hold.release.set()
        self.server.shutdown()
        self.server.server_close()

    # -- what a test arranges --------------------------------------------------------

    def fault(self, route: str, status: int, body: Any = None,
              headers: dict[str, str] | None = None, times: int | None = 1) -> None:
        with self.lock:
            self.faults.setdefault(route, []).append(
                Fault(status, body if body is not None else {"message": "fault"},
                      headers or {}, times))

    def clear_faults(self, route: str) -> None:
        with self.lock:
            self.faults.pop(route, None)

    def hold(self, route: str, *, after: bool = False, drop: bool = False) -> Hold:
        hold = Hold(after=after, drop=drop)
        with self.lock:
            self.holds[route] = hold
        return hold

    def deny(self, route: str, message: str = "Forbidden") -> None:
        self.denied[route] = message

    # -- git on the bare repository -------------------------------------------------

    def git(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run(["git", *args], cwd=self.bare, capture_output=True,
                              text=True, check=False)
        if check and proc.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)}: {proc.stderr}")
        return proc.stdout.strip()

    def head_of(self, branch: str) -> str | None:
        out = self.git("rev-parse", "--verify", "-q", f"refs/heads/{branch}^{{commit}}",
                       check=False)
        return out or None

    def merge_branch(self, base: str, head: str, message: str) -> str | None:
        """A merge commit of `head` into `base` made the forge's way; None: conflict."""
        tip = self.head_of(base)
        assert tip is not None
        proc = subprocess.run(["git", "merge-tree", "--write-tree", tip, head],
                              cwd=self.bare, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            return None
        tree = proc.stdout.split()[0]
        new = self.git("-c", "user.name=Forge", "-c", "user.email=forge@localhost",
                       "commit-tree", tree, "-p", tip, "-p", head, "-m", message)
        self.git("update-ref", f"refs/heads/{base}", new, tip)
        return new

    def ci_of(self, sha: str) -> dict[str, tuple[str, str]]:
        """The CI's verdicts on a commit: name -> (state, description)."""
        return self.ci(sha) if self.ci is not None else {}

    # -- serving ---------------------------------------------------------------------

    def authorized(self, headers: Any) -> bool:
        raise NotImplementedError

    def dispatch(self, method: str, path: str, query: dict[str, str],
                 body: Any) -> tuple[str | None, Answer]:
        for m, pattern, name in self._compiled:
            match = pattern.match(path)
            if m == method and match:
                with self.lock:
                    self.calls[name] += 1
                    faults = self.faults.get(name) or []
                    if faults:
                        fault = faults[0]
                        if fault.times is not None:
                            fault.times -= 1
                            if fault.times <= 0:
                                faults.pop(0)
                        return name, (fault.status, fault.body, fault.headers)
                if name in self.denied:
                    return name, (403, {"message": self.denied[name]}, {})
                args = {k: unquote(v) for k, v in match.groupdict().items()}
                return name, getattr(self, name)(query=query, body=body, **args)
        return None, (404, {"message": "Not Found"}, {})


def _handler_for(forge: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            if not forge.authorized(self.headers):
                self._answer((401, {"message": "Bad credentials"}, {}))
                return
            route = None
            for m, pattern, name in forge._compiled:
                if m == self.command and pattern.match(parts.path):
                    route = name
                    break
            hold = forge.holds.get(route or "")
            if hold is not None and not hold.after:
                hold.arrived.set()
                hold.release.wait(RELEASE_DEADLINE)
            try:
                _, answer = forge.dispatch(self.command, parts.path, query, body)
            except Exception as exc:  # a stand-in bug shows as the client's error text
                answer = (599, {"message": f"stand-in broke: {exc!r}"}, {})
            if hold is not None and hold.after:
                hold.arrived.set()
                hold.release.wait(RELEASE_DEADLINE)
            if hold is not None:
                with forge.lock:
                    if forge.holds.get(route or "") is hold:
                        del forge.holds[route or ""]
                if hold.drop:  # the answer is lost, as when a process dies mid-request
                    self.close_connection = True
                    self.connection.close()
                    return
            self._answer(answer)

        def _answer(self, answer: Answer) -> None:
            status, body, headers = answer
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = _serve

    return Handler
