"""Escalation rules on a diff: globs, git numstat parsing (from a real git repo), rules."""

from __future__ import annotations

import subprocess

import pytest

from andon.policies.policy import Policy
from andon.policies.rules import (
    DiffSummary,
    Escalation,
    FileChange,
    Rule,
    SpendFractions,
    check_escalations,
    diff_summary_from_numstat,
    path_matches,
)


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("migrations/**", "migrations/0001_init.py", True),
        ("migrations/**", "app/migrations/0001_init.py", False),  # anchored: has a slash
        ("**/migrations/**", "app/migrations/x/0001.py", True),
        ("**/migrations/**", "migrations/0001.py", True),  # ** spans zero directories
        ("migrations", "app/migrations/0001.py", True),  # a directory name at any depth
        ("secrets/", "secrets/key.pem", True),
        ("*.lock", "poetry.lock", True),
        ("*.lock", "web/yarn.lock", True),  # no slash: a file name at any depth
        ("/setup.py", "pkg/setup.py", False),
        ("setup.py", "pkg/setup.py", True),
        ("src/*.py", "src/app.py", True),
        ("src/*.py", "src/pkg/app.py", False),  # * stays in one segment
        ("src/**/*.py", "src/app.py", True),
        ("src/**/*.py", "src/a/b/c.py", True),
        (".github/**", ".github/workflows/ci.yml", True),
        ("requirements*.txt", "requirements-dev.txt", True),
        ("LICENSE*", "docs/LICENSE.md", True),
        ("conf?.py", "conf1.py", True),
        ("conf?.py", "conf12.py", False),
        ("[!a]bc.txt", "xbc.txt", True),
        ("[!a]bc.txt", "abc.txt", False),
        ("**/*.py", "README.md", False),
        ("docs/**", "./docs/index.md", True),
    ],
)
def test_glob_matching(pattern, path, expected):
    assert path_matches(pattern, path) is expected


NUMSTAT = (
    "3\t1\tsrc/app.py\n"
    "-\t-\tassets/logo.png\n"
    "0\t0\tsrc/{old => new}/mod.py\n"
    "2\t0\tnotes.txt => docs/notes.txt\n"
    '1\t1\t"caf\\303\\251.md"\n'
)


def test_numstat_text_is_parsed_with_binaries_renames_and_quoted_names():
    diff = diff_summary_from_numstat(NUMSTAT)
    assert diff.files == (
        FileChange("src/app.py", 3, 1),
        FileChange("assets/logo.png", None, None),
        FileChange("src/new/mod.py", 0, 0, old_path="src/old/mod.py"),
        FileChange("docs/notes.txt", 2, 0, old_path="notes.txt"),
        FileChange("café.md", 1, 1),
    )
    assert diff.files[1].binary and diff.files[1].lines == 0
    assert (diff.added, diff.removed, diff.lines) == (6, 2, 8)
    assert "src/old/mod.py" in diff.paths and "src/new/mod.py" in diff.paths


def test_numstat_rejects_garbage_naming_the_line():
    with pytest.raises(ValueError, match="not a git numstat line: 'hello world'"):
        diff_summary_from_numstat("hello world\n")
    assert diff_summary_from_numstat("").files == ()


def git(repo, *args):
    return subprocess.run(
        ["git", "-c", "core.hooksPath=/dev/null", *args],
        cwd=repo, check=True, capture_output=True, text=True,
    ).stdout


@pytest.fixture
def repo(tmp_path):
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.email", "t@example.com")
    git(tmp_path, "config", "user.name", "t")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("a = 1\n")
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0001.py").write_text("# first\n" * 20)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "base")
    return tmp_path


