"""Shared fixtures: real homes, real SQLite files, real git repositories."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from andon.engine.factory.home import Home
from andon.engine.workspace.sandbox import bwrap_available
from andon.store.db import Database
from tests.support.postgres import pg_cluster, pg_url  # noqa: F401  (a real PostgreSQL)
from tests.support.tui import seeded  # noqa: F401  (the control room's seeded factory)
from tests.support.walls import outside_tmp_folder

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Tester", "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "Tester", "GIT_COMMITTER_EMAIL": "t@example.com",
}


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the user's real home, factory or API key."""
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.delenv("ANDON_DATABASE_URL", raising=False)
    monkeypatch.setenv("ANDON_HOME", str(tmp_path / "default-home"))
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "core.hooksPath=/dev/null", *args], cwd=cwd, check=True,
        capture_output=True, text=True, env={**os.environ, **GIT_ENV},
    ).stdout.strip()


SAMPLE_FILES = {
    ".gitignore": "__pycache__/\n.pytest_cache/\n",
    "README.md": "# sample\n\nA tiny package the factory works on.\n",
    "sample/__init__.py": "",
    "sample/text.py": textwrap.dedent('''\
        """Text helpers."""


        def shout(text: str) -> str:
            return text.upper() + "!"
        '''),
    "tests/test_text.py": textwrap.dedent('''\
        from sample.text import shout


        def test_shout():
            assert shout("hi") == "HI!"
        '''),
}


def make_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    for name, text in (files or SAMPLE_FILES).items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    return path


@pytest.fixture
def sample_repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "sample")


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    h = Home(tmp_path / "home")
    db = h.init()
    db.close()
    yield h


def name_repo(home: Home, repo: Path, name: str = "sample") -> Path:
    """Name a repository in the home's andon.toml (`repo: NAME` in a spec), as a person
    would: `andon submit` admits only specs whose repository exists."""
    with home.config_path.open("a", encoding="utf-8") as fh:
        fh.write(f'\n[repos.{name}]\npath = "{repo}"\n')
    home.reload()
    return repo


@pytest.fixture
def db(home: Home) -> Iterator[Database]:
    database = home.open()
    yield database
    database.close()


def write_spec(folder: Path, name: str, front: str, body: str = "# Intent\nDo it.\n",
               script: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.md"
    path.write_text(f"---\n{textwrap.dedent(front).strip()}\n---\n{body}")
    if script is not None:
        (folder / f"{name}.script.yaml").write_text(textwrap.dedent(script))
    return path


def requires(tool: str) -> pytest.MarkDecorator:
    """Skip, saying why, when a system tool is missing (CI installs them all); for
    bubblewrap, when it does not work here (installed is not enough: user namespaces
    may be off)."""
    if tool == "bwrap":
        works, why = bwrap_available()
        return pytest.mark.skipif(not works, reason=f"needs a working bubblewrap: {why}")
    return pytest.mark.skipif(shutil.which(tool) is None,
                              reason=f"needs '{tool}' installed (apt-get install {tool})")


@pytest.fixture
def outside_tmp() -> Iterator[Path]:
    """A fresh folder outside /tmp, removed afterwards (symlinks in it not followed)."""
    folder = outside_tmp_folder()
    if folder is None:
        pytest.skip("no writable folder outside /tmp (set ANDON_TEST_TMP)")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
