"""`andon doctor`: is this factory healthy, and if not, what to do about it.

Each check returns a `Check` with a status ("ok", "warn" or "fail"), what it found, and
how to fix it. Nothing here changes the home unless asked to (`fix_permissions`), and no
secret is ever shown: the API key check says only whether a key is set.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from andon.engine.errors import UserError
from andon.engine.factory.config import ConfigError
from andon.engine.factory.home import Home

OK, WARN, FAIL = "ok", "warn", "fail"
PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _private_paths(home: Home) -> tuple[list[Path], list[Path]]:
    """The folders and files that must be the user's alone."""
    folders = [home.root, home.worktrees, home.scenarios, home.logs, home.inbox]
    folders += [p for p in (home.inbox / "accepted", home.inbox / "rejected") if p.exists()]
    files = [home.db_path, home.config_path, home.root / "engine.lock"]
    files += [home.root / f"andon.db{suffix}" for suffix in ("-wal", "-shm")]
    if home.logs.is_dir():
        files += sorted(p for p in home.logs.iterdir() if p.is_file())
    return [p for p in folders if p.exists()], [p for p in files if p.exists()]


def _loose(home: Home) -> list[tuple[Path, int, int]]:
    """(path, its mode, the mode it should have) for everything too open."""
    folders, files = _private_paths(home)
    loose = []
    for path, want in [(p, PRIVATE_DIR) for p in folders] + [(p, PRIVATE_FILE) for p in files]:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            loose.append((path, mode, want))
    return loose


def fix_permissions(home: Home) -> list[Path]:
    """Make the home private again (folders 0700, files 0600); returns what changed."""
    changed = []
    for path, _mode, want in _loose(home):
        path.chmod(want)
        changed.append(path)
    return changed


def check_home(home: Home) -> Check:
    if not home.root.exists():
        return Check("home", FAIL, f"{home.root} does not exist",
                     "run `andon init` (or pass --home / set ANDON_HOME)")
    if not home.exists():
        return Check("home", FAIL, f"{home.root} has no database (andon.db)",
                     f"run `andon --home {home.root} init`")
    owner = home.root.stat().st_uid
    if owner != os.getuid():
        return Check("home", FAIL, f"{home.root} belongs to uid {owner}, not to you "
                     f"(uid {os.getuid()})", "run the factory as the user who owns its home")
    return Check("home", OK, str(home.root))


def check_permissions(home: Home) -> Check:
    if not home.root.exists():
        return Check("permissions", FAIL, "no home to check", "run `andon init`")
    loose = _loose(home)
    if not loose:
        return Check("permissions", OK, "folders 0700, files 0600")
    shown = ", ".join(f"{p.relative_to(home.root) if p != home.root else p} "
                      f"{oct(mode)[2:]}" for p, mode, _ in loose[:5])
    more = f" and {len(loose) - 5} more" if len(loose) > 5 else ""
    return Check("permissions", FAIL, f"readable by others: {shown}{more}; the home's "
                 "permissions are what keeps others from reading transcripts and "
                 "scenarios, and from deciding gates (who can write the database can)",
                 "run `andon doctor --fix` (folders chmod 700, files chmod 600)")


def check_config(home: Home) -> Check:
    from andon.engine.llm.pricing import PriceTable
    from andon.engine.workspace.worktree import retention

    if not home.config_path.exists():
        return Check("config", WARN, f"no {home.config_path.name}: the defaults apply",
                     "run `andon init` to write one with comments")
    try:
        config = home.load_config()
        retention(config.engine.keep_worktrees)
        PriceTable(config.price_overrides())  # a new model needs input and output prices
    except ConfigError as exc:
        if exc.rename is not None:
            _table, old, new = exc.rename
            return Check("config", FAIL, str(exc),
                         f"run `andon doctor --fix` to rename '{old}' to '{new}'")
        return Check("config", FAIL, str(exc), f"edit {home.config_path}")
    except UserError as exc:
        return Check("config", FAIL, str(exc), f"edit {home.config_path}")
    from andon.engine.service.inbox import folders

    settings, hooks = config.engine, config.notify
    missing = [str(f) for f in folders(home)[1:] if not f.is_dir()]
    detail = (f"concurrency {settings.concurrency}, schedules in {settings.timezone}, "
              f"hooks: {'on' if hooks.enabled else 'none'}")
    if missing:
        return Check("config", WARN, f"{detail}; inbox folder missing: {', '.join(missing)}",
                     "create the folder, or remove it from [inbox] folders")
    return Check("config", OK, detail)


