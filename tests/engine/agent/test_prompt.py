"""The system prompt: the spec and the repository's facts, the same bytes every turn."""

from __future__ import annotations

from pathlib import Path

from andon.engine.agent.prompt import MAX_TREE_FILES, system_prompt
from andon.store import models as m
from tests.conftest import SAMPLE_FILES, make_repo

BODY = """# Intent
Add whisper() next to shout().

## Acceptance criteria
- whisper("HI") == "hi..."
- it is tested

## Notes for reviewers
Nothing special.
"""


def spec(**fields: object) -> m.Spec:
    values: dict[str, object] = {"path": "/specs/whisper.md", "title": "Add whisper()",
                                  "category": "feature", "repo": "sample",
                                  "checks": ["python -m pytest -q"], "scenarios": "holdout-xyz",
                                  "body": BODY}
    values.update(fields)
    return m.Spec(**values)  # type: ignore[arg-type]


def test_the_prompt_carries_the_spec_and_the_repository(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    text = system_prompt(spec(), repo)
    assert "# Spec: Add whisper()" in text
    assert "Add whisper() next to shout()." in text
    assert '- whisper("HI") == "hi..."' in text and "- it is tested" in text
    assert "- `python -m pytest -q`" in text
    lines = text.splitlines()
    assert all(name in lines for name in SAMPLE_FILES)  # the file tree, one path a line
    assert "A tiny package the factory works on." in text  # the README
    assert "holdout-xyz" not in text  # scenarios are never shown to the agent
    assert "str_replace_based_edit_tool" in text and "bash" in text
    assert system_prompt(spec(), repo) == text  # byte-identical: the cache prefix holds


def test_a_spec_without_sections_uses_its_body_as_the_intent(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    text = system_prompt(spec(body="Just make the tests faster.\n", checks=[]), repo)
    assert "## Intent\nJust make the tests faster." in text
    assert "## Acceptance criteria\n(none given)" in text
    assert "## Checks you can run\n- (none)" in text


def test_a_big_repository_is_listed_in_part(tmp_path: Path) -> None:
    files = {f"pkg/mod_{i:04d}.py": "" for i in range(MAX_TREE_FILES + 25)}
    repo = make_repo(tmp_path / "big", files)
    text = system_prompt(spec(), repo)
    assert "pkg/mod_0000.py" in text
    assert f"pkg/mod_{MAX_TREE_FILES + 24:04d}.py" not in text
    assert "... and 25 more files" in text
