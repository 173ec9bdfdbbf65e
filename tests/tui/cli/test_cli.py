"""The command line as people type it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from andon.engine.factory.home import Home
from andon.tui.cli import hoist_home
from tests.conftest import name_repo
from tests.engine.spec.test_specfile import GOOD


def test_home_may_come_before_or_after_the_command(tmp_path: Path, home: Home,
                                                  sample_repo: Path) -> None:
    name_repo(home, sample_repo)
    spec = tmp_path / "s.md"
    spec.write_text(GOOD)
    andon = [sys.executable, "-m", "andon.tui"]
    subprocess.run([*andon, "submit", str(spec), "--home", str(home.root)], check=True,
                   capture_output=True)
    for argv in (["--home", str(home.root), "runs", "--json"],
                 ["runs", "--json", "--home", str(home.root)],
                 ["runs", f"--home={home.root}", "--json"]):
        out = subprocess.run([*andon, *argv], capture_output=True, text=True, check=True)
        assert [r["title"] for r in json.loads(out.stdout)] == ["Add a slugify helper"]


def test_only_the_home_option_moves() -> None:
    assert hoist_home(["show", "3", "--home", "/h", "--json"]) == [
        "--home", "/h", "show", "3", "--json"]
    assert hoist_home(["submit", "--", "--home"]) == ["submit", "--", "--home"]
    assert hoist_home(["demo", "--home", "/d"]) == ["demo", "--home", "/d"]  # its own


def test_the_demo_says_how_to_reopen_it_with_an_andon_that_exists(tmp_path: Path) -> None:
    """After `make demo` the venv's andon is not on PATH: the reopen line names it by
    its path; where `andon` on PATH is this very program, plain `andon` will do."""
    script = Path(sys.executable).parent / "andon"
    if not script.exists():
        pytest.skip(f"no andon script beside {sys.executable} (not an installed venv)")
    bare = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run([str(script), "demo", "--home", str(tmp_path / "d1"), "--headless",
                          "0"], capture_output=True, text=True, cwd=tmp_path, env=bare,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"{script.resolve()} demo --home {tmp_path / 'd1'}" in out.stdout
    assert "andon --home" not in out.stdout  # one way to reopen, not two

    on_path = {**bare, "PATH": f"{script.parent}:/usr/bin:/bin"}
    out = subprocess.run(["andon", "demo", "--home", str(tmp_path / "d2"), "--headless", "0"],
                         capture_output=True, text=True, cwd=tmp_path, env=on_path,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"\n  andon demo --home {tmp_path / 'd2'}" in out.stdout


def test_demo_help_names_the_screenshot_and_its_size(tmp_path: Path) -> None:
    andon = [sys.executable, "-m", "andon.tui", "demo"]
    shown = subprocess.run([*andon, "--help"], capture_output=True, text=True, check=True,
                           env={"PATH": "/usr/bin:/bin", "COLUMNS": "80",
                                "HOME": str(tmp_path)}).stdout
    assert "--screenshot " in shown and "--screenshot-size" in shown
    bad = subprocess.run([*andon, "--home", str(tmp_path / "d"), "--headless", "0",
                          "--screenshot-size", "80by24"], capture_output=True, text=True)
    assert bad.returncode == 2
    assert "--screenshot-size: '80by24' is not COLUMNSxROWS" in bad.stderr
    assert not (tmp_path / "d").exists()  # refused before anything was built


def test_the_demo_screenshot_is_drawn_at_the_size_asked(home: Home, tmp_path: Path) -> None:
    import re

    from andon.tui.cli.demo import _screenshot

    db = home.open()
    drawn = {}
    try:
        for cols, rows in ((80, 24), (110, 32)):
            svg = (tmp_path / "board.svg")
            _screenshot(home, db, svg, (cols, rows))
            text = svg.read_text()
            # each drawn line has a clip rectangle as wide as the terminal's columns
            widths = re.findall(r'-line-\d+">\s*<rect x="0" y="[\d.]+" width="([\d.]+)"',
                                text)
            drawn[cols, rows] = (float(widths[0]), len(widths))
    finally:
        db.close()
    (w80, n80), (w110, n110) = drawn[80, 24], drawn[110, 32]
    assert abs(w80 / w110 - 80 / 110) < 1e-6
    assert n110 - n80 == 32 - 24
