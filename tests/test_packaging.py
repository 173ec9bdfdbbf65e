"""Installed, Andon is one `andon` namespace: the package list in pyproject covers every
package folder, each layer is typed, and the licence matches what pyproject says."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
LAYERS = ["store", "policies", "engine", "tui"]


def folders() -> set[str]:
    found = set()
    for layer in LAYERS:
        for init in (ROOT / layer).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT)
            if "demo_data" not in rel.parts:  # the demo's own repository is data
                found.add("andon." + ".".join(rel.parts))
    return found


def test_every_package_folder_is_listed_and_nothing_else() -> None:
    setuptools = PYPROJECT["tool"]["setuptools"]
    assert set(setuptools["packages"]) == folders()
    assert setuptools["package-dir"] == {f"andon.{layer}": layer for layer in LAYERS}


def test_each_layer_says_it_is_typed() -> None:
    for layer in LAYERS:
        assert (ROOT / layer / "py.typed").exists()
        assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"][f"andon.{layer}"]


def test_the_licence_file_matches_pyproject() -> None:
    assert PYPROJECT["project"]["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")


def test_andon_version_prints_the_installed_version() -> None:
    out = subprocess.run([sys.executable, "-m", "andon.tui", "--version"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"andon {PYPROJECT['project']['version']}"
