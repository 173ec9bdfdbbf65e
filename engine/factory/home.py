"""The factory's home: database, configuration, worktrees, scenarios, logs.

Chosen by `--home`, else `ANDON_HOME`, else the user's data folder. The home is private
to the user who runs the factory: folders 0700, files 0600.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from andon.engine.errors import UserError
from andon.policies.stored import seed_default_policies
from andon.store.db import Database

DEFAULT_CONFIG = """\
# Andon factory configuration. See the README's configuration reference.

[engine]
# How many runs may execute at once, across all categories.
concurrency = 2
# Default model provider for specs that do not name one: "anthropic" or "scripted".
provider = "anthropic"

# Repositories that specs may name by key (`repo: sample`); a spec may also give a path.
[repos]
# sample = { path = "/path/to/repo", base = "main" }
"""


@dataclass
class Home:
    root: Path
    _config: dict[str, Any] | None = field(default=None, repr=False)

    @classmethod
    def locate(cls, explicit: str | Path | None = None) -> Home:
        if explicit:
            return cls(Path(explicit).expanduser().resolve())
        env = os.environ.get("ANDON_HOME")
        if env:
            return cls(Path(env).expanduser().resolve())
        return cls(Path(platformdirs.user_data_dir("andon")).resolve())

    @property
    def db_path(self) -> Path:
        return self.root / "andon.db"

    @property
    def config_path(self) -> Path:
        return self.root / "andon.toml"

    @property
    def worktrees(self) -> Path:
        return self.root / "worktrees"

    @property
    def scenarios(self) -> Path:
        return self.root / "scenarios"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    def private(self) -> list[Path]:
        """What the agent's commands, and the code it wrote, must never see: the
        holdout scenarios, the database (with its journal), the configuration, the logs
        and the inbox. Masked inside the sandbox wherever a command runs for a run."""
        db = self.db_path
        return [self.scenarios, db, db.with_name(db.name + "-wal"),
                db.with_name(db.name + "-shm"), self.config_path, self.logs, self.inbox]

    def exists(self) -> bool:
        return self.db_path.exists()

    def init(self) -> Database:
        """Create the folders and the database, or bring them up to date. Safe to repeat."""
        old_umask = os.umask(0o077)
        try:
            for folder in (self.root, self.worktrees, self.scenarios, self.logs, self.inbox):
                folder.mkdir(parents=True, exist_ok=True)
                folder.chmod(0o700)
            if not self.config_path.exists():
                self.config_path.write_text(DEFAULT_CONFIG, encoding="utf-8")
            db = Database(self.db_path)
        finally:
            os.umask(old_umask)
        for path in (self.config_path, self.db_path):
            path.chmod(0o600)
        # The shipped policies, for categories not stored yet: a person's changes stay.
        seed_default_policies(db)
        return db

    def open(self) -> Database:
        """Open an existing home's database (migrating it when it is older)."""
        if not self.exists():
            raise UserError(f"no factory at {self.root}: run `andon init` (or pass --home)")
        return Database(self.db_path)

    @property
    def config(self) -> dict[str, Any]:
        if self._config is None:
            self._config = self.load_config()
        return self._config

    def load_config(self) -> dict[str, Any]:
        if not self.config_path.exists():
            return {}
        try:
            return tomllib.loads(self.config_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise UserError(f"{self.config_path}: {exc}") from exc

    def reload(self) -> None:
        self._config = None

    def engine_setting(self, key: str, default: Any) -> Any:
        return self.config.get("engine", {}).get(key, default)

    def repo_entry(self, name: str) -> dict[str, Any] | None:
        entry = self.config.get("repos", {}).get(name)
        if isinstance(entry, str):
            return {"path": entry}
        return entry
