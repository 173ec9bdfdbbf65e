"""`?`: the keys of the screen underneath (from its Binding lists) and a legend."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from andon.tui.widgets.format import STAGE_GLYPHS, level_dimmer

LEGEND = [
    ("stages", "prepare · plan · implement · validate · review · merge"),
    *[(glyph, state) for state, (glyph, _style) in STAGE_GLYPHS.items()
      if state in ("done", "current", "waiting", "held", "failed", "skipped", "pending")],
    ("~$0.04", "simulated money (scripted model): shown, not spent"),
    ("unknown", "a model whose price is unknown: never counted as free"),
    ("dark", "today's merged changes no person touched"),
    ("⚑", "a gate waits for a person (g opens the inbox)"),
]


def key_name(key: str) -> str:
    names = {"slash": "/", "question_mark": "?", "escape": "esc", "enter": "enter",
             "ctrl+p": "ctrl+p", "space": "space"}
    return names.get(key, key)


def key_rows(screen: Screen[object]) -> list[tuple[str, str, bool]]:
    """(key, what it does, enabled now) for each described binding of `screen`."""
    rows: list[tuple[str, str, bool]] = []
    seen: set[str] = set()
    # The screen's own actions first, then the focused pane's keys, then the app's.
    rank = {id(screen): 0, id(screen.app): 2}
    ordered = sorted(screen.active_bindings.items(),
                     key=lambda item: rank.get(id(item[1].node), 1))
    for key, active in ordered:
        binding = active.binding
        text = binding.description or binding.tooltip
        if not text or key in seen or not (binding.show or binding.tooltip):
            continue  # Textual's own plumbing (scrolling, copying) stays out of the way
        seen.add(key)
        if binding.tooltip and binding.tooltip != text:
            text = f"{text} — {binding.tooltip}"
        rows.append((key_name(key), text, active.enabled))
    rows = [row for row in rows if row[0] != "ctrl+p"]
    rows.append(("ctrl+p", "Command palette — every action, runs by number or title", True))
    return rows


def keys_table(rows: list[tuple[str, str, bool]]) -> Table:
    table = Table(box=None, show_header=False, padding=(0, 1))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for key, text, enabled in rows:
        table.add_row(key, Text(text, style="" if enabled else "dim"))
    return table


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; max-width: 96; height: 90%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, under: Screen[object]) -> None:
        super().__init__()
        self.under = under
        self.rows = key_rows(under)

    def compose(self) -> ComposeResult:
        legend = Table(box=None, show_header=False, padding=(0, 1))
        legend.add_column(style="bold", no_wrap=True)
        legend.add_column()
        for sign, meaning in LEGEND:
            legend.add_row(sign, meaning)
        for level, name in ((2, "supervised"), (3, "spec-driven"), (4, "dark")):
            legend.add_row(level_dimmer(level), f"level {level}: {name}")
        with VerticalScroll():
            yield Static(Text("Keys here", style="bold underline"))
            yield Static(keys_table(self.rows))
            yield Static(Text("\nLegend", style="bold underline"))
            yield Static(legend)
            yield Static(Text("\nEscape or ? closes this.", style="dim"))

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
