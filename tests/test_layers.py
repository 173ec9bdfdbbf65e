"""The house rules of the code: store <- policies <- engine <- tui, the engine's inner
levels in order, and no import cycles. A lower layer or level never imports a higher one."""

from __future__ import annotations

import ast
import shutil
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["store", "policies", "engine", "tui"]
# The engine's sub-packages, lowest first; errors.py and textcap.py sit below them all.
ENGINE = ["factory", "spec", "run", "workspace", "forge", "llm", "gates", "agent", "pipeline",
          "readiness", "service", "ops"]


def modules(root: Path) -> Iterator[tuple[str, Path]]:
    for layer in LAYERS:
        for path in sorted((root / layer).rglob("*.py")):
            if "demo_data" in path.parts or "migrations" in path.parts:
                continue  # the demo's own repository and alembic scripts are data, not Andon
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield "andon." + ".".join(parts), path


def imports(path: Path, *, typing: bool = True) -> Iterator[tuple[int, str]]:
    """Every andon module a file imports, at top level or inside a function; with
    typing=False, not those under `if TYPE_CHECKING:` (they never run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip: set[int] = set()
    if not typing:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skip |= {id(inner) for stmt in node.body for inner in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in ("andon", *LAYERS):
                yield node.lineno, name


def rank(module: str) -> tuple[int, int]:
    """Where a module sits: (layer, engine level). A bare top-level name such as
    `engine.x` (the old spelling) ranks as its layer, so it cannot slip past."""
    parts = module.split(".")
    if parts[0] == "andon":
        parts = parts[1:]
    layer = LAYERS.index(parts[0]) if parts and parts[0] in LAYERS else -1
    level = -1
    if parts[:1] == ["engine"] and len(parts) > 1 and parts[1] in ENGINE:
        level = ENGINE.index(parts[1])
    return layer, level


def violations(root: Path) -> list[str]:
    found = []
    known = dict(modules(root))
    for module, path in known.items():
        here, seen = rank(module), set()
        for line, name in imports(path):
            if line in seen:
                continue  # `from a import b` names a and a.b: one finding a statement
            where = f"{path.relative_to(root)}:{line} imports {name}"
            if not name.startswith("andon."):
                found.append(f"{where} (outside the andon namespace)")
                seen.add(line)
                continue
            there = rank(name)
            if there[0] > here[0] or (there[0] == here[0] == 2 and there[1] > here[1]):
                found.append(f"{where} (a higher layer or level)")
                seen.add(line)
    return found


def cycles(root: Path) -> list[list[str]]:
    known = dict(modules(root))
    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        graph[module] = set()
        for _, name in imports(path, typing=False):
            while name and name not in known:  # `from a.b import c`: c may be a name, not a module
                name = name.rpartition(".")[0]
            if name and name != module and known[name].name != "__init__.py":
                graph[module].add(name)
    found, state = [], dict.fromkeys(graph, 0)

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state[nxt] == 1:
                found.append([*trail[trail.index(nxt):], nxt] if nxt in trail else [node, nxt])
            elif state[nxt] == 0:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(graph):
        if state[node] == 0:
            visit(node, [node])
    return found


def test_no_module_imports_a_higher_layer_or_level() -> None:
    assert violations(ROOT) == []


def test_no_import_cycles() -> None:
    assert cycles(ROOT) == []


def test_every_engine_sub_package_is_in_the_order() -> None:
    subs = {p.parent.name for p in (ROOT / "engine").glob("*/__init__.py")}
    assert subs == set(ENGINE)


def test_a_planted_upward_import_is_caught(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    for layer in LAYERS:
        shutil.copytree(ROOT / layer, tree / layer, ignore=shutil.ignore_patterns("demo_data"))
    (tree / "store" / "planted.py").write_text("from andon.engine.pipeline.stages import run\n")
    (tree / "engine" / "run" / "planted.py").write_text(
        "def later():\n    from andon.engine.service.runner import Runner\n")
    (tree / "engine" / "spec" / "planted.py").write_text("import engine.run.queue\n")
    found = violations(tree)
    assert len(found) == 3, found
    assert any("store/planted.py:1" in f for f in found)
    assert any("engine/run/planted.py:2" in f for f in found)
    assert any("spec/planted.py:1" in f and "outside the andon namespace" in f for f in found)


def test_a_planted_cycle_is_caught(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    for layer in LAYERS:
        (tree / layer).mkdir(parents=True)
    (tree / "tui" / "a.py").write_text("from andon.tui.b import x\n")
    (tree / "tui" / "b.py").write_text("def later():\n    from andon.tui import a\n")
    assert cycles(tree) == [["andon.tui.a", "andon.tui.b", "andon.tui.a"]]
