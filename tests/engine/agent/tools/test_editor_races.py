"""The editor against an agent that races it: every path is walked from a descriptor of
the worktree, so swapping a folder for a symlink never leads a read or a write outside.

The folders are outside /tmp on purpose: the sandbox gives commands a private /tmp, so
an escape into /tmp could go unseen from inside, and a test there could pass for the
wrong reason.
"""

from __future__ import annotations

import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from andon.engine.agent.tools.editor import EditorTool
from andon.engine.agent.tools.shell import BashTool
from andon.engine.workspace.confine import Confined, Refused, points_outside
from andon.engine.workspace.sandbox import SandboxConfig
from tests.conftest import requires
from tests.support.walls import processes_with, wait_until

SECRET = "HOLDOUT-7f3c: the answer"


@pytest.fixture
def layout(outside_tmp: Path) -> tuple[Path, Path]:
    """A worktree with a folder `d`, and a folder beside it holding a secret."""
    wt = outside_tmp / "wt"
    (wt / "d").mkdir(parents=True)
    (wt / "d" / "inside.txt").write_text("inside\n")
    out = outside_tmp / "elsewhere"
    out.mkdir()
    (out / "secret.md").write_text(SECRET + "\n")
    return wt, out


# -- an adversary at every open, deterministically --------------------------------------

_ADVERSARY: list[tuple[int, Callable[[], None]]] = []
_HOOKED = False


def _audit(event: str, args: tuple[object, ...]) -> None:
    if event == "open" and _ADVERSARY and _ADVERSARY[0][0] == threading.get_ident():
        _, act = _ADVERSARY[0]
        _ADVERSARY.clear()  # the swap itself opens nothing, but never recurse
        try:
            act()
        finally:
            _ADVERSARY.append((threading.get_ident(), act))


@pytest.fixture
def adversary(layout: tuple[Path, Path]) -> Iterator[Callable[[], None]]:
    """Right before every file the engine opens (in this thread), `d` changes between
    the real folder and a symlink to the folder outside: the worst timing a background
    process of the agent could ever hit, every time."""
    global _HOOKED
    wt, out = layout
    d, hold = wt / "d", wt / ".hold"

    def swap() -> None:
        if d.is_symlink():
            d.unlink()
            hold.rename(d)
        else:
            d.rename(hold)
            d.symlink_to(out)

    if not _HOOKED:
        sys.addaudithook(_audit)  # cannot be removed: it acts only while armed
        _HOOKED = True

    def arm() -> None:
        _ADVERSARY.append((threading.get_ident(), swap))

    yield arm
    _ADVERSARY.clear()


def _real_d(wt: Path) -> Path:
    return wt / ".hold" if (wt / "d").is_symlink() else wt / "d"


def test_a_folder_swapped_at_every_open_never_leads_outside(
        layout: tuple[Path, Path], adversary: Callable[[], None]) -> None:
    wt, out = layout
    ed = EditorTool(wt)
    adversary()
    outcomes = []
    for i in range(12):
        outcomes.append(ed.run({"command": "create", "path": f"d/f{i}.txt",
                                "file_text": f"{i}\n"}))
        outcomes.append(ed.run({"command": "view", "path": "d/secret.md"}))
        outcomes.append(ed.run({"command": "str_replace", "path": "d/secret.md",
                                "old_str": "answer", "new_str": "pwned"}))
        outcomes.append(ed.run({"command": "view", "path": "d"}))
    _ADVERSARY.clear()
    assert sorted(p.name for p in out.iterdir()) == ["secret.md"]
    assert (out / "secret.md").read_text() == SECRET + "\n"
    for outcome in outcomes:
        assert SECRET not in outcome.text and f"{wt}/d/secret.md" not in outcome.text
    created = [o.text.removeprefix("File created: ") for o in outcomes
               if o.text.startswith("File created: ")]
    for shown in created:  # the record says where the write went, and it went there
        assert Path(shown).parent == wt / "d"
        assert (_real_d(wt) / Path(shown).name).is_file()
    refused = [o for o in outcomes if o.is_error and "outside the worktree" in o.text]
    assert refused, "the adversary never caught the editor mid-walk"


