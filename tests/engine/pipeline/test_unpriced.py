"""A queued run whose model lost its price refuses to start: a dollar budget is never
silently skipped."""

from __future__ import annotations

from pathlib import Path

from andon.engine.factory.home import Home
from andon.engine.pipeline.stages import Pipeline
from andon.engine.service.admission import submit
from andon.store import models as m
from andon.store.db import Database
from tests.conftest import name_repo, write_spec

PRICE = '\n[prices."claude-mythos-preview"]\ninput = 3.0\noutput = 15.0\n'


def test_a_queued_run_whose_model_has_no_price_fails_before_any_call(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    name_repo(home, sample_repo)
    before = home.config_path.read_text()
    home.config_path.write_text(before + PRICE)
    home.reload()
    spec = write_spec(tmp_path / "specs", "x", "title: x\ncategory: feature\nrepo: sample\n"
                      "model: claude-mythos-preview\n")
    (run,), _ = submit(home, db, [spec])  # priced when it was queued
    home.config_path.write_text(before)  # then the price went
    home.reload()

    assert Pipeline(home, db, run.id or 0).execute() == m.FAILED
    with db.read() as s:
        ended = s.get(m.Run, run.id)
        calls = s.exec(m.Usage.__table__.select()).all()  # type: ignore[attr-defined]
    assert ended is not None and ended.reason is not None
    assert ended.reason.startswith("model 'claude-mythos-preview' has no price")
    assert '[prices."claude-mythos-preview"]' in ended.reason
    assert ended.worktree is None and calls == []  # nothing prepared, nothing asked