@pytest.mark.parametrize("z", [False, True])
def test_rules_on_a_real_git_diff(repo, z):
    (repo / "src" / "app.py").write_text("a = 2\nb = 3\n")
    (repo / "logo.png").write_bytes(bytes(range(256)) * 4)
    (repo / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["requests"]\n')
    git(repo, "mv", "migrations/0001.py", "migrations/0001_init.py")
    git(repo, "add", "-A")
    numstat = git(repo, "diff", "--cached", "-M", "--numstat", *(["-z"] if z else []))
    diff = diff_summary_from_numstat(numstat)
    assert {f.path for f in diff.files} == {
        "src/app.py", "logo.png", "pyproject.toml", "migrations/0001_init.py",
    }
    assert next(f for f in diff.files if f.path == "logo.png").binary

    policy = Policy(category="feature", level=3, protected_paths=["migrations/**"],
                    max_diff_lines=3)
    found = check_escalations(policy, diff)
    assert [e.rule for e in found] == [
        Rule.PROTECTED_PATH, Rule.DIFF_TOO_LARGE, Rule.DEPENDENCY_CHANGED,
    ]
    assert "migrations/0001.py (migrations/**)" in found[0].detail
    assert "migrations/0001_init.py (migrations/**)" in found[0].detail
    assert found[1].detail == (
        f"diff changes {diff.lines} lines (+{diff.added} -{diff.removed}), "
        "over max_diff_lines 3"
    )
    assert found[2].detail == "changes dependency file: pyproject.toml"


def test_a_small_clean_diff_escalates_nothing():
    diff = diff_summary_from_numstat("4\t2\tsrc/app.py\n")
    policy = Policy(category="feature", protected_paths=["migrations/**"])
    assert check_escalations(policy, diff, SpendFractions(0.8, 0.5, 0.1), satisfaction=1.0) == []


def test_budget_over_80_percent_escalates_naming_each_budget():
    policy = Policy(category="docs", level=4)
    spend = SpendFractions.from_usage(policy.budget, usd=policy.budget.usd * 0.85,
                                      turns=policy.budget.turns, minutes=1)
    assert check_escalations(policy, DiffSummary(), spend) == [
        Escalation(Rule.BUDGET_SPENT,
                   "more than 80% of the run budget spent: dollars 85%, turns 100%"),
    ]
    exactly = SpendFractions(usd=0.8, turns=0.8, minutes=0.8)
    assert check_escalations(policy, DiffSummary(), exactly) == []


def test_satisfaction_under_threshold_escalates():
    policy = Policy(category="bugfix", level=3, satisfaction_threshold=0.9)
    found = check_escalations(policy, DiffSummary(), satisfaction=2 / 3)
    assert found == [Escalation(Rule.SATISFACTION_LOW,
                                "satisfaction 0.67 is under the threshold 0.90")]
    assert str(found[0]) == "satisfaction_low: satisfaction 0.67 is under the threshold 0.90"
    assert check_escalations(policy, DiffSummary(), satisfaction=0.9) == []
    assert check_escalations(policy, DiffSummary(), satisfaction=None) == []


def test_dependency_files_can_be_switched_off_per_category():
    diff = diff_summary_from_numstat("1\t1\tuv.lock\n1\t0\tweb/package.json\n")
    assert [e.detail for e in check_escalations(Policy(category="feature"), diff)] == [
        "changes dependency files: uv.lock, web/package.json"
    ]
    assert check_escalations(Policy(category="deps", dependency_files=[]), diff) == []


def test_long_path_lists_are_shortened():
    diff = DiffSummary(tuple(FileChange(f"db/m{i}.sql", 1, 0) for i in range(8)))
    (found,) = check_escalations(Policy(category="x", protected_paths=["*.sql"]), diff)
    assert found.detail.endswith("db/m4.sql (*.sql) and 3 more")


def test_an_agent_harness_settings_escalate_in_every_policy():
    diff = diff_summary_from_numstat("3\t0\t.claude/settings.json\n1\t0\t.mcp.json\n"
                                     "1\t0\tdocs/.claude.md\n")
    (found,) = check_escalations(Policy(category="docs", level=4), diff)
    assert found.rule == Rule.PROTECTED_PATH
    assert found.detail == ("touches protected paths: .claude/settings.json (.claude/), "
                            ".mcp.json (.mcp.json)")
