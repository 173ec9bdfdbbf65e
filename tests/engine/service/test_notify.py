"""Notification hooks: a webhook (a real loopback HTTP server) and a shell command get a
small JSON body for events that need a person, and nothing else; a failing hook is
logged and the factory carries on; a restart neither repeats nor skips."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from andon.engine.errors import UserError
from andon.engine.factory.config import NotifyConfig, validate
from andon.engine.service.notify import Notifier
from andon.store import models as m
from andon.store.db import Database

FIELDS = {"event", "event_id", "at", "run", "spec", "spec_path", "category", "level",
          "status", "gate", "gate_id", "reason", "title"}


class Hooked:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                outer.bodies.append(json.loads(self.rfile.read(length)))
                outer.headers.append(dict(self.headers))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/andon"


@pytest.fixture
def hook() -> Iterator[Hooked]:
    h = Hooked()
    h.thread.start()
    yield h
    h.server.shutdown()
    h.server.server_close()


def _run(db: Database, title: str = "Fix the parser", category: str = "bugfix") -> int:
    with db.write() as s:
        spec = m.Spec(path=f"/specs/{title}.md", title=title, category=category, repo="r")
        s.add(spec)
        s.flush()
        run = m.Run(spec_id=spec.id or 0, title=title, category=category, level=3,
                    status=m.RUNNING)
        s.add(run)
        s.flush()
        return run.id or 0


def _event(db: Database, run_id: int | None, kind: str, message: str = "",
           **data: Any) -> int:
    with db.write() as s:
        ev = m.Event(run_id=run_id, kind=kind, message=message, data=data or None)
        s.add(ev)
        s.flush()
        return ev.id or 0


def test_webhook_gets_the_run_spec_category_gate_and_reason_only(db: Database,
                                                                 hook: Hooked) -> None:
    run_id = _run(db)
    _event(db, run_id, "stage", "implement started")  # history before the notifier: not news
    notifier = Notifier(db, NotifyConfig(webhook=hook.url))
    with db.write() as s:
        gate = m.Gate(run_id=run_id, kind="review", title="Review the diff",
                      detail={"diff": "SECRET DIFF CONTENT"})
        s.add(gate)
        s.flush()
        gate_id = gate.id
    _event(db, run_id, "model.text", "a transcript line the hook must never see")
    _event(db, run_id, "gate.opened", "review needed: diff is 900 lines", gate_id=gate_id)
    _event(db, run_id, "run.failed", "checks failed: `pytest -q` (exit 1)")

    assert notifier.poll() == 2
    assert [b["event"] for b in hook.bodies] == ["gate.opened", "run.failed"]
    opened = hook.bodies[0]
    assert set(opened) == FIELDS
    assert opened["run"] == run_id and opened["spec"] == "Fix the parser"
    assert opened["category"] == "bugfix" and opened["gate"] == "review"
    assert opened["gate_id"] == gate_id
    assert opened["reason"] == "review needed: diff is 900 lines"
    assert hook.headers[0]["Content-Type"] == "application/json"
    everything = json.dumps(hook.bodies)
    assert "SECRET DIFF" not in everything and "transcript" not in everything

    assert notifier.poll() == 0  # nothing new


def test_a_failing_webhook_is_logged_and_the_factory_goes_on(
        db: Database, caplog: pytest.LogCaptureFixture) -> None:
    broken = Hooked(status=500)
    broken.thread.start()
    try:
        notifier = Notifier(db, NotifyConfig(webhook=broken.url, timeout=2))
        run_id = _run(db)
        _event(db, run_id, "run.stuck", "no progress for 10 turns")
        with caplog.at_level(logging.WARNING, logger="andon.notify"):
            assert notifier.poll() == 1
        assert "answered 500" in caplog.text
    finally:
        broken.server.shutdown()
        broken.server.server_close()
    # Nobody listens any more: refused, logged, and the cursor still moves on.
    _event(db, run_id, "run.failed", "gave up")
    with caplog.at_level(logging.WARNING, logger="andon.notify"):
        assert notifier.poll() == 1
    assert "failed" in caplog.text
    assert notifier.poll() == 0


def test_command_hook_reads_json_on_stdin_without_secrets(
        db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-do-not-leak")
    out = tmp_path / "hook.json"
    script = (f"{sys.executable} -c \"import json,os,sys; d=json.load(sys.stdin); "
              f"d['env']=sorted(os.environ); open('{out}','w').write(json.dumps(d))\"")
    notifier = Notifier(db, NotifyConfig(command=script, events=("escalation",)))
    run_id = _run(db, "Bump deps", "deps")
    _event(db, run_id, "run.escalation", "new dependency: requests")
    assert notifier.poll() == 1
    got = json.loads(out.read_text())
    assert got["event"] == "run.escalation" and got["category"] == "deps"
    assert got["reason"] == "new dependency: requests"
    assert "ANTHROPIC_API_KEY" not in got["env"]
    assert "ANDON_EVENT" in got["env"]


def test_failing_command_never_raises(db: Database,
                                      caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier(db, NotifyConfig(command="echo nope >&2; exit 7"))
    _event(db, _run(db), "run.failed", "boom")
    with caplog.at_level(logging.WARNING, logger="andon.notify"):
        assert notifier.poll() == 1
    assert "exited 7" in caplog.text and "nope" in caplog.text


def test_a_restart_neither_repeats_nor_skips(db: Database, hook: Hooked) -> None:
    run_id = _run(db)
    first = Notifier(db, NotifyConfig(webhook=hook.url))
    _event(db, run_id, "run.failed", "one")
    first.poll()
    _event(db, run_id, "run.failed", "two")  # happens while no engine runs
    again = Notifier(db, NotifyConfig(webhook=hook.url))
    again.poll()
    assert [b["reason"] for b in hook.bodies] == ["one", "two"]


def test_hooks_from_andon_toml() -> None:
    hooks = validate({"notify": {"webhook": "http://127.0.0.1:1/x",
                                 "events": ["run.failed"], "timeout": 3}}).notify
    assert hooks.enabled and hooks.timeout == 3
    assert hooks.wants("run.failed") and not hooks.wants("gate.opened")
    assert not validate({}).notify.enabled
    assert not validate({}).notify.wants("run.escalated")  # its gate.opened tells
    assert NotifyConfig(events=("escalation",)).wants("run.escalated")


@pytest.mark.parametrize("section", [{"timeout": "soon"}, {"events": "run.failed"},
                                     {"webhook": "ftp://example"}])
def test_bad_hook_settings_are_refused_with_the_key(section: dict[str, Any]) -> None:
    with pytest.raises(UserError, match=r"\[notify\]"):
        validate({"notify": section})
