"""Read models for the control room: what the board and the run screen show.

Everything here runs in thread workers (never on the event loop) and returns plain
dataclasses; widgets only format them. Heavy SQL lives in `store.queries`.

The clock is injectable: `clock_from_env()` honours ``ANDON_NOW`` (an ISO time) so
snapshot tests and demos render the same elapsed times on every run.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from andon.engine.gates.shadow import describe, shadow_decisions, shown_shadow
from andon.engine.llm.pricing import is_simulated
from andon.engine.workspace.confine import Confined, Refused
from andon.store import models as m
from andon.store import queries as q
from andon.store.clock import as_utc, utcnow
from andon.store.db import Database

NOW_ENV = "ANDON_NOW"
SUCCESS_WINDOW = timedelta(days=30)
RECENT_FINISHED = 50
PAGE = 200

Clock = Callable[[], datetime]


def clock_from_env() -> Clock:
    """`utcnow`, or a frozen time when ANDON_NOW is set (tests, screenshots)."""
    frozen = os.environ.get(NOW_ENV)
    if not frozen:
        return utcnow
    when = as_utc(datetime.fromisoformat(frozen))
    assert when is not None
    return lambda: when


def start_of_day(now: datetime) -> datetime:
    """Local midnight of `now`'s day, as an aware UTC-comparable time."""
    local = now.astimezone()
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


# -- engine mode ----------------------------------------------------------------------


@dataclass(frozen=True)
class EngineMode:
    name: str  # "daemon", "embedded" or "off"
    detail: str = ""


# -- the board ------------------------------------------------------------------------

FILTERS: dict[str, tuple[str, ...] | None] = {
    "recent": None,  # live runs, then the latest finished ones
    "live": m.ACTIVE_STATUSES,
    "waiting": (m.WAITING,),
    "failed": (m.FAILED, m.STUCK, m.REJECTED, m.INTERRUPTED),
    "merged": (m.MERGED, m.REVERTED),
    "all": (),
}


@dataclass(frozen=True)
class LineRow:
    category: str
    level: int | None
    running: int
    queued: int
    waiting: int
    held: int
    finished: int
    succeeded: int
    spend_today: float  # real money
    spend_simulated: float  # scripted model money (shown, not spent)
    unknown_cost: bool  # some run's cost is unknown

    @property
    def success_rate(self) -> float | None:
        return self.succeeded / self.finished if self.finished else None


@dataclass(frozen=True)
class RunRow:
    id: int
    title: str
    category: str
    level: int
    status: str
    stage: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    turns: int
    tokens: int
    cost_usd: float | None
    model: str
    gate_kind: str | None = None
    reason: str | None = None
    unsandboxed: bool = False  # its commands ran without the sandbox (policy allowed it)

    @property
    def active(self) -> bool:
        return self.status in m.ACTIVE_STATUSES

    @property
    def simulated(self) -> bool:
        return is_simulated(self.model)

    @classmethod
    def of(cls, run: m.Run, gate: m.Gate | None = None) -> RunRow:
        return cls(id=run.id or 0, title=run.title, category=run.category, level=run.level,
                   status=run.status, stage=run.stage, created_at=run.created_at,
                   started_at=run.started_at, finished_at=run.finished_at, turns=run.turns,
                   tokens=run.tokens_in + run.tokens_out, cost_usd=run.cost_usd,
                   model=run.model, gate_kind=gate.kind if gate else None, reason=run.reason,
                   unsandboxed=bool((run.data or {}).get("unsandboxed")))


@dataclass(frozen=True)
class BoardData:
    now: datetime
    mode: EngineMode
    cord: dict[str, Any] | None
    runs_today: int
    merges_today: int
    dark_merges_today: int
    spend_today: float
    spend_simulated: float
    unknown_cost_today: bool
    needs_you: int
    lines: list[LineRow]
    runs: list[RunRow]
    filter: str = "recent"
    search: str = ""
    more: bool = False  # another page of runs exists

    @property
    def dark_ratio(self) -> float | None:
        return self.dark_merges_today / self.merges_today if self.merges_today else None


SUCCESS = (m.MERGED,)


def load_lines(figures: q.BoardFigures) -> list[LineRow]:
    rows = []
    for c in figures.categories.values():
        finished = sum(n for status, n in c.finished.items()
                       if status not in (m.CANCELLED, m.UNCHANGED))
        rows.append(LineRow(
            category=c.category, level=c.level,
            running=c.active.get(m.RUNNING, 0) + c.active.get(m.INTERRUPTED, 0),
            queued=c.active.get(m.QUEUED, 0), waiting=c.active.get(m.WAITING, 0),
            held=c.active.get(m.HELD, 0), finished=finished,
            succeeded=sum(c.finished.get(s, 0) for s in SUCCESS),
            spend_today=c.spend_today, spend_simulated=c.simulated_spend_today,
            unknown_cost=c.unknown_cost_today > 0))
    return rows


