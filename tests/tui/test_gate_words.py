"""Words on a gate: an edit is not a shell command, and the run's title is not labelled
`run:` (a shell command's gate title is)."""

from __future__ import annotations

from datetime import UTC, datetime

from andon.store import models as m
from andon.tui.data.gates import GateItem
from andon.tui.widgets.gate_detail import exact_change, plain_text, render_gate

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def gate_item(title: str, detail: dict[str, object]) -> GateItem:
    run = m.Run(id=5, spec_id=1, title="Add a slugify helper", category="feature", level=2,
                status=m.WAITING, stage="implement")
    gate = m.Gate(id=3, run_id=5, kind="action", stage="implement", title=title,
                  detail=detail, created_at=NOW)
    return GateItem(gate, run)


def test_an_edit_gate_shows_no_shell_command() -> None:
    item = gate_item("create notes.txt", {
        "tool": "str_replace_based_edit_tool", "action": "edit", "path": "notes.txt",
        "input": {"command": "create", "path": "notes.txt", "file_text": "hello\n"}})
    shown = plain_text(render_gate(item, NOW))
    assert "$ create" not in shown and "\ncommand\n" not in f"\n{shown}\n"
    assert "path: notes.txt" in shown
    assert "$ create" not in exact_change(item.gate)


def test_a_shell_gate_shows_its_command_and_the_run_is_not_labelled_run() -> None:
    item = gate_item("run: make test", {"tool": "bash", "action": "shell",
                                        "command": "make test",
                                        "input": {"command": "make test"}})
    shown = plain_text(render_gate(item, NOW))
    assert "$ make test" in shown
    assert "run 5 · Add a slugify helper" in shown
    assert "run: Add a slugify helper" not in shown
    assert exact_change(item.gate) == "$ make test"
