"""store <- policies <- engine <- tui: a lower layer never imports a higher one."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["store", "policies", "engine", "tui"]


def imported_packages(path: Path) -> set[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[tuple[int, str]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {(node.lineno, alias.name.split(".")[0]) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.lineno, node.module.split(".")[0]))
    return found


def test_no_module_imports_a_higher_layer() -> None:
    violations = []
    for rank, layer in enumerate(LAYERS):
        higher = set(LAYERS[rank + 1 :])
        for path in sorted((ROOT / layer).rglob("*.py")):
            for line, package in imported_packages(path):
                if package in higher:
                    violations.append(f"{path.relative_to(ROOT)}:{line} imports {package}")
    assert violations == [], "upward imports:\n" + "\n".join(violations)


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom engine.pipeline import Pipeline\n")
    assert (2, "engine") in imported_packages(bad)
