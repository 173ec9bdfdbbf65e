"""Where a factory's state lives: andon.db in the home, or a PostgreSQL server named by
`[store] url` or ANDON_DATABASE_URL, shared by homes on any number of hosts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from andon.engine.errors import UserError
from andon.engine.factory.config import ConfigError
from andon.engine.factory.home import Home
from tests.engine.spec.test_specfile import GOOD

ANDON = [sys.executable, "-m", "andon.tui"]


def _home(root: Path, url: str, repo: Path) -> Path:
    root.mkdir(parents=True)
    (root / "andon.toml").write_text(
        f'[store]\nurl = "{url}"\n\n[repos.sample]\npath = "{repo}"\n', encoding="utf-8")
    return root


@pytest.mark.timeout(300)  # four CLI processes: minutes on a loaded machine
def test_homes_on_two_hosts_share_one_postgres_factory(tmp_path: Path, pg_url: str,
                                                       sample_repo: Path) -> None:
    """One home submits; another (another host's, with its own folder) sees the run;
    neither keeps an andon.db."""
    here = _home(tmp_path / "host-a", pg_url, sample_repo)
    there = _home(tmp_path / "host-b", pg_url, sample_repo)
    spec = tmp_path / "s.md"
    spec.write_text(GOOD)
    for root in (here, there):
        subprocess.run([*ANDON, "--home", str(root), "init"], check=True, capture_output=True,
                       timeout=300)
    subprocess.run([*ANDON, "--home", str(here), "submit", str(spec)], check=True,
                   capture_output=True, timeout=300)
    out = subprocess.run([*ANDON, "--home", str(there), "runs", "--json"], check=True,
                         capture_output=True, text=True, timeout=300)
    assert [r["title"] for r in json.loads(out.stdout)] == ["Add a slugify helper"]
    assert not (here / "andon.db").exists() and not (there / "andon.db").exists()


def test_the_environment_names_the_database_before_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = Home(tmp_path / "home")
    home.root.mkdir()
    home.config_path.write_text('[store]\nurl = "postgresql://a@file-host/andon"\n')
    assert home.database() == "postgresql://a@file-host/andon"
    monkeypatch.setenv("ANDON_DATABASE_URL", "postgresql://b@env-host/andon")
    assert home.database() == "postgresql://b@env-host/andon"
    monkeypatch.delenv("ANDON_DATABASE_URL")
    home.config_path.write_text("")
    home.reload()
    assert home.database() == home.db_path


def test_a_url_that_is_not_postgres_is_refused_naming_where_it_came_from(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = Home(tmp_path / "home")
    home.root.mkdir()
    home.config_path.write_text('[store]\nurl = "mysql://a@db/andon"\n')
    with pytest.raises(ConfigError) as err:
        home.database()
    assert str(err.value).startswith(f"{home.config_path}: [store] url = \"mysql://a@db/andon\"")
    assert "PostgreSQL URL" in str(err.value)

    home.config_path.write_text("")
    home.reload()
    monkeypatch.setenv("ANDON_DATABASE_URL", "/var/lib/andon.db")
    with pytest.raises(UserError, match="ANDON_DATABASE_URL: must be a PostgreSQL URL"):
        home.database()
    assert os.listdir(home.root) == ["andon.toml"]  # nothing made


def test_the_demo_never_uses_a_database_named_in_the_environment(tmp_path: Path) -> None:
    env = {**os.environ, "ANDON_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    out = subprocess.run([*ANDON, "demo", "--home", str(tmp_path / "demo"), "--headless", "0"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "demo" / "andon.db").exists()