def _check_server(url: str) -> Check:
    """A factory on PostgreSQL: the server answers and the schema is this version's."""
    from andon.store.db import Database
    from andon.store.migrate import current_revision, head_revision
    from andon.store.postgres import shown

    try:
        db = Database(url, migrate=False)
        try:
            current = current_revision(db.engine)
        finally:
            db.close()
    except Exception as exc:  # unreachable, refused, no such database, no driver
        return Check("database", FAIL, f"{shown(url)} does not answer: "
                     f"{type(exc).__name__}: {exc}".splitlines()[0],
                     "start the server, or correct [store] url / ANDON_DATABASE_URL")
    head = head_revision()
    if current != head:
        return Check("database", FAIL, f"{shown(url)}: schema at revision {current or 'none'}"
                     f", this version of andon needs {head}", "run `andon init` to migrate it")
    return Check("database", OK, f"PostgreSQL {shown(url)}, schema at {head}")


def check_database(home: Home) -> Check:
    url = home.database_url()
    if url is not None:
        return _check_server(url)
    if not home.db_path.exists():
        return Check("database", FAIL, "no database", "run `andon init`")
    from andon.store.migrate import head_revision

    try:
        conn = sqlite3.connect(f"file:{home.db_path}?mode=ro", uri=True, timeout=5)
        try:
            integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
            try:
                row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            except sqlite3.OperationalError:
                row = None
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return Check("database", FAIL, f"{home.db_path} does not open: {exc}",
                     "restore it from a backup, or move it away and run `andon init`")
    if integrity != "ok":
        return Check("database", FAIL, f"integrity check failed: {integrity}",
                     "stop the engine and restore the database from a backup")
    current, head = (row[0] if row else None), head_revision()
    if current != head:
        return Check("database", FAIL, f"schema at revision {current or 'none'}, this "
                     f"version of andon needs {head}", "run `andon init` to migrate it")
    return Check("database", OK, f"integrity ok, schema at {head}")


def check_git() -> Check:
    exe = shutil.which("git")
    if exe is None:
        return Check("git", FAIL, "git is not installed", "install git (apt-get install git)")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    return Check("git", OK, out.stdout.strip() or exe)


def check_bwrap() -> Check:
    from andon.engine.workspace.sandbox import bwrap_available

    ok, why = bwrap_available()
    if ok:
        return Check("bubblewrap", OK, "the sandbox works")
    return Check("bubblewrap", WARN, why, "install bubblewrap (apt-get install bubblewrap); "
                 "without it no run starts unless its category's policy sets "
                 "allow_unsandboxed = true (then its commands run on this host, unwalled)")


def check_setup(home: Home) -> Check:
    """Say plainly where the repositories' setup commands run."""
    try:
        repos = home.config.repos if home.root.exists() else {}
    except UserError:
        repos = {}  # the config check says what is wrong
    named = sorted(name for name, entry in repos.items() if entry.setup)
    if not named:
        return Check("setup", OK, "no repository has setup commands")
    return Check("setup", OK, f"setup commands of {', '.join(named)} are trusted code: they "
                 "run outside the sandbox when a run's worktree is prepared from the base; "
                 "after a merge (the post-merge watch) they run in the sandbox, with the "
                 "network only where the repository sets network = true")


def check_api_key(home: Home) -> Check:
    if os.environ.get("ANTHROPIC_API_KEY"):
        return Check("api key", OK, "ANTHROPIC_API_KEY is set (not shown)")
    try:
        provider = home.config.engine.provider if home.root.exists() else None
    except UserError:
        provider = None  # the config check says what is wrong
    return Check("api key", WARN, "ANTHROPIC_API_KEY is not set"
                 + ("; runs of the anthropic provider will fail" if provider == "anthropic"
                    else ""),
                 "export ANTHROPIC_API_KEY in the environment the engine runs in "
                 "(for systemd: an EnvironmentFile readable only by you)")


def check_model(home: Home) -> Check:
    """The configured model has a price, and (with a key set) the Models API knows it."""
    import anthropic

    from andon.engine.llm.pricing import PriceTable, missing_price
    from andon.engine.llm.real import DEFAULT_MODEL, real_client

    try:
        provider, model = home.config.engine.model_for(None)
        table = PriceTable(home.config.price_overrides())
    except UserError:
        return Check("model", WARN, "not checked: andon.toml does not read",
                     "see the config check")
    if provider == "scripted":
        return Check("model", OK, "scripted: no model service to ask")
    name = model or DEFAULT_MODEL
    if table.price(name) is None:
        return Check("model", FAIL, missing_price(name), f"edit {home.config_path}")
    if not os.environ.get("ANTHROPIC_API_KEY"):
        return Check("model", WARN, f"{name}: not asked of the model service (no API key)",
                     "set ANTHROPIC_API_KEY and run `andon doctor` again")
    try:
        info = real_client(max_retries=0, timeout=30.0).models.retrieve(name)
    except anthropic.NotFoundError:
        return Check("model", FAIL, f"{name}: the model service does not know this model",
                     f"set [engine] model in {home.config_path} to a model the key can use")
    except anthropic.AuthenticationError:
        return Check("model", FAIL, f"{name}: the model service refused the API key",
                     "check ANTHROPIC_API_KEY")
    except anthropic.AnthropicError as exc:
        return Check("model", WARN, f"{name}: not checked, the model service did not answer "
                     f"({type(exc).__name__})", "check the network (or ANTHROPIC_BASE_URL)")
    detail = (f"{info.id} ({info.lifecycle}), replies up to "
              f"{info.max_tokens or 'an unstated number of'} tokens")
    if info.lifecycle == "retired":
        return Check("model", FAIL, detail, f"set [engine] model in {home.config_path} to "
                     "an active model")
    if info.lifecycle == "deprecated":
        return Check("model", WARN, detail, "plan a move to an active model")
    return Check("model", OK, detail)


