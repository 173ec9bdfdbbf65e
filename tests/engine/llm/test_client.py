"""One way to call a model: the judge's calls are priced, recorded and counted like turns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import col, select

from andon.engine.factory.home import Home
from andon.engine.ops.replay import replay
from andon.engine.pipeline.stages import Pipeline
from andon.engine.run.queue import submit
from andon.engine.service.runner import spend_today
from andon.policies.policy import Policy
from andon.policies.stored import save_policies
from andon.store import models as m
from andon.store.db import Database
from tests.conftest import write_spec
from tests.support import messages_server as ms

MODEL = "claude-sonnet-5-5"


def _rows(db: Database, model: type, run_id: int) -> list:
    with db.read() as s:
        return list(s.exec(select(model).where(model.run_id == run_id)
                           .order_by(col(model.id))).all())


def test_judge_calls_are_priced_recorded_and_seen_by_the_daily_budget_and_replay(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    story = home.scenarios / "welcome" / "welcome.md"
    story.parent.mkdir(parents=True)
    story.write_text("# A visitor feels welcome\n\nThe greeting says hello.\n")
    home.config_path.write_text(
        f'[engine]\nscenario_trials = 2\n\n[repos.sample]\npath = "{sample_repo}"\n'
        'base = "main"\n')
    home.reload()
    save_policies(db, [Policy(category="feature", level=4)], user="tester")
    spec = write_spec(tmp_path / "specs", "greet", f"title: greet\ncategory: feature\n"
                      f"repo: sample\nmodel: {MODEL}\nscenarios: welcome\n")
    run_id = submit(db, spec).id or 0
    big = {"input_tokens": 1000, "output_tokens": 100}
    with ms.MessagesServer() as server:
        server.add(
            ms.streamed("Writing it.", usage=big, tool_use=[{
                "name": "str_replace_based_edit_tool",
                "input": {"command": "create", "path": "greet.txt", "file_text": "hello\n"}}]),
            ms.streamed("Done.", usage=big),
            ms.reply(json.dumps({"verdict": "PASS", "reason": "It says hello."}), usage=big),
            ms.reply(json.dumps({"verdict": "FAIL", "reason": "Too curt."}), usage=big))
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-" + "k" * 20)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        Pipeline(home, db, run_id).execute()
        judged = [r.body for r in server.requests if r.body and "tools" not in r.body]
    assert len(judged) == 2

    usage = _rows(db, m.Usage, run_id)
    assert [u.purpose for u in usage] == ["agent", "agent", "judge", "judge"]
    assert all(u.cost_usd for u in usage)
    with db.read() as s:
        run = s.get(m.Run, run_id)
    assert run is not None and run.turns == 2
    assert run.cost_usd == pytest.approx(sum(u.cost_usd for u in usage))
    # the daily budget counts the judge's dollars too
    assert spend_today(db, "feature") == pytest.approx(run.cost_usd)
    exchanges = _rows(db, m.Exchange, run_id)
    assert [x.purpose for x in exchanges] == ["agent", "agent", "judge", "judge"]
    assert "The greeting says hello." in str(exchanges[2].request["messages"])
    assert [json.loads(x.response["message"]["content"][0]["text"])["verdict"]
            for x in exchanges[2:]] == ["PASS", "FAIL"]
    # the judge asks for its verdict in a schema, and each trial's reason is kept
    assert all(body["output_config"]["format"]["schema"]["required"] == ["verdict", "reason"]
               for body in judged)
    (story,) = [st for st in _rows(db, m.Step, run_id) if st.kind == "scenario"]
    assert story.data["reasons"] == ["It says hello.", "Too curt."]
    assert story.data["verdicts"] == [True, False]

    # replay serves the agent's replies only: the judge's are not its conversation
    assert run.head_commit
    report = replay(home, db, run_id)
    assert report.replies == 2 and report.matched
