"""The text editor tool: what the model can see and change, and where it is stopped."""

from __future__ import annotations

from pathlib import Path

import pytest

from andon.engine.agent.tools.editor import EditorTool
from andon.engine.textcap import cap


@pytest.fixture
def wt(tmp_path: Path) -> Path:
    root = tmp_path / "wt"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text("def f():\n    return 1\n\n\ndef g():\n    return 1\n")
    (root / "README.md").write_text("hello\n")
    (root / ".git").write_text("gitdir: /somewhere/.git/worktrees/wt\n")
    return root


@pytest.fixture
def ed(wt: Path) -> EditorTool:
    return EditorTool(wt)


def test_definition_and_mutating_flags(ed: EditorTool) -> None:
    assert ed.definition() == {
        "type": "text_editor_20250728",
        "name": "str_replace_based_edit_tool",
    }
    assert EditorTool(Path("."), max_characters=5000).definition()["max_characters"] == 5000
    assert not ed.is_mutating({"command": "view", "path": "x"})
    for cmd in ("create", "str_replace", "insert"):
        assert ed.is_mutating({"command": cmd})


def test_view_file_with_numbers_and_range(ed: EditorTool, wt: Path) -> None:
    out = ed.run({"command": "view", "path": "pkg/mod.py"})
    assert not out.is_error
    assert "     1\tdef f():" in out.text and "     6\t    return 1" in out.text
    part = ed.run({"command": "view", "path": str(wt / "pkg/mod.py"), "view_range": [5, -1]})
    assert "def g():" in part.text and "def f()" not in part.text
    bad = ed.run({"command": "view", "path": "pkg/mod.py", "view_range": [3, 99]})
    assert bad.is_error and "out of range" in bad.text


def test_view_directory_two_levels_hides_dotfiles(ed: EditorTool, wt: Path) -> None:
    (wt / "pkg" / "deep" / "deeper").mkdir(parents=True)
    (wt / "pkg" / "deep" / "deeper" / "x.txt").write_text("x")
    (wt / ".env").write_text("A=1")
    out = ed.run({"command": "view", "path": "."})
    assert not out.is_error
    assert f"{wt}/pkg/mod.py" in out.text and f"{wt}/README.md" in out.text
    assert f"{wt}/pkg/deep/" in out.text
    assert "x.txt" not in out.text  # third level
    assert ".git" not in out.text.replace(str(wt), "") and ".env" not in out.text


def test_create_str_replace_insert(ed: EditorTool, wt: Path) -> None:
    out = ed.run({"command": "create", "path": "new/dir/a.py", "file_text": "a = 1\nb = 2\n"})
    assert not out.is_error, out.text
    assert (wt / "new/dir/a.py").read_text() == "a = 1\nb = 2\n"

    out = ed.run({"command": "str_replace", "path": "new/dir/a.py", "old_str": "b = 2",
                  "new_str": "b = 3"})  # fmt: skip
    assert not out.is_error and "b = 3" in out.text
    assert (wt / "new/dir/a.py").read_text() == "a = 1\nb = 3\n"

    out = ed.run({"command": "insert", "path": "new/dir/a.py", "insert_line": 1,
                  "insert_text": "c = 0\n"})  # fmt: skip
    assert not out.is_error
    assert (wt / "new/dir/a.py").read_text() == "a = 1\nc = 0\nb = 3\n"
    out = ed.run({"command": "insert", "path": "new/dir/a.py", "insert_line": 0,
                  "insert_text": "# top"})  # fmt: skip
    assert (wt / "new/dir/a.py").read_text() == "# top\na = 1\nc = 0\nb = 3\n"
    bad = ed.run({"command": "insert", "path": "new/dir/a.py", "insert_line": 9,
                  "insert_text": "x"})  # fmt: skip
    assert bad.is_error and "between 0 and 4" in bad.text


def test_str_replace_needs_exactly_one_match(ed: EditorTool, wt: Path) -> None:
    before = (wt / "pkg/mod.py").read_text()
    many = ed.run({"command": "str_replace", "path": "pkg/mod.py", "old_str": "return 1",
                   "new_str": "return 2"})  # fmt: skip
    assert many.is_error and "2 times" in many.text and "lines 2, 6" in many.text
    none = ed.run({"command": "str_replace", "path": "pkg/mod.py", "old_str": "return 9",
                   "new_str": "x"})  # fmt: skip
    assert none.is_error and "no match" in none.text
    assert (wt / "pkg/mod.py").read_text() == before


@pytest.mark.parametrize("path", ["../outside.txt", "pkg/../../outside.txt", "/etc/passwd"])
def test_paths_outside_the_worktree_are_refused(ed: EditorTool, wt: Path, path: str) -> None:
    (wt.parent / "outside.txt").write_text("secret")
    for inp in (
        {"command": "view", "path": path},
        {"command": "create", "path": path, "file_text": "pwned"},
        {"command": "str_replace", "path": path, "old_str": "secret", "new_str": "x"},
    ):
        out = ed.run(inp)
        assert out.is_error and "outside the worktree" in out.text
    assert (wt.parent / "outside.txt").read_text() == "secret"


