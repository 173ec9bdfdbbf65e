"""The inbox's list of pending gates, oldest first; rows keyed by gate id. A gate past
its timeout and held for a person is marked ⏱ after its kind."""

from __future__ import annotations

from datetime import datetime

from andon.engine.gates.gate import timed_out
from andon.tui.data.gates import GateItem
from andon.tui.widgets.gate_detail import format_age
from andon.tui.widgets.keyed_table import KeyedTable

COLUMNS = ("gate", "kind", "run", "category", "age", "title")
TITLE_WIDTH = 48


class GateTable(KeyedTable):
    """Pending gates; the cursor stays on the same gate when the list refreshes."""

    COLUMNS = COLUMNS

    def show_gates(self, items: list[GateItem], now: datetime) -> None:
        rows = []
        for item in items:
            gate, run = item.gate, item.run
            title = gate.title or run.title
            if len(title) > TITLE_WIDTH:
                title = title[: TITLE_WIDTH - 1] + "…"
            kind = f"{gate.kind} ⏱" if timed_out(gate) else gate.kind
            rows.append((str(gate.id), (str(gate.id), kind, str(run.id), run.category,
                                        format_age(gate.created_at, now), title)))
        self.replace_rows(rows)

    def selected_gate_id(self) -> int | None:
        return self.selected_id()
