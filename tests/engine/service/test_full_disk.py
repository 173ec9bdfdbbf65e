"""A full disk: a run's failed write frees its worker slot, the run is held (never
failed) and resumes when space returns; the CLI and the engine's log say so in one line,
not a traceback per write.

The disk is real: a small tmpfs, mounted in a private mount namespace (`unshare`) so the
test needs no root on the machine; the factory runs in a child process inside it
(tests/support/fulldisk.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_repo

ROOT = Path(__file__).resolve().parents[3]
MOUNT = 'mount -t tmpfs -o size=6m tmpfs "$1" && shift && exec "$@"'


def in_full_disk(mode: str, tmp_path: Path, mountpoint: Path, repo: Path) -> dict[str, Any]:
    """Run tests/support/fulldisk.py MODE with a 6 MB tmpfs at `mountpoint`; skips when
    this machine allows no private mounts."""
    mountpoint.mkdir(parents=True)
    prefix = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", MOUNT, "sh",
              str(mountpoint)]
    if shutil.which("unshare") is None or subprocess.run(
            [*prefix, "true"], capture_output=True, check=False).returncode != 0:
        pytest.skip("needs `unshare --user --mount` to mount a small tmpfs (util-linux, "
                    "with user namespaces enabled)")
    outside = tmp_path / "outside"
    outside.mkdir()
    done = subprocess.run([*prefix, sys.executable, "-m", "tests.support.fulldisk", mode,
                           str(tmp_path / "home"), str(repo), str(outside)], cwd=ROOT,
                          capture_output=True, text=True, timeout=1200, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


@pytest.mark.timeout(1500)  # a whole factory in a child process: slow on a loaded machine
def test_a_full_home_frees_the_slot_says_so_once_and_loses_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    out = in_full_disk("home", tmp_path, home, make_repo(tmp_path / "repo"))
    assert out["slot_freed"], out
    cli = out["cli"]
    assert cli["code"] == 1 and cli["stderr"].strip().splitlines() == [
        f"error: the disk holding {home} is full; free some space (nothing is lost)"], cli
    disk = {c["name"]: c for c in out["doctor"]["checks"]}["disk"]
    assert not out["doctor"]["healthy"] and disk["status"] == "fail", out["doctor"]
    assert f"the disk holding {home} is full" in disk["detail"]
    assert out["settled"], out
    assert [r["status"] for r in out["runs"]] == ["merged", "merged"], out["runs"]
    told = [r for r in out["log"] if "is full" in r["message"]]
    assert told and not any(r["traceback"] for r in out["log"]), out["log"]


@pytest.mark.timeout(1500)
def test_a_full_repository_disk_holds_the_run_for_resume_instead_of_failing_it(
        tmp_path: Path) -> None:
    disk = tmp_path / "repodisk"
    out = in_full_disk("repo", tmp_path, disk, disk / "repo")
    first = out["first"]
    assert first["status"] == "interrupted", first
    assert "is full" in first["reason"], first
    assert out["settled"] and out["runs"][0]["status"] == "merged", out["runs"]
