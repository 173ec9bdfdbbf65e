"""A factory whose repository is delivered through a stand-in forge: the working clone,
its bare remote, the stand-in serving it, and the andon.toml naming them."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from andon.engine.factory.home import Home
from andon.engine.run.control import RunControl
from andon.engine.run.queue import submit
from andon.policies.policy import Policy
from andon.policies.stored import save_policies
from andon.store import models as m
from andon.store.db import Database
from tests.conftest import GIT_ENV, git, make_repo, write_spec
from tests.support.forge.github import GitHubStandIn
from tests.support.forge.gitlab import GitLabStandIn
from tests.support.forge.server import StandIn

TOKEN = "t0ken-for-tests"
TOKEN_ENV = "FORGE_TEST_TOKEN"
PROJECT = "acme/shop"
CATEGORY = "forge"


@dataclass
class ForgeFactory:
    home: Home
    db: Database
    work: Path  # the factory's clone (origin = the bare remote)
    bare: Path
    forge: StandIn
    kind: str

    @property
    def name(self) -> str:
        return "GitHub" if self.kind == "github" else "GitLab"

    @property
    def required(self) -> str:
        return "ci" if self.kind == "github" else "pipeline"

    def require_ci(self, ci: Any) -> None:
        """Turn on the required CI, whose verdicts `ci(sha)` gives ({name: (state, text)})."""
        if isinstance(self.forge, GitHubStandIn):
            self.forge.required = ["ci"]
        else:
            assert isinstance(self.forge, GitLabStandIn)
            self.forge.pipelines_must_succeed = True
        self.forge.ci = ci

    def file_at(self, sha: str, name: str) -> str | None:
        proc = subprocess.run(["git", "show", f"{sha}:{name}"], cwd=self.bare,
                              capture_output=True, text=True, check=False)
        return proc.stdout if proc.returncode == 0 else None

    def remote_main(self) -> str:
        return git(self.bare, "rev-parse", "main")

    def push_to_remote(self, tmp: Path, branch: str, name: str, text: str) -> str:
        """Someone else's commit on the remote's `branch` (from another clone)."""
        other = tmp / f"other-{branch.replace('/', '-')}"
        if not other.exists():
            git(tmp, "clone", "-q", str(self.bare), str(other))
        git(other, "fetch", "-q", "origin")
        git(other, "checkout", "-q", "-B", branch, f"origin/{branch}")
        (other / name).write_text(text)
        git(other, "add", name)
        git(other, "commit", "-q", "-m", f"someone else's {name}")
        git(other, "push", "-q", "origin", f"{branch}:{branch}")
        return git(other, "rev-parse", "HEAD")

    def set_policy(self, level: int = 4, **fields: Any) -> None:
        fields.setdefault("max_attempts", 3)
        save_policies(self.db, [Policy(category=CATEGORY, level=level, **fields)],
                      user="tester")

    def queue(self, folder: Path, name: str, attempts: list[list[dict[str, Any]]],
              extra: str = "") -> int:
        path = write_spec(folder, name, f"title: {name} change\ncategory: {CATEGORY}\n"
                          f"repo: shop\nmodel: scripted\n{extra}",
                          script=json.dumps({"attempts": attempts}))
        return submit(self.db, path).id or 0

    def run(self, run_id: int) -> m.Run:
        with self.db.read() as s:
            run = s.get(m.Run, run_id)
            assert run is not None
            return run

    def rows(self, model: Any, run_id: int) -> list[Any]:
        from sqlmodel import col, select

        with self.db.read() as s:
            return list(s.exec(select(model).where(model.run_id == run_id)
                               .order_by(col(model.id))).all())


def edit(path: str, text: str) -> dict[str, Any]:
    return {"name": "str_replace_based_edit_tool",
            "input": {"command": "create", "path": path, "file_text": text}}


def configure(home: Home, work: Path, kind: str, url: str, extra: str = "") -> None:
    home.config_path.write_text(
        '[engine]\nprovider = "scripted"\nforge_poll = 0.02\nforge_backoff = [0.02, 0.1]\n'
        f'\n[repos.shop]\npath = "{work}"\nbase = "main"\nforge = "{kind}"\n'
        f'project = "{PROJECT}"\napi = "{url}"\ntoken_env = "{TOKEN_ENV}"\n{extra}\n')
    home.reload()


@contextmanager
def forge_factory(tmp: Path, home: Home, db: Database, kind: str,
                  extra: str = "") -> Iterator[ForgeFactory]:
    work = make_repo(tmp / "work")
    bare = tmp / "remote.git"
    git(tmp, "init", "-q", "--bare", "-b", "main", str(bare))
    git(work, "remote", "add", "origin", str(bare))
    git(work, "push", "-q", "origin", "main")
    cls = GitHubStandIn if kind == "github" else GitLabStandIn
    with cls(bare, PROJECT, TOKEN) as forge:
        configure(home, work, kind, forge.url, extra)
        yield ForgeFactory(home, db, work, bare, forge, kind)


def in_thread(pipeline: Any) -> tuple[threading.Thread, list[str]]:
    """Run `pipeline.execute()` in a thread; the list receives its status."""
    out: list[str] = []
    thread = threading.Thread(target=lambda: out.append(pipeline.execute()), daemon=True)
    thread.start()
    return thread, out


def control(db: Database, run_id: int) -> tuple[RunControl, threading.Event]:
    stop = threading.Event()
    return RunControl(db, run_id, stop=stop), stop


__all__ = ["GIT_ENV", "TOKEN", "TOKEN_ENV"]
