"""One owner of a run's status: only andon.engine.run.status writes it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("store", "policies", "engine", "tui")
OWNER = ROOT / "engine" / "run" / "status.py"
# Objects with a status of their own (a step, a gate, the agent's state, ...): their
# `.status` is not a run's. Anything else assigning `.status` is taken for a run.
NOT_A_RUN = re.compile(r"(^|[._])(step|handle|gate|expired|state|result|outcome|self|body)$"
                       r"|\bm\.Step\b")
RUN_STATUSES = {"QUEUED", "RUNNING", "WAITING", "HELD", "INTERRUPTED", "MERGED", "FAILED",
                "STUCK", "REJECTED", "CANCELLED", "REVERTED", "UNCHANGED"}


def _targets(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.Assign):
        found: list[ast.expr] = []
        for target in node.targets:
            found += target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]
        return found
    if isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        return [node.target]
    return []


def status_writes(source: str) -> list[str]:
    """Where `source` writes a run's status itself: `x.status = ...` on anything not
    known to be a step/gate/..., `status=` passed to an update or a Run, a dict that
    sets "status" to a run status, `setattr(x, "status", ...)`, or SQL updating runs."""
    found = []
    for node in ast.walk(ast.parse(source)):
        for target in _targets(node):
            if (isinstance(target, ast.Attribute) and target.attr == "status"
                    and not NOT_A_RUN.search(ast.unparse(target.value))):
                found.append(f"line {node.lineno}: {ast.unparse(node)[:80]}")
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            receiver = ast.unparse(func.value) if isinstance(func, ast.Attribute) else ""
            if (name in ("update", "values", "Run") and not NOT_A_RUN.search(receiver)
                    and any(k.arg == "status" for k in node.keywords)):
                found.append(f"line {node.lineno}: {ast.unparse(node)[:80]}")
            if (name == "setattr" and len(node.args) > 1
                    and isinstance(node.args[1], ast.Constant)
                    and node.args[1].value == "status"):
                found.append(f"line {node.lineno}: {ast.unparse(node)[:80]}")
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if (isinstance(key, ast.Constant) and key.value == "status"
                        and isinstance(value, ast.Attribute) and value.attr in RUN_STATUSES):
                    found.append(f"line {node.lineno}: {ast.unparse(node)[:80]}")
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and re.search(r"update\s+runs\b", node.value, re.IGNORECASE)):
            found.append(f"line {node.lineno}: SQL {node.value[:60]!r}")
    return found


def test_only_the_status_owner_writes_a_runs_status() -> None:
    offenders = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == OWNER or "migrations" in path.parts:
                continue
            offenders += [f"{path.relative_to(ROOT)} {where}"
                          for where in status_writes(path.read_text())]
    assert offenders == [], "a run's status is changed only by transition():\n" + \
        "\n".join(offenders)


def test_the_scan_sees_each_way_of_writing_a_status() -> None:
    planted = {
        "run.status = m.FAILED": 1,
        "row.status, row.reason = m.MERGED, 'x'": 1,
        "log.update(status=m.HELD)": 1,
        "m.Run(spec_id=1, status=m.RUNNING)": 1,
        "setattr(run, 'status', 'failed')": 1,
        "fields = {'status': m.RUNNING}": 1,
        "s.exec(text('UPDATE runs SET status = 1'))": 1,
        "step.status = 'ok'\ngate.status = m.VOIDED\nstate.status = 'done'": 0,
        "body.update(status=run.status)": 0,
    }
    for source, count in planted.items():
        assert len(status_writes(source)) == count, source