def load_runs(db: Database, *, filter: str = "recent", search: str = "",
              limit: int = PAGE) -> tuple[list[m.Run], bool]:
    """The board's runs for a filter, newest first, and whether more exist."""
    if filter == "recent" and not search:
        live = q.search_runs(db, statuses=m.ACTIVE_STATUSES, limit=limit)
        done = q.search_runs(db, statuses=m.TERMINAL_STATUSES, limit=RECENT_FINISHED)
        return live + done, False
    statuses = FILTERS.get(filter) or None
    rows = q.search_runs(db, statuses=statuses, text=search, limit=limit + 1)
    return rows[:limit], len(rows) > limit


def load_board(db: Database, *, now: datetime, mode: EngineMode, filter: str = "recent",
               search: str = "", limit: int = PAGE) -> BoardData:
    figures = q.board_figures(db, today=start_of_day(now), window=now - SUCCESS_WINDOW)
    runs, more = load_runs(db, filter=filter, search=search, limit=limit)
    gates = q.pending_gates_by_run(db, [r.id or 0 for r in runs if r.status == m.WAITING])
    return BoardData(
        now=now, mode=mode, cord=figures.cord, runs_today=figures.runs_today,
        merges_today=figures.merges_today, dark_merges_today=figures.dark_merges_today,
        spend_today=figures.spend_today, spend_simulated=figures.simulated_spend_today,
        unknown_cost_today=figures.unknown_cost_today > 0, needs_you=figures.pending_gates,
        lines=load_lines(figures), runs=[RunRow.of(r, gates.get(r.id or 0)) for r in runs],
        filter=filter, search=search, more=more)


# -- one run ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StageInfo:
    name: str
    state: str  # done, current, failed, waiting, held, skipped, pending
    started_at: datetime | None = None
    ended_at: datetime | None = None


@dataclass
class RunDetail:
    run: m.Run
    spec_path: str | None
    gate: m.Gate | None
    stages: list[StageInfo]
    checks: list[q.StepRow]
    scenarios: list[q.StepRow]
    now: datetime
    reviews: list[str] = field(default_factory=list)  # level 4's verdict beside the person's

    @property
    def simulated(self) -> bool:
        return is_simulated(self.run.model)


def stage_timeline(run: m.Run, entered: list[tuple[str, datetime]],
                   now: datetime) -> list[StageInfo]:
    """Each pipeline stage's state from the run's "stage" events (the last entry wins)."""
    first: dict[str, datetime] = {}
    last: dict[str, datetime] = {}
    order: list[str] = []
    for name, ts in entered:
        first.setdefault(name, ts)
        last[name] = ts
        order.append(name)
    current = run.stage if run.stage in m.STAGES else (order[-1] if order else None)
    ends: dict[str, datetime | None] = {}
    for i, (name, _ts) in enumerate(entered):
        ends[name] = entered[i + 1][1] if i + 1 < len(entered) else None
    finished = run.status in m.TERMINAL_STATUSES
    out = []
    current_index = m.STAGES.index(current) if current in m.STAGES else -1
    for index, name in enumerate(m.STAGES):
        if name == current:
            if run.status == m.MERGED or run.status == m.REVERTED:
                state = "done"
            elif finished:
                state = "cancelled" if run.status in (m.CANCELLED, m.UNCHANGED) else "failed"
            elif run.status in (m.WAITING, m.HELD, m.QUEUED):
                state = run.status
            else:
                state = "current"
            end = as_utc(run.finished_at) if finished else None
            out.append(StageInfo(name, state, first.get(name), end))
        elif name in first:
            out.append(StageInfo(name, "done", first[name], ends.get(name)))
        elif index < current_index:
            out.append(StageInfo(name, "skipped"))
        else:
            out.append(StageInfo(name, "pending"))
    return out


def load_run(db: Database, run_id: int, *, now: datetime) -> RunDetail | None:
    with db.read() as s:
        run = s.get(m.Run, run_id)
        if run is None:
            return None
        spec = s.get(m.Spec, run.spec_id)
    events = q.run_events(db, run_id, kinds=("stage",), limit=100)
    steps = q.run_steps(db, run_id, kinds=("check", "scenario"), preview=20_000)
    return RunDetail(
        run=run, spec_path=spec.path if spec else None, gate=q.pending_gate_of(db, run_id),
        stages=stage_timeline(run, [(e.stage or e.message.split()[0], e.ts) for e in events],
                              now),
        checks=[st for st in steps if st.kind == "check"],
        scenarios=[st for st in steps if st.kind == "scenario"], now=now,
        reviews=[describe(shown) for row, gate in shadow_decisions(db, run_id)
                 if (shown := shown_shadow(row, gate)) is not None])


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


# -- the diff -------------------------------------------------------------------------

DIFF_LIMIT = 2_000_000  # characters of diff shown; the rest is cut with a note
UNTRACKED_LIMIT = 1_000_000  # bytes of one untracked file read for its diff


