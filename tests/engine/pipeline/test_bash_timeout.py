"""The agent's bash timeout is the category's policy (`bash_timeout`, 120 s when unset),
not a constant: a command past it is killed and the agent is told."""

from __future__ import annotations

from pathlib import Path

from andon.engine.factory.home import Home
from andon.policies.policy import DEFAULT_BASH_TIMEOUT
from andon.policies.stored import load_policy, save_policies
from andon.store.db import Database
from tests.engine.pipeline.test_gates_pipeline import Line, queue_run

SLOW_SCRIPT = """\
turns:
  - text: Waiting on a slow command.
    tool_use:
      - name: bash
        input:
          command: sleep 600
  - text: Done waiting.
"""


def test_a_command_past_the_policys_bash_timeout_is_killed(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    assert load_policy(db, "docs").bash_seconds == DEFAULT_BASH_TIMEOUT == 120
    policy = load_policy(db, "docs").model_copy(update={"bash_timeout": 1,
                                                        "allow_unsandboxed": True})
    save_policies(db, [policy], user="alice", reason="commands here are quick")
    run_id = queue_run(db, tmp_path / "specs", "slow", "docs", sample_repo, SLOW_SCRIPT)
    line = Line(home, db, run_id)
    line.finish()
    (call,) = [s for s in line.steps("tool") if s.name == "bash"]
    assert "timed out after 1 s" in (call.output or "")
