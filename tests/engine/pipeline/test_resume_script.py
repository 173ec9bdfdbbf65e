"""A run resumed after a restart continues its scripted model where the run's
conversation is: the turns already answered (and their edits) are not served again."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from andon.engine.factory.home import Home
from andon.engine.pipeline.stages import Pipeline
from andon.engine.run.control import RunControl
from andon.store import models as m
from andon.store.db import Database
from tests.engine.pipeline.test_stages import configure, queue, run_row, script, set_policy

SECTION = "## Usage\n\nCall it.\n"


class StopWhen(threading.Event):
    """The engine's stop signal, raised once `ready()` holds: a run checks it at each
    step boundary, so the run stops exactly at the first boundary after that."""

    def __init__(self, ready: object) -> None:
        super().__init__()
        self.ready = ready

    def is_set(self) -> bool:
        return bool(self.ready()) or super().is_set()  # type: ignore[operator]


@pytest.mark.timeout(600)
def test_a_resumed_scripted_run_goes_on_with_its_script_instead_of_repeating_edits(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    configure(home, sample_repo)
    set_policy(db, level=4)
    readme = "# sample\n\nA tiny package the factory works on.\n"
    run_id = queue(db, tmp_path / "specs", "usage", script([
        {"text": "Adding a usage section.", "tool_use": [{
            "name": "str_replace_based_edit_tool",
            "input": {"command": "str_replace", "path": "README.md",
                      "old_str": readme, "new_str": readme + "\n" + SECTION}}]},
        {"text": "Checking it.", "tool_use": [{"name": "bash",
                                               "input": {"command": "grep -c Usage README.md"}}]},
        {"text": "The README has a usage section."},
    ]), extra='checks: ["test $(grep -c \'^## Usage\' README.md) -eq 1"]')

    def edited() -> bool:  # the engine stops once the first turn's edit is made
        worktree = run_row(db, run_id).worktree
        return bool(worktree) and SECTION in (Path(worktree or "") / "README.md").read_text()

    stopping = RunControl(db, run_id, stop=StopWhen(edited))
    assert Pipeline(home, db, run_id, control=stopping).execute() == m.INTERRUPTED
    assert run_row(db, run_id).turns == 1

    # a new engine process resumes the run with a new model
    assert Pipeline(home, db, run_id).execute() == m.MERGED, run_row(db, run_id).reason
    merged = (sample_repo / "README.md").read_text()
    assert merged.count(SECTION) == 1, merged
    assert run_row(db, run_id).turns == 3  # turns 2 and 3 were served, turn 1 not again


def test_skip_passes_over_answered_turns_retried_errors_and_finished_attempts() -> None:
    from andon.engine.llm.scripted import ScriptedModel

    model = ScriptedModel({"attempts": [
        [{"error": {"status": 529, "retry_after": 0}}, {"text": "a1"}, {"text": "a2"}],
        [{"text": "b1"}, {"text": "b2"}],
    ]})
    model.skip(3)  # a1, a2 (after the retried error), then b1
    client = model.client()
    reply = client.messages.create(model="scripted", max_tokens=100, tools=[{
        "name": "bash", "type": "bash_20250124"}], messages=[
        {"role": "user", "content": "go on"}, {"role": "assistant", "content": "b1"},
        {"role": "user", "content": "and?"}])
    assert [b.text for b in reply.content] == ["b2"]
    client.close()
