"""The live transcript: stage dividers, model text as it streams, tool calls that open.

A line-API view (Toolong's approach): only the rows on screen are rendered, entry heights
are kept as a prefix sum so any row maps to its entry with a bisect, and rendered entries
sit in a small LRU. A run with a hundred thousand entries scrolls like one with ten.

Keys: up/down (or k/j) move between entries, enter or space opens and closes a tool call,
home/end jump, end also resumes following new entries.
"""

from __future__ import annotations

import json
import textwrap
from bisect import bisect_right, insort
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from andon.tui.data import Entry, TranscriptChunk

MORE_KEY = "more"  # the line on top saying that earlier entries exist
OUTPUT_LINES = 200  # lines of a tool's output shown when opened
CACHE_ENTRIES = 512

STYLES = {
    "time": Style(dim=True),
    "stage": Style(bold=True, color="magenta"),
    "model": Style(dim=True, italic=True),
    "text": Style(),
    "tool": Style(color="cyan"),
    "check": Style(color="blue", bold=True),
    "scenario": Style(color="blue"),
    "ok": Style(color="green"),
    "error": Style(color="red", bold=True),
    "running": Style(color="yellow"),
    "note": Style(dim=True),
    "label": Style(dim=True, bold=True),
    "body": Style(),
    "more": Style(dim=True, italic=True),
}
#: What a step still "running" is doing while its run waits: a mutating tool call waits
#: at its gate; a held run (the cord, or no model service) holds it.
WAITING_VERDICTS = {"waiting": "waiting for you", "held": "held"}
CURSOR = Style(reverse=True)
CURSOR_UNFOCUSED = Style(underline=True)


def _wrap(text: str, width: int, *, words: bool) -> list[str]:
    out: list[str] = []
    width = max(8, width)
    for line in text.splitlines() or [""]:
        line = line.expandtabs(4)
        if cell_len(line) <= width:
            out.append(line)
        elif words:
            out.extend(textwrap.wrap(line, width, break_long_words=True,
                                     replace_whitespace=False, drop_whitespace=True) or [""])
        else:
            out.extend(line[i:i + width] for i in range(0, len(line), width))
    return out


def _input_lines(data: Any) -> list[str]:
    if data is None:
        return []
    if isinstance(data, dict):
        lines = []
        for key, value in data.items():
            if isinstance(value, str) and "\n" in value:
                lines.append(f"{key}:")
                lines.extend("  " + ln for ln in value.splitlines())
            else:
                shown = value if isinstance(value, str) else json.dumps(value)
                lines.append(f"{key}: {shown}")
        return lines
    return str(data).splitlines()