# -- a real background process in the sandbox -------------------------------------------

SWAPPER = """\
import os, sys
n = 0
while True:
    n += 1
    try:
        os.rename("d", f".hold{n}")
        os.symlink(sys.argv[1], "d")
        os.unlink("d")
        os.rename(f".hold{n}", "d")
    except OSError:
        pass
"""


@requires("bwrap")
def test_a_background_swapper_in_the_sandbox_cannot_lead_the_editor_out(
        layout: tuple[Path, Path]) -> None:
    wt, out = layout
    token = f"andon-swapper-{uuid.uuid4().hex}"
    shell = BashTool(wt, SandboxConfig(wt), timeout=60)
    ed = EditorTool(wt)
    try:
        # A tight loop (microseconds a swap), as a background process would run it.
        swapper = wt.parent / "swap.py"
        swapper.write_text(SWAPPER)
        started = shell.run({"command": f"setsid {sys.executable} {swapper} {out} {token} "
                                        ">/dev/null 2>&1 & echo started"})
        assert "started" in started.text, started.text
        assert wait_until(lambda: bool(processes_with(token)))
        outcomes = []
        for i in range(2000):  # the old check-then-open editor lost ~1 in 400 here
            outcomes.append(ed.run({"command": "create", "path": f"d/f{i}.txt",
                                    "file_text": f"{i}\n"}))
            if i % 10 == 0:
                outcomes.append(ed.run({"command": "view", "path": "d/secret.md"}))
        assert sorted(p.name for p in out.iterdir()) == ["secret.md"]
        for outcome in outcomes:
            assert SECRET not in outcome.text, outcome.text
    finally:
        shell.close()
    # Nothing the agent started outlives its shell, not even a setsid'd loop.
    assert wait_until(lambda: not processes_with(token))
    # Each write the record calls created is in the worktree (in whichever folder the
    # loop left it: it renames them while the editor works).
    landed = {name for _, _, names in os.walk(wt) for name in names}
    for outcome in outcomes:
        if outcome.text.startswith("File created: "):
            shown = Path(outcome.text.removeprefix("File created: "))
            assert shown.parent == wt / "d" and shown.name in landed, outcome.text


# -- resolving by hand --------------------------------------------------------------------


def test_symlinks_inside_are_followed_by_hand_and_outward_ones_refused(
        layout: tuple[Path, Path]) -> None:
    wt, _ = layout
    (wt / "abs").symlink_to(wt / "d")
    (wt / "d" / "up").symlink_to("..")
    (wt / "d" / "top").symlink_to("../..")
    (wt / "rel").symlink_to("d/up/d/inside.txt")
    (wt / "loop1").symlink_to("loop2")
    (wt / "loop2").symlink_to("loop1")
    (wt / "gitlink").symlink_to(".git")
    (wt / "away").symlink_to("d/../../elsewhere")
    files = Confined(wt)
    for raw in ("abs/inside.txt", "rel", f"{wt}/abs/up/d/inside.txt"):
        data, _, at = files.read_bytes(raw, 100)
        assert data == b"inside\n" and at.parts == ("d", "inside.txt"), raw
    for raw, words in (("loop1", "too many levels"), ("gitlink/config", ".git"),
                       ("away/secret.md", "outside the worktree"),
                       ("d/top/elsewhere/secret.md", "outside the worktree")):
        with pytest.raises(Refused, match=words):
            files.read_bytes(raw, 100)


def test_unlink_removes_the_link_not_its_target(layout: tuple[Path, Path]) -> None:
    wt, out = layout
    (wt / "rootlink").symlink_to(out / "secret.md")
    Confined(wt).unlink("rootlink")
    assert not (wt / "rootlink").is_symlink() and (out / "secret.md").exists()


@pytest.mark.parametrize(("rel", "target", "outside"), [
    ("rootlink", "/", True),
    ("a/tmplink", "/tmp", True),
    ("a/b/up", "../..", False),
    ("a/b/out", "../../..", True),
    ("a/sneaky", "b/../../../x", True),
    ("a/fine", "../README.md", False),
])
def test_points_outside(rel: str, target: str, outside: bool) -> None:
    assert points_outside(rel, target) is outside
