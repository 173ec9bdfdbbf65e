"""The TUI's data layer: screens and widgets hold no SQL, and the run screen's diff is the
review gate's diff (one engine function, setup's artefacts left out, the agent's index
untouched)."""

from __future__ import annotations

import ast
from pathlib import Path

from andon.engine.workspace.worktree import commit_all, diff, prepare
from andon.store import models as m
from andon.tui.data import load_diff, parse_diff
from tests.conftest import git

TUI = Path(__file__).resolve().parents[2] / "tui"
SQL_MODULES = ("sqlmodel", "sqlalchemy", "sqlite3", "andon.store.queries")


def test_screens_and_widgets_read_only_through_the_data_layer() -> None:
    found = []
    for path in sorted([*TUI.glob("screens/*.py"), *TUI.glob("widgets/*.py")]):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr in ("read", "exec", "exec_driver_sql")
                  and not node.args):
                found.append(f"{path.name}:{node.lineno} .{node.func.attr}()")
            found += [f"{path.name}:{node.lineno} imports {n}" for n in names
                      if n.startswith(SQL_MODULES) or n == "andon.store.queries"]
    assert found == []


def test_the_run_screen_shows_the_review_gates_diff_without_touching_the_index(
        tmp_path: Path, sample_repo: Path) -> None:
    ws = prepare(sample_repo, "main", tmp_path / "worktrees", 7)
    (ws.path / "build").mkdir()
    (ws.path / "build" / "out.txt").write_text("made by setup\n")  # setup's artefact
    ws.excluded = ["build"]
    (ws.path / "sample" / "text.py").write_text('"""Text helpers."""\n\nX = 1\n')
    commit_all(ws, "turn 1")
    (ws.path / "NOTES.md").write_text("a new file, not committed yet\n")
    (ws.path / "README.md").write_text("# sample\n\nchanged, not committed\n")
    index = Path(git(ws.path, "rev-parse", "--absolute-git-dir")) / "index"
    before = index.read_bytes()

    run = m.Run(spec_id=1, title="t", category="feature", level=3, status=m.RUNNING,
                worktree=str(ws.path), base_commit=ws.base_commit, repo_path=str(ws.repo),
                data={"pipeline": {"excluded": ["build"]}})
    shown = load_diff(run)
    assert index.read_bytes() == before  # read-only: the agent's index is its own
    assert sorted(f.path for f in shown.files) == ["NOTES.md", "README.md",
                                                    "sample/text.py"]
    review = parse_diff(diff(ws))  # what the review gate carries
    assert [(f.path, f.text) for f in shown.files] == [(f.path, f.text) for f in review]
