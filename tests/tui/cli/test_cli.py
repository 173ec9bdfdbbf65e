"""The command line as people type it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from andon.engine.factory.home import Home
from andon.tui.cli import hoist_home
from tests.engine.spec.test_specfile import GOOD


def test_home_may_come_before_or_after_the_command(tmp_path: Path, home: Home) -> None:
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
