"""`andon submit` refuses a spec that can never run here: one error naming the file, the
field and the value, exit 2, and nothing written (no spec row, no run)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from andon.engine.factory.home import Home
from andon.store import models as m
from andon.store.db import Database
from tests.conftest import git, name_repo, write_spec
from tests.tui.cli.test_policies import Result, cli

SCRIPT = "turns:\n  - text: Nothing to do.\n"


@pytest.fixture
def andon(home: Home, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    def run(*args: str) -> Result:
        return cli(home, *args, monkeypatch=monkeypatch, capsys=capsys)
    return run


@pytest.fixture
def factory(home: Home, sample_repo: Path) -> Home:
    name_repo(home, sample_repo)
    git(sample_repo, "branch", "release")
    (home.scenarios / "slugify").mkdir()
    return home


def spec(folder: Path, *, with_script: bool = True, **fields: str) -> Path:
    front = {"title": "Add slugify", "category": "feature", "repo": "sample",
             "model": "scripted", **fields}
    text = "\n".join(f"{k}: {v}" for k, v in front.items() if v != "")
    return write_spec(folder, "slugify", text, script=SCRIPT if with_script else None)


def nothing_written(db: Database) -> bool:
    with db.read() as s:
        return not s.exec(select(m.Run)).all() and not s.exec(select(m.Spec)).all()


def test_a_spec_that_can_run_is_queued(tmp_path: Path, factory: Home, db: Database,
                                       andon) -> None:  # type: ignore[no-untyped-def]
    for fields in ({}, {"base": "release"}, {"scenarios": "slugify"},
                   {"repo": str(factory.config.repos["sample"].path)}):
        done = andon("submit", str(spec(tmp_path / str(len(fields)), **fields)), "--json")
        assert done.code == 0, done.err
        assert done.err == ""  # a scripted spec needs no key: no warning


@pytest.mark.parametrize(("fields", "said"), [
    ({"repo": "nowhere"}, "field 'repo': 'nowhere' is neither a repository named in"),
    ({"base": "trunk"}, "field 'base': branch 'trunk' does not exist in"),
    ({"category": "poetry"}, "field 'category': no policy for category 'poetry' (known: "),
    ({"scenarios": "missing"}, "field 'scenarios': 'missing': no folder"),
    ({"script": "other.yaml"}, "field 'script': 'other.yaml': no such file"),
    ({"catgory": "docs", "category": ""},
     "unknown field 'catgory' (did you mean 'category'?)"),
], ids=["repo", "base", "category", "scenarios", "script", "typo"])
def test_a_spec_that_can_never_run_queues_nothing(
        tmp_path: Path, factory: Home, db: Database, andon,  # type: ignore[no-untyped-def]
        fields: dict[str, str], said: str) -> None:
    path = spec(tmp_path, **fields)
    refused = andon("submit", str(path))
    assert refused.code == 2
    message = " ".join(refused.err.split())
    assert message.startswith(f"error: {path}: {said}"), message
    assert "more problem" not in message and "Traceback" not in message
    assert nothing_written(db)


def test_a_scripted_spec_without_a_script_is_refused(tmp_path: Path, factory: Home,
                                                     db: Database, andon) -> None:  # type: ignore[no-untyped-def]
    path = spec(tmp_path, with_script=False)
    refused = andon("submit", str(path))
    assert refused.code == 2
    assert f"{path}: field 'model': the scripted model needs a script" in refused.err
    assert nothing_written(db)


def test_a_broken_andon_toml_is_refused_before_the_spec(
        tmp_path: Path, factory: Home, db: Database, andon) -> None:  # type: ignore[no-untyped-def]
    factory.config_path.write_text('[engine]\ncheck_timeout = "10"\n')
    refused = andon("submit", str(spec(tmp_path)))
    assert refused.code == 2
    assert f'{factory.config_path}: [engine] check_timeout = "10"' in refused.err
    assert nothing_written(db)


def test_one_bad_spec_among_several_queues_none(tmp_path: Path, factory: Home,
                                                db: Database, andon) -> None:  # type: ignore[no-untyped-def]
    good = spec(tmp_path / "good")
    bad = spec(tmp_path / "bad", base="trunk")
    assert andon("submit", str(good), str(bad)).code == 2
    assert nothing_written(db)


def test_an_anthropic_spec_with_no_key_is_queued_with_a_warning(
        tmp_path: Path, factory: Home, db: Database, andon) -> None:  # type: ignore[no-untyped-def]
    done = andon("submit", str(spec(tmp_path, model="anthropic", with_script=False)))
    assert done.code == 0, done.err
    assert "warning: ANTHROPIC_API_KEY is not set here" in " ".join(done.err.split())
    assert "queued run 1" in done.out


def test_a_model_with_no_price_is_refused_saying_how_to_set_one(
        tmp_path: Path, factory: Home, db: Database, andon) -> None:  # type: ignore[no-untyped-def]
    path = spec(tmp_path, model="claude-mythos-preview", with_script=False)
    refused = andon("submit", str(path))
    assert refused.code == 2
    message = " ".join(refused.err.split())
    assert message.startswith(f"error: {path}: field 'model': model 'claude-mythos-preview' "
                              "has no price"), message
    assert '[prices."claude-mythos-preview"] input = 3.0, output = 15.0' in message
    assert nothing_written(db)

    with factory.config_path.open("a", encoding="utf-8") as fh:  # a price, as it says
        fh.write('\n[prices."claude-mythos-preview"]\ninput = 3.0\noutput = 15.0\n')
    done = andon("submit", str(path))
    assert done.code == 0, done.err
    assert "queued run 1" in done.out