def test_symlink_escapes_are_refused(ed: EditorTool, wt: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "f.txt").write_text("secret")
    (wt / "link.txt").symlink_to(outside / "f.txt")
    (wt / "linkdir").symlink_to(outside)
    (wt / "dangling").symlink_to(outside / "new.txt")
    cases = [
        {"command": "view", "path": "link.txt"},
        {"command": "str_replace", "path": "link.txt", "old_str": "secret", "new_str": "x"},
        {"command": "view", "path": "linkdir/f.txt"},
        {"command": "create", "path": "linkdir/g.txt", "file_text": "x"},
        {"command": "create", "path": "linkdir/sub/g.txt", "file_text": "x"},
        {"command": "create", "path": "dangling", "file_text": "x"},
        {"command": "view", "path": "linkdir"},
    ]
    for inp in cases:
        out = ed.run(inp)
        assert out.is_error and "outside the worktree" in out.text, (inp, out.text)
    assert sorted(p.name for p in outside.iterdir()) == ["f.txt"]
    assert (outside / "f.txt").read_text() == "secret"


def test_symlink_inside_the_worktree_is_fine(ed: EditorTool, wt: Path) -> None:
    (wt / "alias").symlink_to(wt / "pkg")
    out = ed.run({"command": "view", "path": "alias/mod.py"})
    assert not out.is_error and "def f()" in out.text


def test_dot_git_is_off_limits(ed: EditorTool, wt: Path) -> None:
    for inp in (
        {"command": "view", "path": ".git"},
        {"command": "create", "path": ".git", "file_text": "gitdir: /elsewhere"},
        {"command": "create", "path": ".git/hooks/pre-commit", "file_text": "#!/bin/sh"},
        {"command": "create", "path": "sub/../.git", "file_text": "x"},
    ):
        out = ed.run(inp)
        assert out.is_error and ".git" in out.text, inp
    assert (wt / ".git").read_text().startswith("gitdir: /somewhere")
    assert not ed.run({"command": "create", "path": ".gitignore", "file_text": "*.o\n"}).is_error


def test_binary_and_huge_files_are_refused(wt: Path) -> None:
    ed = EditorTool(wt, max_file_bytes=100_000)
    (wt / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (wt / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    (wt / "big.txt").write_text("x" * 200_000)
    for name, word in (("img.png", "binary"), ("latin1.txt", "UTF-8"), ("big.txt", "too large")):
        out = ed.run({"command": "view", "path": name})
        assert out.is_error and word in out.text, out.text
    out = ed.run({"command": "str_replace", "path": "img.png", "old_str": "PNG", "new_str": "x"})
    assert out.is_error and "binary" in out.text


def test_long_output_is_capped(wt: Path) -> None:
    (wt / "long.txt").write_text("".join(f"line {i}\n" for i in range(20_000)))
    out = EditorTool(wt).run({"command": "view", "path": "long.txt"})
    assert not out.is_error
    assert len(out.text.encode()) < 31_000 and "bytes elided" in out.text
    assert "line 0" in out.text and "line 19999" in out.text


@pytest.mark.parametrize(
    "inp, words",
    [
        ({}, "unknown command"),
        ({"command": "undo_edit", "path": "README.md"}, "unknown command"),
        ({"command": "view"}, "'path'"),
        ({"command": "view", "path": 3}, "'path'"),
        ({"command": "view", "path": "README.md", "view_range": "1-2"}, "view_range"),
        ({"command": "create", "path": "a.txt"}, "file_text"),
        ({"command": "str_replace", "path": "README.md", "new_str": "x"}, "old_str"),
        ({"command": "insert", "path": "README.md", "insert_text": "x"}, "insert_line"),
        ({"command": "insert", "path": "README.md", "insert_line": "1", "insert_text": "x"},
         "insert_line"),
        ({"command": "insert", "path": "README.md", "insert_line": 1}, "insert_text"),
        ({"command": "view", "path": "missing.txt"}, "does not exist"),
        ({"command": "str_replace", "path": "pkg", "old_str": "a", "new_str": "b"}, "folder"),
    ],
)
def test_malformed_input_gives_an_error_outcome(ed: EditorTool, inp: dict, words: str) -> None:
    out = ed.run(inp)
    assert out.is_error and words in out.text
    assert ed.run(["not", "a", "dict"]).is_error  # type: ignore[arg-type]


def test_textcap_keeps_head_and_tail_and_survives_bad_bytes() -> None:
    text = "A" * 1000 + "B" * 1000
    out = cap(text, limit=100)
    assert out.startswith("A") and out.endswith("B")
    assert "[... 1900 bytes elided ...]" in out
    assert cap(b"ok \xff\xfe done") == "ok \ufffd\ufffd done"
    assert cap("short") == "short"


def test_a_refusal_is_marked_as_one(ed: EditorTool, wt: Path) -> None:
    """The record tells a call the walls refused from an ordinary failure."""
    refused = ed.run({"command": "view", "path": "/etc/passwd"})
    failed = ed.run({"command": "view", "path": "missing.txt"})
    assert refused.is_error and refused.meta.get("refused") is True
    assert failed.is_error and not failed.meta.get("refused")
