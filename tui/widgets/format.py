"""Small formatters shared by the control room's widgets (text in, rich Text out)."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from andon.store import models as m
from andon.store.clock import as_utc

LEVEL_NAMES = {2: "supervised", 3: "spec-driven", 4: "dark"}

# Rich styles (no CSS variables): used inside Text cells.
RICH_STATUS = {
    m.QUEUED: "dim",
    m.RUNNING: "bold cyan",
    m.WAITING: "bold yellow",
    m.HELD: "bold red",
    m.INTERRUPTED: "yellow",
    m.MERGED: "green",
    m.FAILED: "red",
    m.STUCK: "red",
    m.REJECTED: "red",
    m.CANCELLED: "dim",
    m.UNCHANGED: "dim",
    m.REVERTED: "yellow",
}

STAGE_GLYPHS = {
    "done": ("●", "green"),
    "passed": ("●", "green"),
    "current": ("▶", "bold cyan"),
    "waiting": ("⚑", "bold yellow"),
    "held": ("‖", "bold red"),
    "queued": ("·", "dim"),
    "failed": ("✗", "bold red"),
    "cancelled": ("✗", "dim"),
    "skipped": ("–", "dim"),
    "pending": ("·", "dim"),
}


def money(cost: float | None, simulated: bool = False) -> Text:
    """"$1.23"; "unknown" when a price is unknown; "~$1.23" (dim italic) when simulated."""
    if cost is None:
        return Text("unknown", style="dim italic")
    text = f"${cost:,.2f}"
    if simulated:
        return Text("~" + text, style="italic")
    return Text(text)


def spend(real: float, simulated: float = 0.0, unknown: bool = False) -> Text:
    """Real money, then the simulated part ("~$0.05", italic), "+?" when some is unknown."""
    text = Text()
    if real or not simulated:
        text.append(f"${real:,.2f}")
    if simulated:
        if real:
            text.append(" ")
        text.append(f"~${simulated:,.2f}", style="italic")
    if unknown:
        text.append("+?", style="dim")
    return text


def run_cost(cost: float | None, simulated: bool, started: bool) -> Text:
    if not started and not cost:
        return Text("·", style="dim")
    return money(cost, simulated)


def elapsed(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def run_elapsed(started: datetime | None, finished: datetime | None, now: datetime) -> str:
    start = as_utc(started)
    if start is None:
        return ""
    end = as_utc(finished) or now
    return elapsed((end - start).total_seconds())


def age(when: datetime | None, now: datetime) -> str:
    when = as_utc(when)
    return elapsed((now - when).total_seconds()) if when else ""


def tokens(n: int) -> str:
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.1f}M"


def level_dimmer(level: int | None) -> Text:
    """The 2-3-4 dimmer: "2 ▮▮▯ 4" is level 3 (spec-driven)."""
    if level is None:
        return Text("no policy", style="dim")
    filled = max(0, min(3, level - 1))
    text = Text("2 ", style="dim")
    text.append("▮" * filled, style="bold" if level < 4 else "bold magenta")
    text.append("▯" * (3 - filled), style="dim")
    text.append(" 4", style="dim")
    return text


def status_text(status: str) -> Text:
    return Text(status, style=RICH_STATUS.get(status, ""))


def stage_strip(stage: str | None, status: str) -> Text:
    """One glyph per pipeline stage from the run's current stage and status."""
    text = Text()
    if stage == "post-merge":  # the watch after a merge: shown on the merge glyph
        stage = "merge"
    current = m.STAGES.index(stage) if stage in m.STAGES else -1
    finished = status in m.TERMINAL_STATUSES
    for index, _name in enumerate(m.STAGES):
        if current < 0:
            state = "done" if status in (m.MERGED, m.REVERTED) else "pending"
        elif index < current:
            state = "passed"
        elif index > current:
            state = "pending"
        elif status in (m.MERGED, m.REVERTED):
            state = "done"
        elif finished:
            state = "cancelled" if status in (m.CANCELLED, m.UNCHANGED) else "failed"
        elif status in (m.WAITING, m.HELD):
            state = status
        else:
            state = "current"
        glyph, style = STAGE_GLYPHS[state]
        text.append(glyph, style=style)
    return text


def percent(ratio: float | None) -> str:
    return "–" if ratio is None else f"{ratio * 100:.0f}%"
