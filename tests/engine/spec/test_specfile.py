"""Spec files: a good one parses; every malformed one gets one clear error and queues nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from andon.engine.errors import SpecError
from andon.engine.factory.home import Home
from andon.engine.spec.specfile import parse_spec
from andon.store import queries as q
from tests.conftest import name_repo

GOOD = """---
title: Add a slugify helper
category: feature
repo: sample
checks: ["python -m pytest -q"]
budget: {usd: 2.0, turns: 40, minutes: 30}
schedule: "0 3 * * *"
priority: 5
---
# Intent
Give the package a slugify() helper.

## Acceptance criteria
- slugify("Hello World") == "hello-world"
"""


def test_a_good_spec_parses_into_its_fields(tmp_path: Path) -> None:
    path = tmp_path / "slugify.md"
    path.write_text(GOOD)
    spec = parse_spec(path)
    assert spec.title == "Add a slugify helper"
    assert spec.category == "feature"
    assert spec.front.base == "main"
    assert spec.front.checks == ["python -m pytest -q"]
    assert spec.front.budget.usd == 2.0 and spec.front.budget.turns == 40
    assert spec.front.priority == 5
    assert spec.intent == "Give the package a slugify() helper."
    assert spec.acceptance == '- slugify("Hello World") == "hello-world"'


CASES = {
    "bad-yaml": ("---\ntitle: [unclosed\ncategory: docs\n---\nbody", None, "not valid YAML"),
    "unknown-field": (GOOD.replace("priority: 5", "priorty: 5"), None,
                      "unknown field 'priorty' (did you mean 'priority'?)"),
    "missing-category": (GOOD.replace("category: feature\n", ""), "category", "required"),
    "wrong-type": (GOOD.replace("priority: 5", "priority: soon"), "priority", "integer"),
    "bad-budget": (GOOD.replace("turns: 40", "turns: -1"), "budget.turns", "greater than 0"),
    "bad-cron": (GOOD.replace('"0 3 * * *"', '"every day"'), "schedule", "cron"),
    "no-front-matter": ("# Intent\nJust prose.\n", None, "no YAML front matter"),
    "front-not-mapping": ("---\n- a\n- b\n---\n", None, "must be a mapping"),
    "empty": ("", None, "empty"),
}


@pytest.mark.parametrize("name", CASES)
def test_malformed_spec_errors_name_file_field_and_problem(tmp_path: Path, name: str) -> None:
    text, field, problem = CASES[name]
    path = tmp_path / f"{name}.md"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        parse_spec(path)
    message = str(caught.value)
    assert str(path) in message
    assert problem in message
    if field:
        assert f"field '{field}'" in message
    assert "\n" not in message  # one line, one clear error


def test_not_utf8_and_huge_files_are_refused_without_reading_them_all(tmp_path: Path) -> None:
    latin = tmp_path / "latin.md"
    latin.write_bytes(GOOD.encode("utf-8") + "caf\xe9".encode("latin-1"))
    with pytest.raises(SpecError, match=r"not UTF-8 text \(byte 0xe9"):
        parse_spec(latin)
    huge = tmp_path / "huge.md"
    huge.write_text(GOOD + "x" * 10_000_000)
    with pytest.raises(SpecError, match=r"10\.0 MB; a spec may be at most 1 MB"):
        parse_spec(huge)


def test_submit_of_a_bad_spec_exits_nonzero_and_queues_nothing(tmp_path: Path, home: Home,
                                                               sample_repo: Path) -> None:
    name_repo(home, sample_repo)
    good = tmp_path / "good.md"
    good.write_text(GOOD)
    bad = tmp_path / "bad.md"
    bad.write_text(GOOD.replace("priority: 5", "priority: soon"))
    andon = [sys.executable, "-m", "andon.tui", "--home", str(home.root)]
    ok = subprocess.run([*andon, "submit", str(good)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    failed = subprocess.run([*andon, "submit", str(bad)], capture_output=True, text=True)
    assert failed.returncode == 2
    assert f"{bad}: field 'priority'" in failed.stderr
    assert "Traceback" not in failed.stderr
    db = home.open()
    assert [r.title for r in q.list_runs(db)] == ["Add a slugify helper"]


def test_schedules_read_weekdays_as_standard_cron(tmp_path: Path) -> None:
    path = tmp_path / "weekly.md"
    path.write_text(GOOD.replace('"0 3 * * *"', '"0 3 * * 7"'))  # 7 is Sunday, as in cron
    assert parse_spec(path).front.schedule == "0 3 * * 7"
