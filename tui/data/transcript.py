"""A run's transcript, a page at a time: stage dividers, model text, tool calls, notes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from andon.store import models as m
from andon.store import queries as q
from andon.store.clock import as_utc
from andon.store.db import Database

# -- the transcript ---------------------------------------------------------------------

TRANSCRIPT_PAGE = 2000
HIDDEN_EVENTS = frozenset({"tool", "check", "scenario"})  # their steps say it, with details
STEP_KINDS = ("tool", "check", "scenario")
TOOL_NAMES = {"str_replace_based_edit_tool": "edit", "bash": "$"}


@dataclass
class Entry:
    """One item of the transcript: a stage divider, model text, a tool call or a note."""

    key: str  # "e<event id>" or "s<step id>"
    ts: datetime
    kind: str  # stage, text, tool, check, scenario, note
    title: str
    body: str = ""
    input: Any = None
    status: str = ""
    exit_code: int | None = None
    output_chars: int = 0
    level: str = ""  # "error" for failures worth a colour

    @property
    def collapsible(self) -> bool:
        return self.kind in STEP_KINDS


@dataclass
class TranscriptChunk:
    entries: list[Entry]
    last_event_id: int
    last_step_id: int
    open_steps: list[int]  # steps still running: fetched again next time
    truncated: bool = False  # earlier entries exist and were not loaded
    first_event_id: int | None = None  # the oldest event loaded (where "earlier" starts)
    reset: bool = False  # replace, do not append
    earlier: bool = False  # a page from before what is shown: goes on top


@dataclass
class TranscriptCursor:
    last_event_id: int = 0
    last_step_id: int = 0
    open_steps: list[int] = field(default_factory=list)
    loaded: bool = False


def _event_entry(event: m.Event) -> Entry | None:
    if event.kind in HIDDEN_EVENTS:
        return None
    ts = as_utc(event.ts) or event.ts
    key = f"e{event.id}"
    if event.kind == "stage":
        return Entry(key, ts, "stage", event.stage or event.message)
    if event.kind == "model.text":
        # A streamed reply arrives as several events of one turn: the view joins them.
        turn = (event.data or {}).get("turn")
        return Entry(key, ts, "text", "model", event.message,
                     input={"turn": turn} if turn is not None else None)
    failed = event.kind.endswith((".failed", ".stuck", ".rejected")) or bool(
        (event.data or {}).get("error"))
    return Entry(key, ts, "note", event.message or event.kind, input=event.kind,
                 level="error" if failed else "")


def _step_entry(step: q.StepRow) -> Entry:
    failed = step.status in ("failed", "error")
    title = step.name
    if step.kind == "tool":
        name = TOOL_NAMES.get(step.name, step.name)
        title = f"{name} {_input_summary(step.input)}".strip()
    return Entry(f"s{step.id}", as_utc(step.started_at) or step.started_at, step.kind, title,
                 body=step.output, input=step.input, status=step.status,
                 exit_code=step.exit_code, output_chars=step.output_chars,
                 level="error" if failed else "")


def _input_summary(data: Any) -> str:
    if isinstance(data, dict):
        if isinstance(data.get("command"), str):
            parts = [data["command"]]
            if isinstance(data.get("path"), str):
                parts.append(data["path"])
            return " ".join(parts)
        if data.get("restart"):
            return "restart"
    return ""


def load_transcript(db: Database, run_id: int, cursor: TranscriptCursor,
                    page: int = TRANSCRIPT_PAGE) -> TranscriptChunk:
    """New entries since `cursor` (the newest page first time), in time order."""
    if not cursor.loaded:
        events = q.run_events(db, run_id, limit=page + 1, newest=True)
        truncated = len(events) > page
        events = events[1:] if truncated else events
        since = as_utc(events[0].ts) if truncated and events else None
        steps = q.run_steps(db, run_id, kinds=STEP_KINDS, since=since)
    else:
        events = q.run_events(db, run_id, after_id=cursor.last_event_id, limit=page * 10)
        truncated = False
        steps = q.run_steps(db, run_id, kinds=STEP_KINDS, after_id=cursor.last_step_id)
        if cursor.open_steps:
            known = {st.id for st in steps}
            steps += [st for st in q.run_steps(db, run_id, ids=cursor.open_steps)
                      if st.id not in known]
    entries = [e for e in (_event_entry(ev) for ev in events) if e is not None]
    entries += [_step_entry(st) for st in steps]
    entries.sort(key=lambda e: (e.ts, e.key[0] == "e"))
    return TranscriptChunk(
        entries=entries,
        last_event_id=max([cursor.last_event_id, *(e.id or 0 for e in events)]),
        last_step_id=max([cursor.last_step_id, *(st.id for st in steps)]),
        open_steps=[st.id for st in steps if st.status == "running"],
        truncated=truncated,
        first_event_id=events[0].id if events else None,
        reset=not cursor.loaded)


def load_earlier(db: Database, run_id: int, before_event_id: int,
                 page: int = TRANSCRIPT_PAGE) -> TranscriptChunk:
    """The page of entries just before the oldest one shown (older events and the steps
    that started in the same stretch of time)."""
    with db.read() as s:
        boundary = s.get(m.Event, before_event_id)
    until = as_utc(boundary.ts) if boundary is not None else None
    events = q.run_events(db, run_id, before_id=before_event_id, limit=page + 1, newest=True)
    truncated = len(events) > page
    events = events[1:] if truncated else events
    since = as_utc(events[0].ts) if truncated and events else None
    steps = q.run_steps(db, run_id, kinds=STEP_KINDS, since=since, until=until)
    entries = [e for e in (_event_entry(ev) for ev in events) if e is not None]
    entries += [_step_entry(st) for st in steps]
    entries.sort(key=lambda e: (e.ts, e.key[0] == "e"))
    return TranscriptChunk(entries=entries, last_event_id=0, last_step_id=0, open_steps=[],
                           truncated=truncated,
                           first_event_id=events[0].id if events else before_event_id,
                           earlier=True)
