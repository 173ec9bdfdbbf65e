"""The board's two header lines: engine, cord, "needs you", and today's figures."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from andon.tui.data import BoardData
from andon.tui.widgets.format import percent, spend


class BoardHeader(Static):
    """Rendered from a `BoardData`; draws the eye (reverse colours) when gates wait."""

    DEFAULT_CSS = """
    BoardHeader { height: 2; padding: 0 1; background: $panel; }
    BoardHeader.-cord-pulled { background: $error 40%; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__("loading…", **kwargs)  # type: ignore[arg-type]
        self.data: BoardData | None = None

    def show(self, data: BoardData) -> None:
        if data == self.data:
            return
        self.data = data
        self.set_class(data.cord is not None, "-cord-pulled")
        self.update(self.render_text(data, self.size.width >= 100))

    def on_resize(self) -> None:
        if self.data is not None:
            self.update(self.render_text(self.data, self.size.width >= 100))

    @staticmethod
    def render_text(data: BoardData, wide: bool = False) -> Text:
        top = Text()
        top.append("ANDON ", style="bold")
        mode = data.mode
        glyph, style = {"daemon": ("●", "green"), "embedded": ("●", "cyan")}.get(
            mode.name, ("○", "red"))
        top.append(f"{glyph} ", style=style)
        top.append(f"{mode.name}" + (f" {mode.detail}" if mode.detail else ""))
        top.append("  │  ", style="dim")
        if data.cord:
            who = data.cord.get("by") or "?"
            why = data.cord.get("reason") or ""
            top.append(" CORD PULLED ", style="bold white on red")
            top.append(f" by {who}: {why}" if why else f" by {who}")
        else:
            top.append("cord ", style="dim")
            top.append("released", style="green")
        top.append("  │  ", style="dim")
        if data.needs_you:
            top.append(f" ⚑ {data.needs_you} need{'s' if data.needs_you == 1 else ''} you ",
                       style="bold black on yellow")
        else:
            top.append("nothing needs you", style="dim")

        bottom = Text()
        bottom.append("today ", style="dim")
        bottom.append(f"{data.runs_today} runs", style="bold")
        bottom.append(" · ", style="dim")
        bottom.append(f"{data.merges_today} merged", style="bold")
        bottom.append(" · ", style="dim")
        bottom.append("dark ")
        bottom.append(percent(data.dark_ratio), style="bold magenta")
        bottom.append(" · ", style="dim")
        bottom.append("spend ")
        bottom.append_text(spend(data.spend_today, data.spend_simulated,
                                 data.unknown_cost_today))
        if wide and data.spend_simulated:
            bottom.append("  (~ simulated)", style="dim italic")
        if wide and data.unknown_cost_today:
            bottom.append("  (+? prices unknown)", style="dim italic")
        return Text("\n").join([top, bottom])
