"""Messages the control room's workers post back to the event loop.

Workers read the store in threads and post one of these; handlers on the event loop only
update widgets. `StoreChanged` is what the app's watcher posts to every screen on the
stack when `PRAGMA data_version` moves (another process or thread committed).
"""

from __future__ import annotations

from textual.message import Message

from andon.tui.data import BoardData, DiffData, RunDetail, TranscriptChunk


class StoreChanged(Message, bubble=False):
    """The database changed since the last look; screens reload what they show."""

    def __init__(self, version: int) -> None:
        self.version = version
        super().__init__()


class BoardLoaded(Message):
    def __init__(self, data: BoardData) -> None:
        self.data = data
        super().__init__()


class RunLoaded(Message):
    def __init__(self, run_id: int, detail: RunDetail | None) -> None:
        self.run_id = run_id
        self.detail = detail
        super().__init__()


class TranscriptLoaded(Message):
    def __init__(self, run_id: int, chunk: TranscriptChunk) -> None:
        self.run_id = run_id
        self.chunk = chunk
        super().__init__()


class DiffLoaded(Message):
    def __init__(self, run_id: int, diff: DiffData) -> None:
        self.run_id = run_id
        self.diff = diff
        super().__init__()


class ActionDone(Message):
    """A person's action (decision, cancel, retry, cord) went through."""

    def __init__(self, text: str, *, open_run: int | None = None) -> None:
        self.text = text
        self.open_run = open_run
        super().__init__()
