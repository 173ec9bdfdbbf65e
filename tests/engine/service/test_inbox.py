"""The inbox: dropped specs are validated; good ones move to accepted/ and are queued,
bad ones move to rejected/ beside an .error file saying why, and nothing is queued."""

from __future__ import annotations

import os
import time
from pathlib import Path

from sqlmodel import select

from andon.engine.factory.home import Home
from andon.engine.service import inbox
from andon.store import models as m
from andon.store.db import Database
from tests.conftest import write_spec

GOOD = """
title: Add a docs page
category: docs
repo: {repo}
model: scripted
"""
SCRIPT = "turns:\n  - text: done\n"


def _age(path: Path, seconds: float = 5) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_good_specs_queue_and_bad_ones_are_rejected_with_the_reason(
        home: Home, db: Database, sample_repo: Path) -> None:
    good = write_spec(home.inbox, "docs-page", GOOD.format(repo=sample_repo),
                      script="turns:\n  - text: done\n")
    bad = write_spec(home.inbox, "typo", f"""
        title: Broken
        category: docs
        repo: {sample_repo}
        chekcs: ["pytest"]
        """)
    no_front = home.inbox / "notes.md"
    no_front.write_text("just some notes\n")
    for path in (good, bad, no_front, good.with_name("docs-page.script.yaml")):
        _age(path)

    result = inbox.scan(home, db)

    assert [p.name for p, _ in result.queued] == ["docs-page.md"]
    accepted = home.inbox / "accepted"
    assert (accepted / "docs-page.md").exists()
    assert (accepted / "docs-page.script.yaml").exists()  # the script went with it
    assert not good.exists()
    with db.read() as s:
        runs = s.exec(select(m.Run)).all()
        assert [(r.title, r.status) for r in runs] == [("Add a docs page", "queued")]
        spec = s.get(m.Spec, runs[0].spec_id)
        assert spec is not None
        assert spec.path == str((accepted / "docs-page.md").resolve())
        assert spec.script == str((accepted / "docs-page.script.yaml").resolve())
        events = s.exec(select(m.Event).where(m.Event.run_id == runs[0].id)).all()
        assert "docs-page.md" in events[0].message

    rejected = home.inbox / "rejected"
    assert sorted(p.name for p in rejected.iterdir()) == [
        "notes.md", "notes.md.error", "typo.md", "typo.md.error"]
    why = (rejected / "typo.md.error").read_text()
    assert "unknown field 'chekcs' (did you mean 'checks'?)" in why
    assert "front matter" in (rejected / "notes.md.error").read_text()
    assert oct((rejected / "typo.md.error").stat().st_mode & 0o777) == "0o600"
    assert {p.name for p, _ in result.rejected} == {"typo.md", "notes.md"}

    # A second pass finds nothing new.
    again = inbox.scan(home, db)
    assert not again.queued and not again.rejected


def test_a_file_still_being_written_waits(home: Home, db: Database,
                                          sample_repo: Path) -> None:
    fresh = write_spec(home.inbox, "fresh", GOOD.format(repo=sample_repo), script=SCRIPT)
    assert not inbox.scan(home, db, settle=2.0).queued
    assert fresh.exists()
    _age(fresh)
    assert len(inbox.scan(home, db, settle=2.0).queued) == 1


def test_unknown_repo_is_rejected_and_relative_repo_made_absolute(
        home: Home, db: Database, sample_repo: Path) -> None:
    missing = write_spec(home.inbox, "nowhere", GOOD.format(repo="no-such-repo"),
                         script=SCRIPT)
    rel = os.path.relpath(sample_repo, home.inbox)
    relative = write_spec(home.inbox, "relative", GOOD.format(repo=rel), script=SCRIPT)
    _age(missing)
    _age(relative)
    result = inbox.scan(home, db)
    assert [p.name for p, _ in result.rejected] == ["nowhere.md"]
    why = (home.inbox / "rejected" / "nowhere.md.error").read_text()
    assert "field 'repo'" in why and "no-such-repo" in why
    with db.read() as s:
        spec = s.exec(select(m.Spec)).one()
    assert Path(spec.repo) == sample_repo.resolve()


def test_a_configured_folder_is_watched_too(home: Home, db: Database, tmp_path: Path,
                                            sample_repo: Path) -> None:
    drop = tmp_path / "drop"
    home.config_path.write_text(home.config_path.read_text()
                                + f'\n[inbox]\nfolders = ["{drop}"]\n')
    home.reload()
    spec = write_spec(drop, "elsewhere", GOOD.format(repo=sample_repo), script=SCRIPT)
    _age(spec)
    result = inbox.scan(home, db)
    assert [p for p, _ in result.queued] == [drop / "accepted" / "elsewhere.md"]


def test_the_inbox_admits_as_submit_does(home: Home, db: Database,
                                         sample_repo: Path) -> None:
    """A spec that parses but cannot run here (no such base branch, no script, no
    policy for its category) is rejected with the field named, as `andon submit` would."""
    no_base = write_spec(home.inbox, "no-base", GOOD.format(repo=sample_repo)
                         + "base: no-such-branch\n", script=SCRIPT)
    no_script = write_spec(home.inbox, "no-script", GOOD.format(repo=sample_repo))
    no_policy = write_spec(home.inbox, "no-policy",
                           GOOD.format(repo=sample_repo).replace("docs", "astrology"),
                           script=SCRIPT)
    for path in (no_base, no_script, no_policy):
        _age(path)
    result = inbox.scan(home, db)
    assert not result.queued
    assert sorted(p.name for p, _ in result.rejected) == [
        "no-base.md", "no-policy.md", "no-script.md"]
    rejected = home.inbox / "rejected"
    assert "field 'base'" in (rejected / "no-base.md.error").read_text()
    assert "no-such-branch" in (rejected / "no-base.md.error").read_text()
    assert "field 'model'" in (rejected / "no-script.md.error").read_text()
    assert "astrology" in (rejected / "no-policy.md.error").read_text()
    with db.read() as s:
        assert s.exec(select(m.Run)).all() == []


def test_while_andon_toml_is_broken_the_inbox_judges_nothing(
        home: Home, db: Database, sample_repo: Path) -> None:
    good = write_spec(home.inbox, "docs-page", GOOD.format(repo=sample_repo), script=SCRIPT)
    _age(good)
    settings = home.config_path.read_text()
    home.config_path.write_text(settings + "\n[engine]\nconcurency = 5\n")
    home.reload()
    result = inbox.scan(home, db)
    assert not result.queued and not result.rejected
    assert good.exists() and not (home.inbox / "rejected").exists()  # not the spec's fault
    home.config_path.write_text(settings)
    home.reload()
    assert [p.name for p, _ in inbox.scan(home, db).queued] == ["docs-page.md"]
