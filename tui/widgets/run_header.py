"""The run screen's top: what the run is, where it stands, what it cost, and its stages."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from andon.store import models as m
from andon.tui.data import RunDetail
from andon.tui.widgets.format import (
    LEVEL_NAMES,
    STAGE_GLYPHS,
    money,
    run_elapsed,
    status_text,
    tokens,
)


def header_text(detail: RunDetail) -> Text:
    run = detail.run
    text = Text()
    text.append(f"#{run.id} ", style="bold")
    text.append(run.title, style="bold")
    text.append(f"  {LEVEL_NAMES.get(run.level, '')} · {run.model or 'no model yet'}",
                style="dim")
    text.append("\n")
    text.append_text(status_text(run.status))
    text.append(f" · {run.category} L{run.level}")
    text.append(" · ")
    text.append(run_elapsed(run.started_at, run.finished_at, detail.now) or "not started")
    text.append(f" · {run.turns} turns · {tokens(run.tokens_in + run.tokens_out)} tok · ")
    text.append_text(money(run.cost_usd, detail.simulated))
    if detail.simulated and run.cost_usd is not None:
        text.append(" sim", style="dim italic")
    if run.cancel_requested and run.status in m.ACTIVE_STATUSES:
        text.append(" · cancel requested", style="bold red")
    if run.reason and (run.status in m.TERMINAL_STATUSES or run.status == m.HELD):
        # held: what holds it and until when (forge weather, the model service away)
        text.append("\n")
        text.append(run.reason, style="dim")
    for review in detail.reviews:  # only once the person's verdict is stored
        text.append("\nreview ", style="dim")
        text.append(review, style="dim")
    return text


def timeline_text(detail: RunDetail, width: int = 80) -> Text:
    text = Text()
    wide = width >= 100
    for i, stage in enumerate(detail.stages):
        if i:
            text.append(" ─ ", style="dim")
        glyph, style = STAGE_GLYPHS.get(stage.state, ("·", "dim"))
        text.append(glyph, style=style)
        name_style = "bold" if stage.state in ("current", "waiting", "held", "failed") else (
            "" if stage.state == "done" else "dim")
        text.append(stage.name, style=name_style)
        if wide and stage.started_at is not None:
            end = stage.ended_at or (None if detail.run.status in m.ACTIVE_STATUSES
                                     else detail.run.finished_at)
            took = run_elapsed(stage.started_at, end, detail.now)
            if took:
                text.append(f" {took}", style="dim")
    return text


class RunHeader(Static):
    DEFAULT_CSS = """
    RunHeader { height: auto; max-height: 3; padding: 0 1; background: $panel; }
    """

    def show(self, detail: RunDetail) -> None:
        self.update(header_text(detail))


class StageTimeline(Static):
    DEFAULT_CSS = """
    StageTimeline { height: 1; padding: 0 1; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self.detail: RunDetail | None = None

    def show(self, detail: RunDetail) -> None:
        self.detail = detail
        self.update(timeline_text(detail, self.size.width or 80))

    def on_resize(self) -> None:
        if self.detail is not None:
            self.update(timeline_text(self.detail, self.size.width))
