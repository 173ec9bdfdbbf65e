"""The action matrix of the design: which actions wait for a person at which level.

| action     | level 2 | level 3                 | level 4 |
|------------|---------|-------------------------|---------|
| read       | runs    | runs                    | runs    |
| edit       | gate    | runs                    | runs    |
| shell      | gate    | runs                    | runs    |
| plan       | gate    | gate if policy.plan_gate| runs    |
| merge      | gate    | gate                    | runs (checks pass, satisfaction >= threshold) |
| escalation | gate    | gate                    | gate, and the run counts as escalated |

An escalated action gates at every level: pass ``escalated=True`` (or the action
`Action.ESCALATION`). Refusals that hold at every level (edits outside the worktree)
are not gates and are not decided here.
"""

from __future__ import annotations

from enum import StrEnum

from andon.policies.level import Level
from andon.policies.policy import Policy


class Action(StrEnum):
    READ = "read"
    EDIT = "edit"
    SHELL = "shell"
    PLAN = "plan"
    MERGE = "merge"
    ESCALATION = "escalation"


_GATED: dict[Level, frozenset[Action]] = {
    Level.SUPERVISED: frozenset({Action.EDIT, Action.SHELL, Action.PLAN, Action.MERGE}),
    Level.SPEC_DRIVEN: frozenset({Action.MERGE}),
    Level.DARK: frozenset(),
}


def needs_gate(policy: Policy, action: Action | str, *, escalated: bool = False) -> bool:
    """Must a person decide before this action runs under this policy?"""
    action = Action(action)
    if escalated or action is Action.ESCALATION:
        return True
    if action is Action.PLAN and policy.level == Level.SPEC_DRIVEN:
        return policy.plan_gate
    return action in _GATED[Level(policy.level)]


def gated_actions(policy: Policy) -> list[Action]:
    """The actions that wait for a person under this policy, in matrix order (for the UI)."""
    return [action for action in Action if needs_gate(policy, action)]
