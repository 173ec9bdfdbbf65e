"""One factory, one set of rules: engines on several hosts decide runs alike.

Policies live in the database already. What else decides a run's outcome is read from
each host's andon.toml and home: the engine settings below, the prices, how each
repository merges, and the holdout scenarios. The first engine of a factory on a server
records them (the Setting row "factory.rules"); another engine compares its own and, when
one differs, claims no run and says which (its runs would be judged by other rules). The
host that recorded the rules may change them (its person edited andon.toml there); the
other hosts then refuse until they follow. A factory in one SQLite file has one engine:
nothing to compare.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path
from typing import Any

from andon.engine.factory.config import EngineConfig
from andon.engine.factory.home import Home
from andon.store import models as m
from andon.store.clock import utcnow
from andon.store.db import Database

KEY = "factory.rules"
# The [engine] settings a run's outcome depends on (not how often this engine polls).
DECIDING = ("provider", "model", "timezone", "check_timeout", "setup_timeout",
            "scenario_timeout", "scenario_trials", "post_merge_checks", "max_resumes")


def scenarios_digest(folder: Path) -> str:
    """One hash of every scenario file's path and bytes (symlinks not followed)."""
    digest = hashlib.sha256()
    if folder.is_dir():
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                path = Path(root) / name
                if path.is_symlink() or not path.is_file():
                    continue
                digest.update(str(path.relative_to(folder)).encode() + b"\0")
                digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def rules_of(home: Home, settings: EngineConfig) -> dict[str, Any]:
    """This engine's rules, by name as a person finds them in andon.toml or the home."""
    config = home.config
    rules: dict[str, Any] = {f"[engine] {k}": getattr(settings, k) for k in DECIDING}
    rules["[prices]"] = config.price_overrides()
    rules["[repos] merge"] = {name: repo.merge for name, repo in sorted(config.repos.items())}
    rules["scenarios"] = scenarios_digest(home.scenarios)
    return json.loads(json.dumps(rules, default=str))  # as the store gives it back


def check(db: Database, home: Home, settings: EngineConfig, *,
          host: str | None = None) -> str | None:
    """None when this engine follows the factory's rules (recording them when there are
    none yet, or when this host recorded them); else what differs, for a person."""
    if not db.postgres:
        return None
    ours, host = rules_of(home, settings), host or socket.gethostname()
    with db.write() as s:
        row = s.get(m.Setting, KEY)
        stored = row.value if row is not None and row.value else None
        if stored is None or stored.get("host") == host:
            row = row or m.Setting(key=KEY)
            row.value = {"host": host, "rules": ours}
            row.updated_at, row.updated_by = utcnow(), host
            s.add(row)
            return None
    theirs = stored.get("rules") or {}
    for name in sorted(set(ours) | set(theirs)):
        if ours.get(name) != theirs.get(name):
            where = "the scenarios folder" if name == "scenarios" else "andon.toml"
            return (f"{name} differs from the factory's: {_shown(ours.get(name))} here, "
                    f"{_shown(theirs.get(name))} as {stored.get('host')} set it; this engine "
                    f"claims no run until {where} on {host} matches")
    return None


def _shown(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if value is not None else "(not set)"
