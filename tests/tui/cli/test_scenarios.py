"""`andon scenarios add NAME FOLDER`: a spec's holdout scenarios, kept beside the spec,
copied into the home (out of the agent's reach) with one command; a spec naming them
is then accepted by `andon submit`."""

from __future__ import annotations

from pathlib import Path

import pytest

from andon.engine.factory.home import Home
from tests.conftest import name_repo
from tests.engine.spec.test_specfile import GOOD
from tests.tui.cli.test_policies import Result, cli


@pytest.fixture
def andon(home: Home, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    def run(*args: str) -> Result:
        return cli(home, *args, monkeypatch=monkeypatch, capsys=capsys)
    return run


def scenario_folder(at: Path) -> Path:
    at.mkdir(parents=True)
    check = at / "slug.sh"
    check.write_text("#!/bin/sh\n# title: slugify keeps digits\nexit 0\n")
    check.chmod(0o755)
    (at / "story.md").write_text("# A title becomes a readable URL\n")
    (at / "helper.txt").write_text("data a check reads\n")
    return at


def test_a_scenario_set_is_added_and_a_spec_naming_it_is_accepted(
        andon, home: Home, tmp_path: Path, sample_repo: Path) -> None:
    name_repo(home, sample_repo)
    spec = tmp_path / "specs" / "slugify.md"
    spec.parent.mkdir()
    spec.write_text(GOOD.replace("priority: 5", "priority: 5\nscenarios: slugify"))
    refused = andon("submit", str(spec))
    assert refused.code == 2 and "scenarios" in refused.err

    source = scenario_folder(tmp_path / "specs" / "slugify.scenarios")
    added = andon("scenarios", "add", "slugify", str(source), "--json")
    assert added.code == 0, added.err
    assert {(s["title"], s["kind"]) for s in added.json()["scenarios"]} == {
        ("slugify keeps digits", "check"), ("A title becomes a readable URL", "story")}
    copied = home.scenarios / "slugify"
    assert (copied / "helper.txt").read_text() == "data a check reads\n"
    assert (copied / "slug.sh").stat().st_mode & 0o111  # still a check

    accepted = andon("submit", str(spec))
    assert accepted.code == 0, accepted.err
    listed = andon("scenarios")
    assert "slugify: 1 check(s), 1 story(ies)" in listed.out


def test_a_set_is_replaced_only_when_asked_and_bad_input_names_the_value(
        andon, home: Home, tmp_path: Path) -> None:
    first = scenario_folder(tmp_path / "one")
    assert andon("scenarios", "add", "slug", str(first)).code == 0
    second = tmp_path / "two"
    second.mkdir()
    (second / "only.md").write_text("# The one story left\n")

    again = andon("scenarios", "add", "slug", str(second))
    assert again.code == 2 and "add --replace" in again.err
    assert (home.scenarios / "slug" / "slug.sh").exists()  # untouched

    assert andon("scenarios", "add", "slug", str(second), "--replace").code == 0
    assert sorted(p.name for p in (home.scenarios / "slug").iterdir()) == ["only.md"]
    assert [p.name for p in home.scenarios.iterdir()] == ["slug"]  # nothing left over

    bad = andon("scenarios", "add", "../out", str(second))
    assert bad.code == 2 and "scenario set name '../out'" in bad.err
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a scenario\n")
    none = andon("scenarios", "add", "x", str(empty))
    assert none.code == 2 and f"scenario folder {empty}: holds no scenario" in none.err
