"""The factory's home: database, configuration, worktrees, scenarios, logs.

Chosen by `--home`, else `ANDON_HOME`, else the user's data folder. The home is private
to the user who runs the factory: folders 0700, files 0600.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from andon.engine.errors import UserError
from andon.engine.factory.config import FactoryConfig, check_database_url, load
from andon.policies.stored import seed_default_policies
from andon.store.db import Database

URL_ENV = "ANDON_DATABASE_URL"
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
    _config: FactoryConfig | None = field(default=None, repr=False)

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

    def database_url(self) -> str | None:
        """The PostgreSQL URL holding this factory's state (ANDON_DATABASE_URL, else
        `[store] url`), or None: the SQLite file `db_path`."""
        env = os.environ.get(URL_ENV, "").strip()
        if env:
            try:
                return check_database_url(env)
            except ValueError as exc:
                raise UserError(f"{URL_ENV}: {exc}") from None
        return self.config.store.url

    def database(self) -> Path | str:
        """What `Database` opens for this factory: the URL, or the file's path."""
        return self.database_url() or self.db_path

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
        if self.db_path.exists():
            return True
        # On a server, the home is this host's side of the factory (config, worktrees).
        return self.config_path.exists() and self.database_url() is not None

    def init(self) -> Database:
        """Create the folders and the database, or bring them up to date. Safe to repeat."""
        old_umask = os.umask(0o077)
        try:
            for folder in (self.root, self.worktrees, self.scenarios, self.logs, self.inbox):
                folder.mkdir(parents=True, exist_ok=True)
                folder.chmod(0o700)
            if not self.config_path.exists():
                self.config_path.write_text(DEFAULT_CONFIG, encoding="utf-8")
            db = Database(self.database())
        finally:
            os.umask(old_umask)
        for path in (self.config_path, self.db_path):
            if path.exists():
                path.chmod(0o600)
        # The shipped policies, for categories not stored yet: a person's changes stay.
        seed_default_policies(db)
        return db

    def open(self) -> Database:
        """Open an existing home's database (migrating it when it is older)."""
        if not self.exists():
            raise UserError(f"no factory at {self.root}: run `andon init` (or pass --home)")
        return Database(self.database())

    @property
    def config(self) -> FactoryConfig:
        """The settings of andon.toml, read once (ConfigError names a mistake)."""
        if self._config is None:
            self._config = self.load_config()
        return self._config

    def load_config(self) -> FactoryConfig:
        """Read andon.toml afresh (the defaults when there is none); the settings in use
        stay as they are until `use_config`."""
        return load(self.config_path)

    def use_config(self, config: FactoryConfig) -> None:
        """Use settings read (and checked) by `load_config`: a reload (SIGHUP)."""
        self._config = config

    def reload(self) -> None:
        """Forget the settings read so far: the next use reads andon.toml again."""
        self._config = None
