"""The control room in a real terminal: tmux at 80x24, TERM=xterm-256color without
truecolor, mouse off, as over SSH. Keys go in with send-keys; the screen comes back
with capture-pane."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import requires
from tests.support.tui import FROZEN_NOW, Seeded

pytestmark = requires("tmux")
ROOT = Path(__file__).resolve().parents[2]


class Tmux:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def __call__(self, *args: str, check: bool = True) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=check,
                              capture_output=True, text=True).stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "andon", check=False)

    def keys(self, *keys: str) -> None:
        self("send-keys", "-t", "andon", *keys)

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            shown = self.screen()
            if text in shown:
                return shown
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not on screen within {timeout}s:\n{self.screen()}")

    def wait_gone(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text in self.screen():
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} still on screen:\n{self.screen()}")
            time.sleep(0.1)

    def alive(self) -> bool:
        return subprocess.run(["tmux", "-L", self.socket, "has-session", "-t", "andon"],
                              capture_output=True).returncode == 0


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    t = Tmux(f"andon-test-{os.getpid()}-{tmp_path.name}")
    yield t
    t("kill-server", check=False)


def test_the_control_room_at_80x24_in_tmux(tmux: Tmux, seeded: Seeded) -> None:
    env = {"TERM": "xterm-256color", "ANDON_NOW": FROZEN_NOW.isoformat(), "TZ": "UTC",
           "PYTHONPATH": str(ROOT)}
    command = " ".join([
        "env -u COLORTERM", *(f"{k}={v}" for k, v in env.items()),
        sys.executable, "-m", "andon.tui", "--home", str(seeded.home.root), "--no-mouse"])
    tmux("new-session", "-d", "-s", "andon", "-x", "80", "-y", "24", command)

    board = tmux.wait_for("ANDON")
    tmux.wait_for("Add a slugify")
    board = tmux.screen()
    lines = board.splitlines()
    assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
    assert "needs you" in board and "today" in board
    assert "⏎ Open" in board and "C Cord" in board  # the whole key bar fits in 80
    tmux.wait_for("embedded")  # no daemon: the control room runs an engine itself

    tmux.keys("/", "slug", "Enter")
    tmux.wait_for("matching “slug”")
    tmux.keys("Enter")
    run = tmux.wait_for("#6 Add a slugify helper")
    assert "Transcript" in run and "implement" in run
    tmux.keys("2")
    tmux.wait_for("sample/text.py")
    tmux.keys("Escape")
    tmux.wait_for("ANDON")
    tmux.keys("?")
    tmux.wait_for("Keys here")
    tmux.keys("Escape")
    tmux.wait_gone("Keys here")

    tmux.keys("q")
    deadline = time.monotonic() + 45
    while tmux.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not tmux.alive(), "q did not leave the control room:\n" + tmux.screen()
