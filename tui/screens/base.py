"""What every control-room screen shares: reload when the store changes, and one place
(the app's `worker_failed`) where a failed worker is reported."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual.screen import Screen
from textual.worker import Worker, WorkerState

from andon.tui.messages import StoreChanged

if TYPE_CHECKING:
    from andon.tui.app import AndonApp


class StoreScreen(Screen[None]):
    """A screen that shows the store. Subclasses implement `reload()` (start a thread
    worker that posts what it read); it is called on mount, on every `StoreChanged`
    while the screen is on the stack, and on resume when the store moved meanwhile."""

    #: Seconds between reloads caused by store changes (0: follow every change). Screens
    #: with heavy reads set it, so a busy engine committing several times a second does
    #: not keep them reading.
    reload_gap: ClassVar[float] = 0.0

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seen_version: int | None = None
        self._reloaded_at = float("-inf")
        self._reload_due = False

    @property
    def andon(self) -> AndonApp:
        return cast("AndonApp", self.app)

    def reload(self) -> None:
        raise NotImplementedError

    def on_mount(self) -> None:
        self.seen_version = self.andon.store_version
        self.reload()

    def on_store_changed(self, message: StoreChanged) -> None:
        self.seen_version = message.version
        self.store_moved()

    def on_screen_resume(self) -> None:
        if self.seen_version is not None and self.seen_version != self.andon.store_version:
            self.seen_version = self.andon.store_version
            self.store_moved()

    def store_moved(self) -> None:
        """Reload now, or once `reload_gap` has passed since the last reload."""
        wait = self.reload_gap - (time.monotonic() - self._reloaded_at)
        if wait > 0:
            if not self._reload_due:
                self._reload_due = True
                self.set_timer(wait, self._reload_after_gap)
            return
        self._reload_after_gap()

    def _reload_after_gap(self) -> None:
        self._reload_due = False
        self._reloaded_at = time.monotonic()
        self.reload()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.andon.worker_failed(event.worker)
