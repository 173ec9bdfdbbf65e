"""Budgets checked between turns (turns, tokens, dollars, minutes) and loop detection."""

from __future__ import annotations

from typing import Any

from andon.engine.agent.budget import Breach, RunBudget, Spend
from andon.engine.agent.loopguard import LoopGuard
from andon.engine.gates.gatekeeper import Decision, Gatekeeper
from andon.engine.llm.scripted import ScriptedModel
from andon.policies.policy import Policy
from andon.store import models as m
from tests.support.agentkit import START, Kit


def appending(n: int, line: str = "x") -> list[dict[str, Any]]:
    """n turns that each append a (different) line to log.txt, then a final answer."""
    turns: list[dict[str, Any]] = [
        {"text": f"Step {i}.", "tool_use": [
            {"name": "bash", "input": {"command": f"echo {line}{i} >> log.txt"}}]}
        for i in range(1, n + 1)]
    return [*turns, {"text": "All steps done."}]


def lines(kit: Kit) -> list[str]:
    path = kit.root / "log.txt"
    return path.read_text().splitlines() if path.exists() else []


# -- budgets ---------------------------------------------------------------------------


def test_the_tightest_limit_of_spec_and_policy_wins() -> None:
    policy = Policy(category="feature", level=4)  # usd 2, turns 40, minutes 30
    budget = RunBudget.tightest({"usd": 1.5, "turns": 100, "tokens": 50_000}, policy.budget)
    assert budget == RunBudget(turns=40, tokens=50_000, usd=1.5, minutes=30)
    assert RunBudget.tightest(None, {}) == RunBudget()


def test_turn_budget_stops_at_the_boundary_and_can_be_extended(kit: Kit) -> None:
    model = ScriptedModel(appending(3))
    agent = kit.agent(model.client(), budget=RunBudget(turns=2))
    result = agent.run(START, attempt=1)

    assert result.status == "budget"
    assert result.reason == "turn budget spent: 2 of 2 turns used"
    assert result.breach == Breach("turns", 2, 2)
    assert len(model.requests) == 2 and lines(kit) == ["x1", "x2"]
    assert kit.events("agent.budget")[0].message == result.reason

    # a person approved carrying on: one more allotment, same conversation
    assert agent.extend_budget(result.breach).turns == 4
    again = agent.run(START, attempt=1)
    assert (again.status, again.reason) == ("done", "All steps done.")
    assert lines(kit) == ["x1", "x2", "x3"]  # nothing ran twice
    assert kit.run().turns == 4


def test_token_budget_says_by_how_much_it_is_over(kit: Kit) -> None:
    model = ScriptedModel(appending(2))
    result = kit.agent(model.client(), budget=RunBudget(tokens=500)).run(START)
    assert result.status == "budget" and result.breach and result.breach.kind == "tokens"
    run = kit.run()
    used = run.tokens_in + run.tokens_out + run.cache_read + run.cache_write
    assert result.reason == (f"token budget spent: {used:,} of 500 tokens used "
                             f"({used - 500:,} over)")
    assert len(model.requests) == 1


def test_dollar_budget(kit: Kit) -> None:
    model = ScriptedModel(appending(2))
    result = kit.agent(model.client(), budget=RunBudget(usd=0.0001)).run(START)
    assert result.status == "budget" and result.breach and result.breach.kind == "usd"
    spent = kit.run().cost_usd
    assert spent is not None and spent > 0.0001
    assert result.reason.startswith(f"dollar budget spent: ${spent:.4f} of $0.0001 ($")
    assert result.reason.endswith(" over)")


def test_minutes_budget_counts_the_agents_time(kit: Kit) -> None:
    model = ScriptedModel([{"delay": 0.15, "text": "slow", "tool_use": [
        {"name": "bash", "input": {"command": "true"}}]}, {"text": "done"}])
    result = kit.agent(model.client(), budget=RunBudget(minutes=0.001)).run(START)
    assert result.status == "budget" and result.breach and result.breach.kind == "minutes"
    assert result.reason.startswith("time budget spent: ")
    assert "of 0.001 minutes" in result.reason


