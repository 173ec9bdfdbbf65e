"""The inbox: spec files dropped into a folder are validated and queued.

Watched folders: the home's `inbox/`, plus any listed in andon.toml::

    [inbox]
    folders = ["~/specs/drop"]

Every `*.md` file directly in a watched folder is taken once it has stopped changing
for a moment (so a half-written file is not judged). It is admitted exactly as `andon
submit` admits (`engine.service.admission`: category, repository, base branch, script,
scenarios). A good spec is moved to `accepted/` beside it (with its `<name>.script.yaml`,
if any) and queued. A bad one is moved to `rejected/` with `<name>.md.error` beside it
saying what is wrong; nothing is queued. While andon.toml itself is broken nothing is
judged: the files wait in the inbox, since the fault is not theirs. A file of the same
name dropped again replaces the earlier one (and updates the stored spec, as a resubmit
does).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from andon.engine.errors import UserError
from andon.engine.factory.config import ConfigError
from andon.engine.factory.home import Home
from andon.engine.run.queue import enqueue, upsert_spec
from andon.engine.service.admission import admit
from andon.engine.spec.specfile import Spec
from andon.store import models as m
from andon.store.db import Database

log = logging.getLogger("andon.inbox")

ACCEPTED = "accepted"
REJECTED = "rejected"
SETTLE_SECONDS = 0.3
SCRIPT_SUFFIXES = (".script.yaml", ".script.yml")


@dataclass
class InboxResult:
    queued: list[tuple[Path, int]] = field(default_factory=list)  # (accepted file, run id)
    rejected: list[tuple[Path, str]] = field(default_factory=list)  # (rejected file, why)


def folders(home: Home) -> list[Path]:
    """The home's inbox and the configured extra folders (that exist)."""
    found = [home.inbox]
    for entry in home.config.inbox.folders:
        path = Path(str(entry)).expanduser()
        if not path.is_absolute():
            path = (home.root / path).resolve()
        if path not in found:
            found.append(path)
    return found


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _script_beside(path: Path) -> Path | None:
    for suffix in SCRIPT_SUFFIXES:
        candidate = path.with_name(path.stem + suffix)
        if candidate.exists():
            return candidate
    return None


def _settled(path: Path, settle: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime >= settle
    except FileNotFoundError:
        return False


def _absolute_repo(home: Home, spec: Spec) -> Spec:
    """A repo given as a relative path is made absolute now, since the file is about to
    move (admission has checked it exists)."""
    repo = spec.front.repo
    if repo in home.config.repos:
        return spec
    path = Path(repo).expanduser()
    if not path.is_absolute():
        path = (spec.path.parent / path).resolve()
    update: dict[str, object] = {"repo": str(path)}
    if spec.front.script and spec.script_path is not None:
        beside = _script_beside(spec.path)
        if beside is None or spec.script_path != beside.resolve():
            update["script"] = str(spec.script_path)  # an explicit path elsewhere: keep it
    return spec.model_copy(update={"front": spec.front.model_copy(update=update)})


def _reject(path: Path, reason: str) -> Path:
    target_dir = _private_dir(path.parent / REJECTED)
    target = target_dir / path.name
    os.replace(path, target)
    beside = _script_beside(path)
    if beside is not None:
        os.replace(beside, target_dir / beside.name)
    error = target.with_name(target.name + ".error")
    error.write_text(reason.rstrip() + "\n", encoding="utf-8")
    error.chmod(0o600)
    return target


def take(home: Home, db: Database, path: Path, *, reason: str = "inbox") -> tuple[Path, int]:
    """Validate one dropped spec, move it to accepted/ and queue a run.

    Raises UserError (after moving the file to rejected/ with its .error) when it is bad,
    ConfigError (leaving the file where it is) when andon.toml is.
    """
    try:
        admitted = admit(home, db, path)
        spec = _absolute_repo(home, admitted.spec)
    except ConfigError:  # the factory's fault, not the spec's
        raise
    except UserError as exc:
        _reject(path, str(exc))
        raise
    for warning in admitted.warnings:
        log.warning("inbox: %s: %s", path.name, warning)
    target_dir = _private_dir(path.parent / ACCEPTED)
    target = target_dir / path.name
    beside = _script_beside(path)
    os.replace(path, target)
    if beside is not None:
        os.replace(beside, target_dir / beside.name)
    stale_error = target_dir / (path.name + ".error")
    stale_error.unlink(missing_ok=True)
    moved = spec.model_copy(update={"path": target.resolve()})
    try:
        row: m.Spec = upsert_spec(db, moved)
        run = enqueue(db, row, reason=f"{reason}: {path.name}")
    except BaseException:  # not queued: put it back, so the next pass tries again
        os.replace(target, path)
        if beside is not None:
            os.replace(target_dir / beside.name, beside)
        raise
    return target, run.id or 0


def scan(home: Home, db: Database, *, settle: float = SETTLE_SECONDS) -> InboxResult:
    """One pass over every watched folder."""
    result = InboxResult()
    try:
        watched = folders(home)
    except ConfigError as exc:  # judge nothing until the factory's settings read
        log.warning("inbox: not looking until andon.toml is fixed: %s", exc)
        return result
    for folder in watched:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.md")):
            if not path.is_file() or not _settled(path, settle):
                continue
            try:
                target, run_id = take(home, db, path)
            except ConfigError as exc:  # judge nothing until the factory's settings read
                log.warning("inbox: leaving %s until andon.toml is fixed: %s", path.name, exc)
                return result
            except UserError as exc:
                target = folder / REJECTED / path.name
                log.warning("inbox: rejected %s: %s", path.name, exc)
                result.rejected.append((target, str(exc)))
                continue
            except OSError as exc:  # vanished or unreadable meanwhile: try again later
                log.warning("inbox: could not take %s: %s", path, exc)
                continue
            except Exception:  # the store failed; the file is back in the inbox
                log.exception("inbox: could not queue %s; will try again", path.name)
                continue
            log.info("inbox: queued run %s from %s", run_id, path.name)
            result.queued.append((target, run_id))
    return result


def ensure_folders(home: Home) -> None:
    """Create the home's inbox (configured folders are the user's to create)."""
    _private_dir(home.inbox)
