"""Policies as code: TOML files load, export and round-trip exactly; bad files are named."""

from __future__ import annotations

import tomllib

import pytest

from andon.policies.files import (
    DEFAULTS_DIR,
    PolicyFileError,
    default_policies,
    dump_policies,
    load_policy_dir,
    load_policy_file,
    parse_policies,
    write_policy_file,
)
from andon.policies.level import Level
from andon.policies.policy import Policy


def test_shipped_defaults_cover_the_usual_categories():
    policies = default_policies()
    assert {c: int(p.level) for c, p in policies.items()} == {
        "bugfix": 3, "deps": 3, "docs": 4, "feature": 2, "migration": 2,
    }
    assert all(p.protected_paths for p in policies.values())
    assert all(p.timeout_decision in ("reject", "hold") for p in policies.values())
    assert sorted(path.name for path in DEFAULTS_DIR.glob("*.toml")) == [
        "bugfix.toml", "deps.toml", "docs.toml", "feature.toml", "migration.toml",
    ]


def test_export_round_trips_exactly(tmp_path):
    policies = default_policies()
    policies["hotfix"] = Policy(
        category="hotfix",
        level=3,
        budget={"usd": 0.1, "turns": 7, "minutes": 3},
        satisfaction_threshold=0.333,
        protected_paths=["café/**", 'we"ird\\path', "[!a]*.cfg"],
        approvers=["alice", "bob"],
        gate_timeout=90,
        timeout_decision="reject",
        network=True,
    )
    text = dump_policies(policies)
    assert parse_policies(text) == policies
    assert dump_policies(parse_policies(text)) == text

    path = tmp_path / "export.toml"
    write_policy_file(path, policies.values())
    assert load_policy_file(path) == policies
    assert path.read_text(encoding="utf-8") == text


def test_export_is_readable_toml_with_a_table_per_category():
    text = dump_policies([Policy(category="docs", level=4), Policy(category="bugfix", level=3)])
    document = tomllib.loads(text)
    assert list(document) == ["bugfix", "docs"]
    assert document["docs"]["level"] == 4
    assert "category" not in document["docs"]
    assert "gate_timeout" not in document["docs"]  # None means "wait", left out


def test_one_file_may_hold_several_categories_and_leave_fields_out(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(
        '[docs]\nlevel = 4\n\n[feature]\nprotected_paths = ["db/**"]\n'
        "[feature.budget]\nusd = 3\n",
        encoding="utf-8",
    )
    policies = load_policy_file(path)
    assert policies["docs"] == Policy(category="docs", level=4)
    assert policies["feature"].level is Level.SUPERVISED
    assert policies["feature"].budget.usd == 3.0
    assert policies["feature"].budget.turns == Policy.default("x", 2).budget.turns


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_for(path):
    with pytest.raises(PolicyFileError) as err:
        load_policy_file(path)
    assert isinstance(err.value, ValueError)
    return err.value


def test_bad_level_names_file_category_and_field(tmp_path):
    path = write(tmp_path, "feature.toml", "[feature]\nlevel = 7\n")
    err = error_for(path)
    assert str(err) == f"{path}: category 'feature', field 'level': must be 2, 3 or 4 (got 7)"
    assert (err.category, err.field) == ("feature", "level")


def test_unknown_field_is_named_with_a_suggestion(tmp_path):
    path = write(tmp_path, "bugfix.toml", "[bugfix]\nlevel = 3\nmax_diff_line = 10\n")
    err = error_for(path)
    assert str(err) == (
        f"{path}: category 'bugfix', field 'max_diff_line': "
        "unknown field (did you mean 'max_diff_lines'?)"
    )


def test_unknown_budget_field_is_named_with_its_table(tmp_path):
    path = write(tmp_path, "p.toml", "[docs]\n[docs.budget]\ndollars = 3\n")
    err = error_for(path)
    assert str(err).startswith(f"{path}: category 'docs', field 'budget.dollars': unknown field")


def test_wrong_type_is_named_with_the_value(tmp_path):
    path = write(tmp_path, "p.toml", '[docs]\nmax_attempts = "three"\n')
    err = error_for(path)
    assert str(err) == (
        f"{path}: category 'docs', field 'max_attempts': "
        "input should be a valid integer (got 'three')"
    )
    path = write(tmp_path, "q.toml", '[docs]\nprotected_paths = "src/**"\n')
    assert "field 'protected_paths': input should be a valid list" in str(error_for(path))
    path = write(tmp_path, "r.toml", "[docs]\nnetwork = 1\n")
    assert "field 'network': input should be a valid boolean" in str(error_for(path))


def test_timeout_decision_approve_is_refused(tmp_path):
    path = write(tmp_path, "migration.toml", '[migration]\ntimeout_decision = "approve"\n')
    err = error_for(path)
    assert str(err) == (
        f"{path}: category 'migration', field 'timeout_decision': "
        "must be 'reject' or 'hold' (a gate never approves itself) (got 'approve')"
    )


def test_out_of_range_values_are_refused(tmp_path):
    path = write(tmp_path, "p.toml", "[docs]\nsatisfaction_threshold = 1.5\n")
    assert "field 'satisfaction_threshold': input should be less than or equal to 1" in str(
        error_for(path)
    )
    path = write(tmp_path, "q.toml", "[docs]\ngate_timeout = 0\n")
    assert "field 'gate_timeout'" in str(error_for(path))


def test_structural_problems_name_the_file(tmp_path):
    path = write(tmp_path, "p.toml", "level = 3\n")
    assert str(error_for(path)) == (
        f"{path}: 'level' is not a category table (put settings under a [category] header)"
    )
    path = write(tmp_path, "q.toml", "[docs\nlevel = 3\n")
    assert str(error_for(path)).startswith(f"{path}: not valid TOML: ")
    path = write(tmp_path, "r.toml", "[Docs]\nlevel = 3\n")
    assert str(error_for(path)).startswith(f"{path}: category 'Docs': must be lower-case")
    path = write(tmp_path, "s.toml", '[docs]\ncategory = "feature"\n')
    assert "category 'docs', field 'category': the table name sets the category" in str(
        error_for(path)
    )
    missing = tmp_path / "nope.toml"
    assert str(error_for(missing)).startswith(f"{missing}: cannot read: ")


def test_several_problems_are_all_mentioned(tmp_path):
    path = write(tmp_path, "p.toml", "[docs]\nlevel = 9\nmax_attempts = 0\n")
    message = str(error_for(path))
    assert "field 'level': must be 2, 3 or 4 (got 9)" in message
    assert "also invalid: 'max_attempts'" in message


def test_a_folder_of_files_refuses_a_category_defined_twice(tmp_path):
    write(tmp_path, "a.toml", "[docs]\nlevel = 4\n")
    write(tmp_path, "b.toml", "[docs]\nlevel = 3\n[feature]\n")
    with pytest.raises(PolicyFileError) as err:
        load_policy_dir(tmp_path)
    assert str(err.value) == (
        f"{tmp_path / 'b.toml'}: category 'docs': also defined in {tmp_path / 'a.toml'}"
    )
