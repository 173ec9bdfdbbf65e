"""Symlinks that point outside the repository never reach a commit, at any level, and the
agent is told why in the result of the command that made them."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from andon.engine.factory.home import Home
from andon.engine.workspace import links
from andon.engine.workspace import worktree as workspace
from andon.store import models as m
from andon.store.db import Database
from tests.conftest import git, make_repo, requires
from tests.engine.pipeline.test_gates_pipeline import Line, queue_run

LINKS_SCRIPT = """\
turns:
  - text: Linking things.
    tool_use:
      - name: bash
        input:
          command: >-
            ln -s / rootlink && ln -s /tmp docs/tmplink && ln -s ../README.md docs/readme
            && echo linked
  - text: Documenting shout().
    tool_use:
      - name: str_replace_based_edit_tool
        input:
          command: str_replace
          path: README.md
          old_str: "A tiny package the factory works on."
          new_str: "A tiny package the factory works on. `shout('hi')` returns `HI!`."
  - text: Done.
"""


def _tree(repo: Path, ref: str) -> dict[str, str]:
    """path -> mode of every entry in `ref`'s tree."""
    out = git(repo, "ls-tree", "-r", "-z", ref)
    entries = {}
    for line in filter(None, out.split("\x00")):
        meta, path = line.split("\t", 1)
        entries[path] = meta.split()[0]
    return entries


@requires("bwrap")
def test_a_dark_run_never_merges_symlinks_out_and_the_agent_is_told(
        tmp_path: Path, home: Home, db: Database) -> None:
    repo = make_repo(tmp_path / "sample", {"README.md": "# sample\n\nA tiny package the "
                                           "factory works on.\n", "docs/index.md": "# docs\n"})
    run_id = queue_run(db, tmp_path / "specs", "links", "docs", repo, LINKS_SCRIPT,
                       check="true")
    line = Line(home, db, run_id)
    line.answer(lambda gate: ("approve", None))
    assert line.finish() == m.MERGED, line.run().reason
    merged = _tree(repo, "main")
    assert "rootlink" not in merged and "docs/tmplink" not in merged
    assert merged["docs/readme"] == links.LINK_MODE  # a link inside the repository is fine
    with db.read() as s:
        told = [st.output or "" for st in s.exec(select(m.Step).where(
            m.Step.run_id == run_id, m.Step.kind == "tool", m.Step.name == "bash"))]
    assert len(told) == 1 and "linked" in told[0]
    assert "removed 2 symlinks pointing outside the repository" in told[0]
    assert "rootlink -> /" in told[0] and "docs/tmplink -> /tmp" in told[0]


def test_the_commit_is_the_last_wall(tmp_path: Path) -> None:
    """A link made after the agent's last command (a background process, a check) is
    caught by the commit itself: judged on what is staged, taken out, removed."""
    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n", "sub/b.txt": "b\n"})
    ws = workspace.prepare(repo, "main", tmp_path / "worktrees", 7)
    (ws.path / "up").symlink_to("../..")
    (ws.path / "sub" / "abs").symlink_to(ws.path / "a.txt")  # absolute: this machine's path
    (ws.path / "a.txt").unlink()
    (ws.path / "a.txt").symlink_to("/etc/passwd")  # a tracked file turned into a link out
    (ws.path / "sub" / "ok").symlink_to("../a.txt")
    (ws.path / "new.txt").write_text("new\n")
    told: list[list[links.Link]] = []
    commit = workspace.commit_all(ws, "work", on_refused=told.append)
    assert commit is not None
    tree = _tree(ws.path, commit)
    assert set(tree) == {"a.txt", "sub/b.txt", "sub/ok", "new.txt"}
    assert tree["a.txt"] == "100644" and tree["sub/ok"] == links.LINK_MODE
    assert sorted(str(link) for link in told[0]) == [
        "a.txt -> /etc/passwd", f"sub/abs -> {ws.path / 'a.txt'}", "up -> ../.."]
    assert not any((ws.path / p).is_symlink() for p in ("up", "sub/abs", "a.txt"))


def test_sweep_finds_only_links_out(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n", ".gitignore": "ignored/\n"})
    (repo / "ignored").mkdir()
    (repo / "ignored" / "cache").symlink_to("/var")  # never committed: left alone
    (repo / "in").symlink_to("a.txt")
    (repo / "out").symlink_to("../elsewhere")
    assert [str(link) for link in links.sweep(repo)] == ["out -> ../elsewhere"]
    assert not (repo / "out").is_symlink() and (repo / "in").is_symlink()
    assert (repo / "ignored" / "cache").is_symlink()
    assert links.sweep(tmp_path / "not-a-repo-at-all") == []