class TranscriptView(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    TranscriptView { height: 1fr; }
    """
    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Previous", show=False,
                tooltip="Previous entry (stops following)"),
        Binding("down,j", "cursor(1)", "Next", show=False, tooltip="Next entry"),
        Binding("enter,space", "toggle_entry", "Open/close", show=False,
                tooltip="Open or close a tool call, check or scenario"),
        Binding("home", "first", "First", show=False, tooltip="First entry"),
        Binding("end", "last", "Follow", show=False,
                tooltip="Last entry, and follow new ones"),
        Binding("pageup", "page(-1)", "Page up", show=False, tooltip="A screen up"),
        Binding("pagedown", "page(1)", "Page down", show=False, tooltip="A screen down"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entries: list[Entry] = []
        self._sort_keys: list[tuple[Any, bool, str]] = []
        self._index: dict[str, int] = {}
        self.expanded: set[str] = set()
        self.cursor = -1
        self.follow = True
        self.run_status = ""  # the run's status: says what a running step waits for
        self.truncated = False
        self.first_event_id: int | None = None
        self._heights: list[int] = []
        self._starts: list[int] = []
        self._total = 0
        self._width = 0
        self._cache: OrderedDict[tuple[str, int, bool], list[Strip]] = OrderedDict()
        self._hcache: dict[str, int] = {}  # entry key -> height at self._width

    # -- data ------------------------------------------------------------------------

    class LoadEarlier(Message):
        """The person asked for entries older than the oldest one loaded."""

        def __init__(self, before_event_id: int) -> None:
            self.before_event_id = before_event_id
            super().__init__()

    def add_chunk(self, chunk: TranscriptChunk) -> None:
        if chunk.earlier:
            self._add_earlier(chunk)
            return
        if chunk.reset:
            self.entries, self._sort_keys, self._index = [], [], {}
            self._cache.clear()
            self._hcache.clear()
            self._set_truncated(chunk)
        for entry in chunk.entries:
            self._add(entry)
        self._relayout()
        if self.follow and self.entries:
            self.cursor = len(self.entries) - 1
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()

    def _set_truncated(self, chunk: TranscriptChunk) -> None:
        self.truncated = chunk.truncated
        self.first_event_id = chunk.first_event_id
        if self.entries and self.entries[0].key == MORE_KEY:
            self._drop_first()
        if chunk.truncated:
            marker = Entry(MORE_KEY, datetime.min.replace(tzinfo=UTC), "note",
                           "earlier entries are not loaded: Home loads the page before")
            self.entries.insert(0, marker)
            self._sort_keys.insert(0, (marker.ts, True, MORE_KEY))
            self._index = {e.key: i for i, e in enumerate(self.entries)}
            if self.cursor >= 0:
                self.cursor += 1

    def _drop_first(self) -> None:
        self.entries.pop(0)
        self._sort_keys.pop(0)
        self._index = {e.key: i for i, e in enumerate(self.entries)}
        self.cursor = max(-1, self.cursor - 1)

    def _add_earlier(self, chunk: TranscriptChunk) -> None:
        """Put an older page on top, keeping what is on screen where it is."""
        old_total = self._total
        known = set(self._index)
        older = [e for e in chunk.entries if e.key not in known]
        if self.entries and self.entries[0].key == MORE_KEY:
            self._drop_first()
        self.entries = older + self.entries
        self._sort_keys = [(e.ts, e.key[0] == "e", e.key) for e in self.entries]
        self._index = {e.key: i for i, e in enumerate(self.entries)}
        self.cursor += len(older)
        self._set_truncated(chunk)
        self._relayout()
        self.scroll_to(y=self.scroll_y + self._total - old_total, animate=False,
                       immediate=True)
        self.refresh()

    def _add(self, entry: Entry) -> None:
        known = self._index.get(entry.key)
        if known is not None:
            if self.entries[known].key == entry.key and entry.kind != "text":
                self.entries[known] = entry  # a step that was running has moved on
                self._forget(entry.key)
            return  # seen already (texts never change)
        key = (entry.ts, entry.key[0] == "e", entry.key)
        at = len(self.entries) if not self._sort_keys or key >= self._sort_keys[-1] else \
            bisect_right(self._sort_keys, key)
        before = self.entries[at - 1] if at else None
        if (entry.kind == "text" and before is not None and before.kind == "text"
                and entry.input is not None and entry.input == before.input):
            before.body += entry.body  # the next streamed piece of the same reply
            self._index[entry.key] = at - 1
            self._forget(before.key)
            return
        if at == len(self.entries):
            self._sort_keys.append(key)
            self.entries.append(entry)
            self._index[entry.key] = at
            return
        insort(self._sort_keys, key)  # rare: a step older than the newest event
        self.entries.insert(at, entry)
        self._index = {e.key: i for i, e in enumerate(self.entries)}
        if self.cursor >= at:
            self.cursor += 1

    def show_run_status(self, status: str) -> None:
        """The run's status moved: running steps may now wait at a gate, or go on."""
        if status == self.run_status:
            return
        self.run_status = status
        for entry in self.entries:
            if entry.status == "running":
                self._forget(entry.key)
        self.refresh()

    def _forget(self, key: str) -> None:
        self._hcache.pop(key, None)
        for cached in [k for k in self._cache if k[0] == key]:
            del self._cache[cached]

    # -- layout ----------------------------------------------------------------------

    @property
    def content_width(self) -> int:
        return max(20, self.scrollable_content_region.width or self.size.width or 80)

    def _relayout(self) -> None:
        width = self.content_width
        if width != self._width:
            self._width = width
            self._cache.clear()
            self._hcache.clear()
        heights = self._hcache
        for entry in self.entries:
            if entry.key not in heights:
                heights[entry.key] = self._height(entry, width)
        self._heights = [heights[e.key] for e in self.entries]
        starts, total = [], 0
        for h in self._heights:
            starts.append(total)
            total += h
        self._starts, self._total = starts, total
        self.virtual_size = Size(width, total)

    def on_resize(self, event: events.Resize) -> None:
        if self.content_width != self._width:
            self._relayout()
            if self.follow:
                self.scroll_end(animate=False, immediate=True, x_axis=False)

    def _height(self, entry: Entry, width: int) -> int:
        if entry.kind == "text":
            return 1 + len(_wrap(entry.body, width - 2, words=True))
        if entry.collapsible and entry.key in self.expanded:
            return len(self._lines(entry, width))
        if entry.kind in ("stage", "note") or entry.collapsible:
            return 1 if entry.kind != "note" else len(_wrap(entry.title, width - 11,
                                                             words=True))
        return 1

    def _lines(self, entry: Entry, width: int) -> list[Strip]:
        opened = entry.key in self.expanded
        key = (entry.key, width, opened)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        strips = self._render_entry(entry, width, opened)
        self._cache[key] = strips
        if len(self._cache) > CACHE_ENTRIES:
            self._cache.popitem(last=False)
        return strips

    def _render_entry(self, entry: Entry, width: int, opened: bool) -> list[Strip]:
        time = f"{entry.ts.astimezone():%H:%M:%S} "
        lines: list[list[Segment]] = []
        if entry.kind == "stage":
            title = f"── {entry.title} "
            lines.append([Segment(time, STYLES["time"]),
                          Segment(title + "─" * max(0, width - len(time) - len(title)),
                                  STYLES["stage"])])
        elif entry.kind == "text":
            lines.append([Segment(time, STYLES["time"]), Segment("model", STYLES["model"])])
            lines += [[Segment("  " + ln, STYLES["text"])]
                      for ln in _wrap(entry.body, width - 2, words=True)]
        elif entry.kind == "note":
            style = STYLES["error"] if entry.level == "error" else STYLES["note"]
            wrapped = _wrap(entry.title, width - len(time) - 2, words=True)
            for i, ln in enumerate(wrapped):
                lead = time + "· " if i == 0 else " " * (len(time) + 2)
                lines.append([Segment(lead, STYLES["time"]), Segment(ln, style)])
        else:
            lines.append(self._step_header(entry, time, opened))
            if opened:
                lines += self._step_body(entry, width)
        return [Strip(segments).crop_extend(0, width, None) for segments in lines]

    def _step_header(self, entry: Entry, time: str, opened: bool) -> list[Segment]:
        marker = "▾ " if opened else "▸ "
        if entry.status == "running":
            verdict = WAITING_VERDICTS.get(self.run_status, "running…")
            vstyle = STYLES["running"]
        elif entry.status == "refused":  # by a person at a gate, or by the walls
            verdict, vstyle = "refused", STYLES["error"]
        elif entry.level == "error":
            verdict = "failed" if entry.exit_code is None else f"exit {entry.exit_code}"
            vstyle = STYLES["error"]
        else:
            verdict = "ok" if entry.exit_code in (None, 0) else f"exit {entry.exit_code}"
            vstyle = STYLES["ok"]
        label = {"tool": "", "check": "check ", "scenario": "scenario "}.get(entry.kind, "")
        return [Segment(time, STYLES["time"]), Segment(marker, STYLES["label"]),
                Segment(label, STYLES["label"]),
                Segment(entry.title.splitlines()[0] if entry.title else "",
                        STYLES.get(entry.kind, STYLES["tool"])),
                Segment("  "), Segment(verdict, vstyle)]

    def _step_body(self, entry: Entry, width: int) -> list[list[Segment]]:
        out: list[list[Segment]] = []
        inputs = _input_lines(entry.input)
        if inputs:
            out.append([Segment("  input", STYLES["label"])])
            out += [[Segment("    " + ln, STYLES["body"])]
                    for raw in inputs for ln in _wrap(raw, width - 4, words=False)]
        text = entry.body or ""
        if text:
            shown = text.splitlines()
            out.append([Segment(f"  output ({entry.output_chars:,} chars)", STYLES["label"])])
            for raw in shown[:OUTPUT_LINES]:
                out += [[Segment("    " + ln, STYLES["body"])]
                        for ln in _wrap(raw, width - 4, words=False)]
            hidden = len(shown) - OUTPUT_LINES
            if hidden > 0:
                out.append([Segment(f"    … {hidden} more lines", STYLES["more"])])
            if entry.output_chars > len(text):
                out.append([Segment(f"    … {entry.output_chars - len(text):,} more characters"
                                    " (andon show for all)", STYLES["more"])])
        elif entry.status != "running":
            out.append([Segment("  no output", STYLES["more"])])
        return out

    # -- rendering -------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        width = self.scrollable_content_region.width
        if row >= self._total or not self.entries:
            return Strip.blank(width, self.rich_style)
        index = bisect_right(self._starts, row) - 1
        entry = self.entries[index]
        strips = self._lines(entry, self._width)
        offset = row - self._starts[index]
        strip = strips[offset] if offset < len(strips) else Strip.blank(self._width)
        if index == self.cursor and offset == 0:
            strip = strip.apply_style(CURSOR if self.has_focus else CURSOR_UNFOCUSED)
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)

    # -- moving ----------------------------------------------------------------------

    def _show_cursor(self) -> None:
        if 0 <= self.cursor < len(self.entries):
            top, height = self._starts[self.cursor], self._heights[self.cursor]
            view = self.scrollable_content_region.height
            if top < self.scroll_y:
                self.scroll_to(y=top, animate=False, immediate=True)
            elif top + min(height, view) > self.scroll_y + view:
                self.scroll_to(y=top + min(height, view) - view, animate=False, immediate=True)
        self.refresh()

    def action_cursor(self, step: int) -> None:
        if not self.entries:
            return
        self.cursor = max(0, min(len(self.entries) - 1, self.cursor + step))
        self.follow = self.cursor == len(self.entries) - 1
        self._show_cursor()

    def action_page(self, direction: int) -> None:
        if not self.entries:
            return
        target = self.scroll_y + direction * max(1, self.scrollable_content_region.height - 1)
        target = max(0, min(self._total - 1, target))
        self.scroll_to(y=target, animate=False, immediate=True)
        self.cursor = bisect_right(self._starts, self.scroll_y) - 1
        self.follow = False
        self.refresh()

    def action_first(self) -> None:
        if self.truncated and self.first_event_id and self.cursor == 0 and self.scroll_y == 0:
            self.post_message(self.LoadEarlier(self.first_event_id))  # Home at the top
            return
        self.cursor = 0 if self.entries else -1
        self.follow = False
        self.scroll_home(animate=False, immediate=True)
        self.refresh()

    def action_last(self) -> None:
        self.cursor = len(self.entries) - 1
        self.follow = True
        self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()

    def action_toggle_entry(self) -> None:
        if not 0 <= self.cursor < len(self.entries):
            return
        entry = self.entries[self.cursor]
        if not entry.collapsible:
            return
        if entry.key in self.expanded:
            self.expanded.discard(entry.key)
        else:
            self.expanded.add(entry.key)
        self._forget(entry.key)
        self._relayout()
        self._show_cursor()

    def on_click(self, event: events.Click) -> None:
        row = self.scroll_y + event.y
        if 0 <= row < self._total:
            index = bisect_right(self._starts, row) - 1
            if index == self.cursor:
                self.action_toggle_entry()
            else:
                self.cursor = index
                self.follow = False
                self.refresh()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def selected(self) -> Entry | None:
        return self.entries[self.cursor] if 0 <= self.cursor < len(self.entries) else None