class Clock:
    """The agent's clock, moved only by the test (a loaded machine cannot eat a budget)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class SlowPerson(Gatekeeper):
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def action(self, tool_name: str, tool_input: dict[str, Any], preview: str) -> Decision:
        self.clock.now += 3600.0  # an hour before the person answers
        return Decision()


def test_waiting_for_a_person_does_not_use_the_time_budget(kit: Kit) -> None:
    model = ScriptedModel(appending(1))
    clock = Clock()
    agent = kit.agent(model.client(), budget=RunBudget(minutes=1), clock=clock,
                      gatekeeper=SlowPerson(clock))
    result = agent.run(START)  # a minute of budget; an hour at the gate
    assert result.status == "done"
    assert sum(t.paused for t in agent.timings) == 3600.0


def test_a_budget_already_spent_by_an_earlier_attempt_stops_before_any_request(
        kit: Kit) -> None:
    kit.log.update(turns=5)
    model = ScriptedModel(appending(1))
    result = kit.agent(model.client(), budget=RunBudget(turns=5)).run(START, attempt=2)
    assert result.status == "budget" and result.reason == "turn budget spent: 5 of 5 turns used"
    assert model.requests == []


def test_unknown_cost_does_not_trip_the_dollar_budget_but_says_so(kit: Kit) -> None:
    model = ScriptedModel(appending(1))
    result = kit.agent(model.client(), model="claude-unheard-of",
                       budget=RunBudget(usd=0.0001)).run(START)
    assert result.status == "done"
    assert kit.run().cost_usd is None
    assert "dollar budget cannot be checked" in kit.events("agent.cost_unknown")[0].message


def test_budget_check_and_extension_by_kind() -> None:
    budget = RunBudget(turns=10, tokens=1000, usd=1.0, minutes=5)
    assert budget.check(Spend(turns=9, tokens=999, usd=0.99, minutes=4.9)) is None
    assert budget.check(Spend(turns=3, tokens=1200)) == Breach("tokens", 1200, 1000)
    assert budget.check(Spend(usd=None, minutes=6)) == Breach("minutes", 6, 5)
    assert Breach("usd", 2.5, 2.0).reason == "dollar budget spent: $2.50 of $2.00 ($0.50 over)"
    assert Breach("minutes", 31.25, 30).reason == "time budget spent: 31.2 of 30 minutes (1.2 over)"
    assert budget.extended(Breach("tokens", 1200, 1000)).tokens == 2200


# -- loop detection --------------------------------------------------------------------


def test_the_same_call_three_times_makes_the_run_stuck(kit: Kit) -> None:
    same = {"name": "bash", "input": {"command": "echo again >> log.txt"}}
    model = ScriptedModel([
        {"text": "try", "tool_use": [same]},
        {"text": "look", "tool_use": [{"name": "str_replace_based_edit_tool",
                                       "input": {"command": "view", "path": "log.txt"}}]},
        {"text": "try again", "tool_use": [same]},
        {"text": "and again", "tool_use": [same]},
        {"text": "never reached"},
    ])
    result = kit.agent(model.client()).run(START)
    assert result.status == "stuck"
    assert result.reason == ("stuck: the same tool call was made 3 times in the last 4 calls: "
                             'bash {"command": "echo again >> log.txt"}')
    assert lines(kit) == ["again", "again"]  # the third was not run
    assert len(model.requests) == 4
    assert kit.rows(m.Checkpoint)[-1].state["status"] == "stuck"


def test_a_call_repeated_outside_the_window_is_fine() -> None:
    guard = LoopGuard()
    assert guard.see("bash", {"command": "make"}) is None
    assert guard.see("bash", {"command": "make"}) is None
    for i in range(9):
        assert guard.see("bash", {"command": f"step {i}"}) is None
    assert guard.see("bash", {"command": "make"}) is None  # 2 of the 3 fell out
    assert guard.see("bash", {"command": "make"}) is None
    assert "make" in (guard.see("bash", {"command": "make"}) or "")
    # key order in the input does not hide a repeat
    guard = LoopGuard()
    guard.see("x", {"a": 1, "b": 2})
    guard.see("x", {"b": 2, "a": 1})
    assert guard.see("x", {"a": 1, "b": 2}) is not None