def check_daemon(home: Home) -> Check:
    from andon.engine.service.daemon import running_daemon

    info = running_daemon(home)
    if info is None:
        return Check("engine", OK, "no engine running",
                     "start one with `andon serve` (or open `andon`) to run queued specs")
    what = f"{info.mode} engine pid {info.pid} on {info.host}, since " \
           f"{info.started:%Y-%m-%d %H:%M} UTC"
    age = info.age()
    if age is None or age > 60:
        beat = "no heartbeat yet" if age is None else f"last heartbeat {age:.0f}s ago"
        return Check("engine", WARN, f"{what}; {beat}",
                     f"it may be hung: look at {home.logs / 'andon.log'}; "
                     f"`kill {info.pid}` stops it gracefully")
    return Check("engine", OK, f"{what}; heartbeat {age:.0f}s ago"
                 + (f"; running {', '.join(map(str, info.running))}" if info.running else ""))


def check_agents(home: Home) -> Check:
    """The agent backends: Andon's loop always; Claude Code when its extra is installed
    (a failure only when a category's policy chooses it and it is missing)."""
    from andon.engine.agent import backend

    why = backend.missing(backend.CLAUDE_CODE)
    users = _claude_code_categories(home)
    named = f"; chosen by {', '.join(users)}" if users else ""
    if why is None:
        cli = _bundled_cli()
        if cli is not None and not os.access(cli, os.X_OK):
            return Check("agents", FAIL, f"andon; claude-code: the bundled CLI {cli} is "
                         "not executable" + named, f"reinstall: {backend.INSTALL}")
        return Check("agents", OK, f"andon; {backend.version(backend.CLAUDE_CODE)}{named}")
    if users:
        return Check("agents", FAIL, f"andon; claude-code is not installed{named}",
                     backend.INSTALL)
    return Check("agents", OK, "andon; claude-code not installed (no category chooses it)",
                 f"to let a category or spec choose `agent: claude-code`: {backend.INSTALL}")


def _claude_code_categories(home: Home) -> list[str]:
    if not home.db_path.exists():
        return []
    from andon.policies.stored import stored_policies
    from andon.store.db import Database

    db = Database(home.db_path)
    try:
        return [name for name, p in stored_policies(db).items() if p.agent == "claude-code"]
    finally:
        db.close()


def _bundled_cli() -> Path | None:
    import importlib.util

    found = importlib.util.find_spec("claude_agent_sdk")
    if found is None or not found.submodule_search_locations:
        return None
    cli = Path(next(iter(found.submodule_search_locations))) / "_bundled" / "claude"
    return cli if cli.exists() else None


DISK_LOW = 64 * 1024 * 1024  # bytes free below which the home's disk counts as full


def check_disk(home: Home) -> Check:
    """A full disk holds every run (nothing is lost, but nothing moves): say so."""
    usage = shutil.disk_usage(home.root)
    free = f"{usage.free / 2**20:.0f} MB free of {usage.total / 2**20:.0f} MB"
    if usage.free < min(DISK_LOW, usage.total // 10):
        return Check("disk", FAIL, f"the disk holding {home.root} is full ({free}): runs "
                     "are held until there is space", f"free some space on that disk "
                     "(old worktrees: [engine] keep_worktrees; logs in "
                     f"{home.logs})")
    if usage.free < usage.total // 20:
        return Check("disk", WARN, f"the disk holding {home.root} is nearly full ({free})",
                     "free some space before runs are held for it")
    return Check("disk", OK, free)


def run_checks(home: Home) -> list[Check]:
    checks: list[Callable[[], Check]] = [
        lambda: check_home(home), lambda: check_permissions(home),
        lambda: check_config(home), lambda: check_database(home),
        lambda: check_disk(home), check_git, check_bwrap, lambda: check_setup(home),
        lambda: check_api_key(home), lambda: check_model(home), lambda: check_agents(home),
        lambda: check_daemon(home),
    ]
    results = []
    for check in checks:
        try:
            results.append(check())
        except Exception as exc:  # a broken check must not hide the others
            results.append(Check(getattr(check, "__name__", "check"), FAIL,
                                 f"the check itself failed: {type(exc).__name__}: {exc}"))
    return results


def healthy(checks: list[Check]) -> bool:
    return all(c.status != FAIL for c in checks)
