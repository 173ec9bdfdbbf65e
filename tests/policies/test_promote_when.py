"""promote_when: the readiness thresholds in a policy file, checked like every field."""

from __future__ import annotations

from pathlib import Path

import pytest

from andon.policies.files import PolicyFileError, load_policy_file, policy_table
from andon.policies.policy import Policy


def test_defaults_and_a_partial_table(tmp_path: Path) -> None:
    assert Policy.default("docs").promote_when.min_runs == 100
    path = tmp_path / "p.toml"
    path.write_text("[docs]\nlevel = 3\n[docs.promote_when]\nmax_revert_rate = 0.02\n")
    policy = load_policy_file(path)["docs"]
    assert (policy.promote_when.max_revert_rate, policy.promote_when.min_runs) == (0.02, 100)
    assert policy_table(policy)["promote_when"]["max_revert_rate"] == 0.02


@pytest.mark.parametrize(("table", "message"), [
    ("max_false_merge_rate = 1.5", "field 'promote_when.max_false_merge_rate': input "
                                   "should be less than 1 (got 1.5)"),
    ("min_run = 5", "field 'promote_when.min_run': unknown field"),
])
def test_a_bad_threshold_names_file_field_and_value(tmp_path: Path, table: str,
                                                    message: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(f"[docs]\nlevel = 3\n[docs.promote_when]\n{table}\n")
    with pytest.raises(PolicyFileError) as err:
        load_policy_file(path)
    assert str(err.value) == f"{path}: category 'docs', {message}"
