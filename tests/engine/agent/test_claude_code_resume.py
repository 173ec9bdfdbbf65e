"""A Claude Code run killed with SIGKILL mid-attempt resumes its session in a new engine:
the calls it made are not made again, and the change merges once.

The model is a script behind a loopback server in this test's process (the engine reaches
it as the real API, through ANTHROPIC_BASE_URL), so it outlives the engine; the kill is
ordered by the server holding the second request: the first call has run and been
committed, the second is not answered yet."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlmodel import select

from andon.engine.factory.home import Home
from andon.engine.llm.scripted import ScriptedModel
from andon.engine.run.queue import submit
from andon.store import models as m
from andon.store.db import Database
from tests.conftest import git, make_repo, requires, write_spec
from tests.support.walls import processes_with, wait_until

pytest.importorskip("claude_agent_sdk", reason="needs the claude-code extra: "
                    "pip install 'andon[claude-code]'")
pytestmark = [requires("bwrap"), pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[3]
DEADLINE = 300.0  # a whole factory in a subprocess, with the CLI, on a loaded machine
SCRIPT = [
    {"text": "one", "tool_use": [{"name": "bash", "input": {"command": "echo one >> log.txt"}}]},
    {"text": "two", "tool_use": [{"name": "bash", "input": {"command": "echo two >> log.txt"}}]},
    {"text": "Both lines are in log.txt."},
]


class HeldModel:
    """The script behind a loopback server; request `hold_at` waits for `release` and is
    then dropped (its engine is dead), so the script's turn stays for the next engine."""

    def __init__(self, hold_at: int) -> None:
        self.model = ScriptedModel(SCRIPT)
        self.bodies: list[dict[str, Any]] = []
        self.hold_at = hold_at
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                outer.bodies.append(json.loads(raw or b"{}"))
                if len(outer.bodies) == outer.hold_at:  # the killed engine's: never answered
                    outer.release.wait(DEADLINE)
                    self.send_response(503)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                response = outer.model.handle(httpx2.Request(
                    "POST", f"http://loopback{self.path}", content=raw,
                    headers={"content-type": "application/json"}))
                data = response.read()
                self.send_response(response.status_code)
                for name, value in response.headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture
def held() -> Iterator[HeldModel]:
    model = HeldModel(hold_at=2)
    yield model
    model.release.set()
    model.server.shutdown()
    model.server.server_close()


def serve(home: Home, model: HeldModel) -> subprocess.Popen[str]:
    env = {**os.environ, "ANTHROPIC_BASE_URL": model.url, "ANTHROPIC_API_KEY": "test-key"}
    return subprocess.Popen([sys.executable, "-m", "andon.tui", "--home", str(home.root),
                             "serve"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, text=True)


def run_row(db: Database, run_id: int) -> m.Run:
    with db.read() as s:
        run = s.get(m.Run, run_id)
        assert run is not None
        return run


def test_a_claude_code_run_killed_mid_attempt_resumes_its_session_without_repeating_a_call(
        tmp_path: Path, held: HeldModel) -> None:
    repo = make_repo(tmp_path / "repo")
    home = Home(tmp_path / "home")
    db = home.init()
    home.config_path.write_text("[engine]\nwatch_interval = 0.1\nheartbeat_interval = 0.5\n"
                                '[prices."claude-test-model"]\ninput = 3.0\noutput = 15.0\n')
    spec = write_spec(tmp_path / "specs", "log", f"""
        title: Two lines
        category: docs
        repo: {repo}
        model: claude-test-model
        agent: claude-code
        checks: ["test \\"$(cat log.txt)\\" = \\"$(printf 'one\\\\ntwo')\\""]
        """)
    run_id = submit(db, spec).id or 0
    engine = serve(home, held)
    try:
        assert wait_until(lambda: len(held.bodies) >= 2, DEADLINE), run_row(db, run_id).reason
        engine.send_signal(signal.SIGKILL)
        engine.wait(60)
    finally:
        if engine.poll() is None:
            engine.kill()
    assert git(repo, "show", f"andon/{run_id}:log.txt") == "one"  # turn 1, committed
    # the CLI died with its engine (the kernel ends it as the engine exits; left alone it
    # would go on retrying the dead proxy for minutes, past the walls' 60 s deadline)
    session = uuid.uuid5(uuid.NAMESPACE_URL, f"andon:{home.root / 'agents' / 'run-1'}:1")
    assert wait_until(lambda: not processes_with(f"--session-id={session}"))
    held.release.set()

    again = serve(home, held)
    try:
        assert wait_until(lambda: run_row(db, run_id).status in m.TERMINAL_STATUSES,
                          DEADLINE), run_row(db, run_id).reason
    finally:
        again.send_signal(signal.SIGTERM)
        again.wait(60)
    run = run_row(db, run_id)
    assert run.status == m.MERGED, run.reason
    assert (repo / "log.txt").read_text() == "one\ntwo\n"  # each call ran once
    merges = git(repo, "log", "--format=%H", "--grep", f"Andon-Run: {run_id}", "--merges",
                 "main").split()
    assert len(merges) == 1
    # The session was resumed and told so. Whether its history still holds turn 1 depends
    # on whether the killed CLI had flushed its session file: either way the worktree has
    # turn 1's change and the call is not made again (log.txt above).
    resumed = held.bodies[2]
    said = json.dumps(resumed["messages"])
    assert "The engine restarted and resumed this session" in said
    with db.read() as s:
        kinds = [e.kind for e in s.exec(select(m.Event).where(m.Event.run_id == run_id))]
    assert "agent.resume" in kinds
    db.close()
