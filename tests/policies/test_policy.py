"""Levels, the Policy model and the action matrix of the design."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from andon.policies.level import Level, LevelError
from andon.policies.matrix import Action, gated_actions, needs_gate
from andon.policies.policy import DEFAULT_DEPENDENCY_FILES, Policy

# -- levels -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "level"),
    [
        (2, Level.SUPERVISED),
        ("3", Level.SPEC_DRIVEN),
        ("dark", Level.DARK),
        ("Spec-Driven", Level.SPEC_DRIVEN),
        ("spec_driven", Level.SPEC_DRIVEN),
        ("L4", Level.DARK),
        ("level 2", Level.SUPERVISED),
        (Level.DARK, Level.DARK),
    ],
)
def test_level_parses_what_people_write(given, level):
    assert Level.parse(given) is level


@pytest.mark.parametrize("given", [1, 5, 0, "7", "bright", True, None, 3.0])
def test_level_refuses_other_values_naming_them(given):
    with pytest.raises(LevelError) as err:
        Level.parse(given)
    assert "must be 2, 3 or 4" in str(err.value)
    assert repr(given) in str(err.value) or str(given) in str(err.value)
    assert isinstance(err.value, ValueError)


def test_level_labels_and_neighbours():
    assert [lv.label for lv in Level] == ["supervised", "spec-driven", "dark"]
    assert Level.SPEC_DRIVEN.title == "level 3 (spec-driven)"
    assert str(Level.DARK) == "4"
    assert Level.SUPERVISED.higher is Level.SPEC_DRIVEN and Level.DARK.higher is None
    assert Level.DARK.lower is Level.SPEC_DRIVEN and Level.SUPERVISED.lower is None


# -- policy -----------------------------------------------------------------------------


def test_policy_defaults_follow_the_level():
    supervised = Policy(category="feature")
    dark = Policy(category="docs", level=4)
    assert supervised.level is Level.SUPERVISED
    assert supervised.plan_gate is True and dark.plan_gate is False
    assert dark.budget.usd < supervised.budget.usd
    assert dark.max_diff_lines < supervised.max_diff_lines
    assert dark.satisfaction_threshold == 1.0
    for policy in (supervised, dark):
        assert policy.network is False and policy.allow_unsandboxed is False
        assert policy.gate_timeout is None and policy.timeout_decision in ("reject", "hold")
        assert policy.approvers == [] and policy.protected_paths == []
        assert "uv.lock" in policy.dependency_files and "go.sum" in policy.dependency_files


def test_dependency_defaults_cover_the_usual_manifests():
    for name in ["pyproject.toml", "requirements*.txt", "setup.py", "setup.cfg", "poetry.lock",
                 "Pipfile", "package.json", "package-lock.json", "yarn.lock", "pnpm-lock.yaml",
                 "Cargo.toml", "Cargo.lock", "go.mod", "Gemfile", "Gemfile.lock"]:
        assert name in DEFAULT_DEPENDENCY_FILES


def test_partial_budget_fills_from_the_level():
    policy = Policy(category="docs", level="dark", budget={"usd": 0.5})
    assert (policy.budget.usd, policy.budget.turns) == (0.5, Policy.default("x", 4).budget.turns)


def test_policy_refuses_unknown_fields_and_self_approval():
    with pytest.raises(ValidationError, match="Extra inputs"):
        Policy(category="docs", colour="red")
    with pytest.raises(ValidationError, match="never approves itself"):
        Policy(category="docs", timeout_decision="approve")
    with pytest.raises(ValidationError, match="must be 'gate' or 'fail'"):
        Policy(category="docs", on_budget="ignore")
    with pytest.raises(ValidationError):
        Policy(category="docs", satisfaction_threshold=1.5)
    with pytest.raises(ValidationError, match="lower-case"):
        Policy(category="Docs Stuff")


def test_policy_is_immutable_and_changes_by_copy():
    policy = Policy(category="bugfix", level=3, protected_paths=["migrations/**"])
    with pytest.raises(ValidationError):
        policy.level = Level.DARK
    darker = policy.with_level("dark")
    assert darker.level is Level.DARK and darker.protected_paths == ["migrations/**"]
    assert policy.level is Level.SPEC_DRIVEN


def test_approvers_empty_means_anyone():
    assert Policy(category="x").may_approve("mallory")
    named = Policy(category="x", approvers=["alice"])
    assert named.may_approve("alice") and not named.may_approve("mallory")


# -- action matrix ------------------------------------------------------------------------


def gated(level, **fields):
    return {a.value for a in gated_actions(Policy(category="x", level=level, **fields))}


def test_matrix_level_2_gates_every_mutation():
    assert gated(2) == {"edit", "shell", "plan", "merge", "escalation"}
    assert gated(2, plan_gate=False) == {"edit", "shell", "plan", "merge", "escalation"}


def test_matrix_level_3_gates_merge_and_plan_only_if_asked():
    assert gated(3, plan_gate=False) == {"merge", "escalation"}
    assert gated(3, plan_gate=True) == {"plan", "merge", "escalation"}


def test_matrix_level_4_gates_only_escalations():
    assert gated(4) == {"escalation"}
    assert gated(4, plan_gate=True) == {"escalation"}


@pytest.mark.parametrize("level", [2, 3, 4])
def test_reads_never_gate_and_escalated_actions_always_do(level):
    policy = Policy(category="x", level=level)
    assert not needs_gate(policy, Action.READ)
    for action in Action:
        assert needs_gate(policy, action, escalated=True)
    assert needs_gate(policy, "escalation")
