"""A remote for every forge test: a bare repository (the forge's copy) that a working
clone pushes to, and the stand-in forge serving it on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import git, make_repo
from tests.support.forge import GitHubStandIn, GitLabStandIn, StandIn

TOKEN = "t0ken-for-tests"
PROJECT = "acme/shop"


def make_remote(tmp_path: Path) -> tuple[Path, Path]:
    """(the working repository, its bare remote `origin` holding main)."""
    work = make_repo(tmp_path / "work")
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(work, "remote", "add", "origin", str(bare))
    git(work, "push", "-q", "origin", "main")
    return work, bare


def push_branch(work: Path, branch: str, name: str, text: str) -> str:
    """A commit on `branch` (from main) with one file, pushed to origin; its sha."""
    git(work, "checkout", "-q", "-B", branch, "main")
    (work / name).write_text(text)
    git(work, "add", name)
    git(work, "commit", "-q", "-m", f"change {name}")
    git(work, "push", "-q", "-f", "origin", branch)
    git(work, "checkout", "-q", "main")
    return git(work, "rev-parse", branch)


@pytest.fixture(params=["github", "gitlab"])
def forge_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def remote(tmp_path: Path) -> tuple[Path, Path]:
    return make_remote(tmp_path)


@pytest.fixture
def stand_in(forge_kind: str, remote: tuple[Path, Path]) -> Iterator[StandIn]:
    cls = GitHubStandIn if forge_kind == "github" else GitLabStandIn
    with cls(remote[1], PROJECT, TOKEN) as forge:
        yield forge
