"""The control room's data layer: every screen reads the store (and git) through here.

Everything runs in thread workers (never on the event loop) and returns plain
dataclasses; widgets only format them. Heavy SQL lives in `andon.store.queries`; no
screen or widget holds SQL of its own.

board (lines, figures, runs) · run (one run's detail) · transcript · diff (the review
gate's diff) · gates (the inbox) · history · specs (specs, queue, schedules) ·
policies (a category's facts)
"""

from andon.tui.data.board import (
    FILTERS,
    PAGE,
    BoardData,
    Clock,
    EngineMode,
    LineRow,
    RunRow,
    clock_from_env,
    load_board,
)
from andon.tui.data.diff import DiffData, FileDiff, load_diff, parse_diff
from andon.tui.data.run import RunDetail, StageInfo, load_run, stage_timeline
from andon.tui.data.transcript import (
    Entry,
    TranscriptChunk,
    TranscriptCursor,
    load_earlier,
    load_transcript,
)

__all__ = [
    "FILTERS", "PAGE", "BoardData", "Clock", "DiffData", "EngineMode", "Entry", "FileDiff",
    "LineRow", "RunDetail", "RunRow", "StageInfo", "TranscriptChunk", "TranscriptCursor",
    "clock_from_env", "load_board", "load_diff", "load_earlier", "load_run",
    "load_transcript", "parse_diff", "stage_timeline",
]
