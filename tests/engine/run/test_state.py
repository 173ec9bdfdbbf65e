"""The pipeline's progress is one typed object, loaded once and written through."""

from __future__ import annotations

import pytest

from andon.engine.run.state import PipelineState, Progress, Pull, RevertPull
from andon.store import models as m
from andon.store.db import Database


def _run(db: Database, data: dict[str, object]) -> int:
    with db.write() as s:
        spec = m.Spec(path="/specs/x.md", title="X", category="feature", repo="r")
        s.add(spec)
        s.flush()
        run = m.Run(spec_id=spec.id or 0, title="X", category="feature", data=data)
        s.add(run)
        s.flush()
        return run.id or 0


def _data(db: Database, run_id: int) -> dict[str, object]:
    with db.read() as s:
        run = s.get(m.Run, run_id)
        assert run is not None
        return run.data


def test_progress_is_read_once_and_every_mark_is_stored_at_once(db: Database) -> None:
    run_id = _run(db, {"resumes": 1, "pipeline": {"setup": True, "attempt": 2,
                                                  "merged": "abc"}})
    progress = Progress(db, run_id)
    assert progress.state.started and progress.state.attempt == 2
    assert progress.state.merged == "abc" and progress.state.plan is None

    progress.mark(watched=True, reverted="def")

    stored = _data(db, run_id)
    assert stored == {"resumes": 1, "pipeline": {"setup": True, "attempt": 2,
                                                 "merged": "abc", "watched": True,
                                                 "reverted": "def"}}
    with db.read() as s:
        run = s.get(m.Run, run_id)
        assert run is not None
        assert PipelineState.of(run) == progress.state  # what recovery reads


def test_a_fresh_run_has_no_progress_and_a_misspelt_mark_is_refused(db: Database) -> None:
    run_id = _run(db, {})
    progress = Progress(db, run_id)
    assert not progress.state.started
    with pytest.raises(TypeError):
        progress.mark(wached=True)
    assert _data(db, run_id) == {}


def test_forge_delivery_keys_are_fields_and_keep_their_stored_form(db: Database) -> None:
    stored = {"attempt": 1, "forge_checked": 1, "forge_pushed": "h1", "forge_green": "h1",
              "merge_requested": "h1",
              "pull": {"number": 7, "url": "http://forge/pull/7", "digest": "d"},
              "revert": {"head": "r1"}}
    run_id = _run(db, {"pipeline": stored})
    progress = Progress(db, run_id)
    state = progress.state
    assert state.pull == Pull(7, "http://forge/pull/7", "d")
    assert state.revert == RevertPull("r1") and state.forge_checked == 1
    assert state.forge_green == state.merge_requested == state.forge_pushed == "h1"

    progress.mark(revert=RevertPull("r1", 9, "http://forge/pull/9"))

    assert _data(db, run_id) == {"pipeline": {
        **stored, "revert": {"head": "r1", "number": 9, "url": "http://forge/pull/9"}}}
