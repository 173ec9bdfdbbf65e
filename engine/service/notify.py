"""Telling a person when the factory needs them: hooks fired by events.

The engine follows the event table by id (`Notifier.poll()`) and, for every event that
asks for a person (a gate opened, a run failed, got stuck or escalated), runs the hooks
configured in andon.toml::

    [notify]
    command = "notify-send Andon \\"$ANDON_TITLE\\""   # run by the shell, JSON on stdin
    webhook = "http://127.0.0.1:9000/andon"          # POSTed the same JSON
    timeout = 10                                     # seconds per hook
    events = ["gate.opened", "run.failed", "run.stuck", "repo.blocked"]  # the default

Escalations open a gate of kind "escalation", so they arrive as "gate.opened" with
`"gate": "escalation"` and the tripped rules in the reason.

The JSON names the run, spec, category, level, gate kind and reason, and nothing else:
no transcript, no diff, no environment. A command runs with a scrubbed environment (no
API keys). A failing or slow hook is logged and never stops the factory. How far the
notifier has read is kept in the Setting row "notify.cursor", so a restart neither
repeats nor skips notifications.
"""

from __future__ import annotations

import json
import logging
import subprocess
import urllib.error
import urllib.request
from typing import Any

from sqlmodel import col, func, select

from andon.engine.factory.config import NotifyConfig
from andon.engine.workspace.environment import scrubbed_env
from andon.store import models as m
from andon.store.clock import utcnow
from andon.store.db import Database

log = logging.getLogger("andon.notify")

CURSOR_KEY = "notify.cursor"
REASON_LIMIT = 500
BATCH = 200


def payload(db: Database, event: m.Event) -> dict[str, Any]:
    """The fields a hook receives for an event: names and a reason, never content."""
    body: dict[str, Any] = {
        "event": event.kind, "event_id": event.id, "at": event.ts.isoformat(),
        "run": event.run_id, "spec": None, "spec_path": None, "category": None,
        "level": None, "status": None, "gate": None, "gate_id": None,
        "reason": (event.message or "")[:REASON_LIMIT],
    }
    with db.read() as s:
        run = s.get(m.Run, event.run_id) if event.run_id else None
        if run is not None:
            spec = s.get(m.Spec, run.spec_id)
            body.update(spec=run.title, category=run.category, level=run.level,
                        status=run.status)
            if spec is not None:
                body["spec_path"] = spec.path
        data = event.data or {}
        gate = None
        gate_id = data.get("gate_id") or data.get("gate")
        if isinstance(gate_id, int):
            gate = s.get(m.Gate, gate_id)
        if gate is None and run is not None and event.kind.startswith(("gate", "escalat")):
            gate = s.exec(select(m.Gate).where(m.Gate.run_id == run.id)
                          .order_by(col(m.Gate.id).desc()).limit(1)).first()
        if gate is not None:
            body.update(gate=gate.kind, gate_id=gate.id)
        elif isinstance(data.get("kind"), str):
            body["gate"] = data["kind"]
    body["title"] = _title(body)
    return body


def _title(body: dict[str, Any]) -> str:
    what = {"gate.opened": "needs you", "run.failed": "failed", "run.stuck": "is stuck",
            "repo.blocked": "is held: its repository's checkout is in the way"}
    verb = what.get(body["event"], body["event"])
    return f"Andon: run {body['run']} ({body['category']}) {verb}: {body['spec']}"


def fire(hooks: NotifyConfig, body: dict[str, Any]) -> list[str]:
    """Run every configured hook; returns the problems (also logged), never raises."""
    problems: list[str] = []
    data = json.dumps(body).encode()
    if hooks.command:
        env = scrubbed_env()
        env.update({"ANDON_EVENT": body["event"], "ANDON_RUN": str(body["run"] or ""),
                    "ANDON_CATEGORY": str(body["category"] or ""),
                    "ANDON_TITLE": body["title"]})
        try:
            proc = subprocess.run(hooks.command, shell=True, input=data, env=env,
                                  capture_output=True, timeout=hooks.timeout, check=False)
            if proc.returncode != 0:
                tail = proc.stderr.decode(errors="replace").strip()[-300:]
                problems.append(f"notify command exited {proc.returncode}: {tail}")
        except subprocess.TimeoutExpired:
            problems.append(f"notify command timed out after {hooks.timeout:g}s")
        except OSError as exc:
            problems.append(f"notify command could not start: {exc}")
    if hooks.webhook:
        request = urllib.request.Request(
            hooks.webhook, data=data, method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "andon"})
        try:
            with urllib.request.urlopen(request, timeout=hooks.timeout) as response:
                response.read(1024)
        except urllib.error.HTTPError as exc:
            problems.append(f"webhook {hooks.webhook} answered {exc.code} {exc.reason}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            problems.append(f"webhook {hooks.webhook} failed: {reason}")
    for problem in problems:
        log.warning("%s (event %s of run %s)", problem, body["event"], body["run"])
    return problems


class Notifier:
    """Follows new events by id and fires the hooks for those that need a person."""

    def __init__(self, db: Database, hooks: NotifyConfig) -> None:
        self.db = db
        self.hooks = hooks
        self.cursor = self._load_cursor()
        self.sent = 0

    def _load_cursor(self) -> int:
        with self.db.read() as s:
            row = s.get(m.Setting, CURSOR_KEY)
            if row is not None and isinstance(row.value, int):
                return row.value
            last = s.exec(select(func.max(m.Event.id))).one()
        # First start: history is not news. Start from the newest event.
        cursor = int(last or 0)
        self._save_cursor(cursor)
        return cursor

    def _save_cursor(self, cursor: int) -> None:
        with self.db.write() as s:
            row = s.get(m.Setting, CURSOR_KEY) or m.Setting(key=CURSOR_KEY)
            row.value = cursor
            row.updated_at = utcnow()
            row.updated_by = "andon"
            s.add(row)

    def poll(self) -> int:
        """Fire for the events since the last poll; returns how many were notified."""
        with self.db.read() as s:
            events = list(s.exec(select(m.Event).where(col(m.Event.id) > self.cursor)
                                 .order_by(col(m.Event.id)).limit(BATCH)).all())
        if not events:
            return 0
        fired = 0
        for event in events:
            if self.hooks.enabled and self.hooks.wants(event.kind):
                try:
                    fire(self.hooks, payload(self.db, event))
                except Exception:  # a hook must never stop the factory
                    log.exception("notifying event %s failed", event.id)
                fired += 1
        self.cursor = int(events[-1].id or self.cursor)
        self._save_cursor(self.cursor)
        self.sent += fired
        return fired
