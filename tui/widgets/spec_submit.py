"""Submit a spec by path: an Input with path completion; a spec that does not parse
shows its SpecError message here and queues nothing."""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label, Static
from textual.worker import Worker, WorkerState

from andon.engine.errors import UserError
from andon.engine.service.admission import submit
from andon.store import models as m
from andon.store.db import Database
from andon.tui.widgets.dialog import HELP_KEY, Dialog
from andon.tui.widgets.spec_path_suggester import PathSuggester


class SpecSubmitScreen(Dialog[m.Run | None]):
    """Dismisses with the queued run, or None when cancelled."""

    DEFAULT_CSS = """
    SpecSubmitScreen { align: center middle; }
    SpecSubmitScreen > Vertical {
        width: 90%; max-width: 110; height: auto;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    SpecSubmitScreen Label, SpecSubmitScreen Static { width: 1fr; }
    SpecSubmitScreen #submit-error { color: $error; text-style: bold; }
    SpecSubmitScreen .hint { color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("tab", "complete", "Complete path", priority=True, show=False),
        HELP_KEY,
    ]

    def __init__(self, db: Database, base: Path | None = None) -> None:
        super().__init__()
        self.db = db
        self.base = base or Path.cwd()

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Submit a spec: its path (relative to "
                        f"{self.base}), Tab or → completes", markup=False)
            yield Input(placeholder="specs/add-slugify.md", id="submit-path",
                        suggester=PathSuggester(self.base))
            yield Static("", id="submit-error", markup=False)
            yield Label("Enter: validate and queue · Escape: cancel", classes="hint")
        yield self.key_bar()

    def action_complete(self) -> None:
        self.query_one(Input).action_cursor_right()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            self.query_one("#submit-error", Static).update("Type the path of a spec file.")
            return
        path = Path(text).expanduser()
        self.query_one("#submit-error", Static).update("checking…")
        self._submit(path if path.is_absolute() else self.base / path)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _submit(self, path: Path) -> m.Run:
        runs, _warnings = submit(self.app.home, self.db, [path])  # type: ignore[attr-defined]
        return runs[0]

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.SUCCESS:
            self.dismiss(event.worker.result)
        elif event.state == WorkerState.ERROR:
            error = event.worker.error
            text = str(error) if isinstance(error, UserError) else (
                f"{type(error).__name__}: {error}")
            self.query_one("#submit-error", Static).update(text)