@dataclass
class FileDiff:
    path: str
    old_path: str | None
    added: int
    removed: int
    text: str  # the file's part of the unified diff, from its first hunk
    status: str = "modified"  # added, deleted, renamed, modified, binary


@dataclass
class DiffData:
    files: list[FileDiff]
    source: str  # what was compared, for the header
    note: str = ""  # why there is no diff, or that it was cut


def parse_diff(text: str) -> list[FileDiff]:
    files: list[FileDiff] = []
    chunks = text.split("\ndiff --git ")
    if chunks and chunks[0].startswith("diff --git "):
        chunks[0] = chunks[0][len("diff --git "):]
    elif chunks:
        chunks = chunks[1:]
    for chunk in chunks:
        lines = chunk.split("\n")
        header = lines[0]
        path = header.split(" b/", 1)[1] if " b/" in header else header
        old_path = None
        status = "modified"
        body_start = len(lines)
        for i, line in enumerate(lines[1:], start=1):
            if line.startswith("@@"):
                body_start = i
                break
            if line.startswith("new file"):
                status = "added"
            elif line.startswith("deleted file"):
                status = "deleted"
            elif line.startswith("rename from "):
                old_path, status = line[len("rename from "):], "renamed"
            elif line.startswith("rename to "):
                path = line[len("rename to "):]
            elif line.startswith("Binary files"):
                status = "binary"
            elif line.startswith("+++ ") and line[4:] != "/dev/null":
                path = line[6:] if line.startswith("+++ b/") else line[4:]
        body = lines[body_start:]
        added = sum(1 for ln in body if ln.startswith("+"))
        removed = sum(1 for ln in body if ln.startswith("-"))
        files.append(FileDiff(path, old_path, added, removed,
                              "\n".join(body).rstrip("\n"), status))
    return files


def _git(cwd: str | Path, *args: str) -> str | None:
    from andon.engine.workspace.git import try_git  # GitPython is slow to import: not before a diff

    status, out, _err = try_git(cwd, *args)
    return out if status == 0 else None


def _untracked_diffs(worktree: Path) -> str:
    """New files the agent has not committed yet, as "new file" diffs (read-only)."""
    listed = _git(worktree, "ls-files", "--others", "--exclude-standard", "-z") or ""
    parts = []
    # Read as the engine does (confined, never by name): an agent's symlink to a file of
    # the host shows as "binary" and is never read through.
    files = Confined(worktree)
    for name in [n for n in listed.split("\0") if n][:200]:
        try:
            with files.place(name, follow=False) as at:
                st = at.lstat()
            if st is None or not stat.S_ISREG(st.st_mode):
                raise OSError(f"{name} is not a regular file")
            data, _, _ = files.read_bytes(name, UNTRACKED_LIMIT)
            text = data[:UNTRACKED_LIMIT].decode("utf-8")
        except (OSError, Refused, UnicodeDecodeError):
            parts.append(f"diff --git a/{name} b/{name}\nnew file\nBinary files differ")
            continue
        lines = text.splitlines()
        body = "\n".join("+" + ln for ln in lines)
        parts.append(f"diff --git a/{name} b/{name}\nnew file mode 100644\n--- /dev/null\n"
                     f"+++ b/{name}\n@@ -0,0 +1,{len(lines)} @@\n{body}")
    return "\n".join(parts)


def load_diff(run: m.Run) -> DiffData:
    """What the run changed: the merge for merged runs, else the worktree or branch vs base.

    Read-only: never touches the worktree's index (the agent may be working in it).
    """
    repo, base = run.repo_path, run.base_commit
    text: str | None = None
    source = ""
    if run.merge_commit and repo and Path(repo).exists():
        text = _git(repo, "diff", "--no-color", "-M", f"{run.merge_commit}^1", run.merge_commit)
        source = f"merge {run.merge_commit[:10]}"
    elif run.worktree and base and Path(run.worktree).exists():
        text = _git(run.worktree, "diff", "--no-color", "-M", base)
        if text is not None:
            extra = _untracked_diffs(Path(run.worktree))
            text = text + ("\n" if text and extra else "") + extra
        source = f"worktree vs {base[:10]}"
    elif base and repo and Path(repo).exists():
        tip = run.head_commit or run.branch
        if tip:
            text = _git(repo, "diff", "--no-color", "-M", base, tip)
            source = f"{tip[:20]} vs {base[:10]}"
    if text is None:
        why = "no changes yet" if run.status in m.ACTIVE_STATUSES else \
            "the run's workspace and branch are gone"
        if not run.base_commit:
            why = "the run has no workspace yet"
        return DiffData([], source, why)
    note = ""
    if len(text) > DIFF_LIMIT:
        text, note = text[:DIFF_LIMIT], f"diff cut at {DIFF_LIMIT:,} characters"
    files = parse_diff(text)
    if not files:
        note = note or "no changes"
    return DiffData(files, source, note)
