"""The control room: a Textual app over the factory's store.

The app watches `PRAGMA data_version` from a thread worker (a few times a second) and,
when another connection committed, posts `StoreChanged` to the screens on the current
stack; each screen reloads what it shows in its own thread worker and updates changed
cells only. Screens are modes: board (default), gates, policies, specs, history; the
run screen is pushed on top. All blocking work runs in thread workers that post
messages back; `worker_failed` is the one place failures are reported.

With no engine running for the home, `andon` starts an embedded one (start_engine=True)
and stops it on exit; a running daemon is shown in the board's header instead.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import platformdirs
from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from andon.engine.errors import UserError
from andon.engine.factory.home import Home
from andon.store import models as m
from andon.store import queries as q
from andon.store.db import Database
from andon.tui.commands import ActionCommands, PaletteCommand, RunCommands
from andon.tui.data import Clock, EngineMode, clock_from_env
from andon.tui.messages import ActionDone, StoreChanged
from andon.tui.preferences import load_theme, save_theme
from andon.tui.screens.board import FILTER_NAMES, BoardScreen
from andon.tui.screens.help import HelpScreen
from andon.tui.widgets.text_prompt import TextPrompt

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
THEME_ENV = "ANDON_THEME"

#: (mode, key, title): the screens a person moves between. A mode shows in the footer
#: and palette once it is registered with `add_mode` in `AndonApp._register_modes`.
NAVIGATION = [
    ("board", "b", "Board"),
    ("gates", "g", "Gates"),
    ("policies", "p", "Policies"),
    ("specs", "s", "Specs"),
    ("history", "h", "History"),
    ("readiness", "r", "Readiness"),
]


#: Modes the footer leaves out (it fits 80 columns); the help screen and palette list them.
FOOTER_LEFT_OUT = ("board", "readiness")

SCREEN_MODULES = ("gates", "policies", "specs", "history", "readiness")

# Events that reach a person as a toast and a bell: (title, severity).
ALERTS: dict[str, tuple[str, SeverityLevel]] = {
    "gate.opened": ("Needs you", "warning"),
    "run.failed": ("Run failed", "error"),
    "run.stuck": ("Run stuck", "error"),
    "run.reverted": ("Merge reverted", "warning"),
    "policy.demoted": ("Line demoted", "warning"),
}


def _screen(module: str, name: str) -> Any:
    """A screen class from tui.screens.<module>, imported on first use."""
    return getattr(importlib.import_module(f"andon.tui.screens.{module}"), name)


class AndonApp(App[None]):
    TITLE = "Andon"
    SUB_TITLE = "control room"
    CSS_PATH = "app.tcss"
    DEFAULT_MODE = "board"
    COMMANDS = App.COMMANDS | {ActionCommands, RunCommands}
    BINDINGS = [
        Binding("q", "quit", "Quit", show=False, tooltip="Leave the control room"),
        Binding("question_mark", "help", "Help", key_display="?",
                tooltip="Keys of this screen and the legend"),
        # Before the screens: at 80 columns a run at its gate fills the key bar, and
        # the cord is the one key anyone must find.
        Binding("C", "cord", "Cord", tooltip="Pull or release the andon cord"),
        *[Binding(key, f"show('{mode}')", title, show=mode not in FOOTER_LEFT_OUT,
                  tooltip=f"Go to {title.lower()}") for mode, key, title in NAVIGATION],
        Binding("ctrl+r", "refresh", "Refresh", show=False, tooltip="Read the store again"),
    ]

    def __init__(self, home: Home, db: Database, *, clock: Clock | None = None,
                 start_engine: bool = False, poll_seconds: float = POLL_SECONDS) -> None:
        super().__init__()
        self.home = home
        self.db = db
        self.clock: Callable[[], datetime] = clock or clock_from_env()
        self.poll_seconds = poll_seconds
        self.store_version: int | None = None
        self._watching = False
        self._alert_after: int | None = None
        self._warmed = False
        self.start_engine = start_engine
        self.engine: Any = None  # the embedded engine this app started, if any
        self._mode = EngineMode("off")
        self._remembered: str | None = None  # the theme stored for this person
        self._register_modes()

    def _register_modes(self) -> None:
        """Each screen a person moves between, as a mode (one line per screen). Screens
        are imported when first shown (or by the warm-up after the first paint), so
        they cost nothing at start."""
        self.add_mode("board", BoardScreen)
        self.add_mode("gates", lambda: _screen("gates", "GatesScreen")(
            self.db, clock=self.clock))
        self.add_mode("policies", lambda: _screen("policies", "PoliciesScreen")(self.db))
        self.add_mode("specs", lambda: _screen("specs", "SpecsScreen")(
            self.db, clock=self.clock))
        self.add_mode("history", lambda: _screen("history", "HistoryScreen")(
            self.db, clock=self.clock))
        self.add_mode("readiness", lambda: _screen("readiness", "ReadinessScreen")(self.db))

    # -- life cycle ------------------------------------------------------------------

    def on_mount(self) -> None:
        self._choose_theme()
        self.store_version = self.db.data_version()
        self._alert_after = q.last_event_id(self.db)  # toasts only for what happens now
        self.set_interval(self.poll_seconds, self._watch_store)
        # On a server the factory's engines are `andon serve` on its hosts: a control
        # room opened on a laptop must not become one more.
        if self.start_engine and not self.db.postgres:
            self._start_engine()

    # -- the theme -------------------------------------------------------------------

    def _choose_theme(self) -> None:
        """ANDON_THEME if set, else the theme this person chose last (their own config
        folder, tui.preferences); a theme chosen here (palette: Theme, or the light and
        dark switch) is remembered for next time."""
        stored = load_theme()
        wanted = os.environ.get(THEME_ENV) or stored
        if wanted and wanted in self.available_themes:
            self.theme = wanted
        elif wanted:
            log.warning("theme %r is not one of %s", wanted, ", ".join(self.available_themes))
        self._remembered = stored or self.theme
        self.theme_changed_signal.subscribe(self, self._theme_changed)

    def _theme_changed(self, theme: Any) -> None:
        if theme.name != self._remembered:
            self._remembered = theme.name
            save_theme(theme.name)

    def action_toggle_light(self) -> None:
        self.theme = "textual-dark" if not self.current_theme.dark else "textual-light"

    def warm_up(self) -> None:
        """Called once the board is painted (not before: importing competes with the
        board's first read for the interpreter)."""
        if not self._warmed:
            self._warmed = True
            self._warm_up()

    @work(thread=True, group="warm-up", exit_on_error=False)
    def _warm_up(self) -> None:
        """Import the other screens (git, pygments, the gates engine...) while the board
        shows, so the first Enter on a run, or the first key to a screen, is quick."""
        import andon.tui.screens.run  # noqa: F401

        for name in SCREEN_MODULES:
            importlib.import_module(f"andon.tui.screens.{name}")

    def _watch_store(self) -> None:
        if not self._watching:  # one look at a time: a slow disk never piles them up
            self._watching = True
            self._look_at_store()

    @work(thread=True, group="store-watch", exit_on_error=False)
    def _look_at_store(self) -> None:
        try:
            version = self.db.data_version()
            if version == self.store_version:
                return
            alerts = q.events_since(self.db, self._alert_after or 0, tuple(ALERTS))
            if alerts:
                self._alert_after = alerts[-1].id or self._alert_after
        finally:
            self._watching = False
        self.call_from_thread(self._store_changed, version)
        if alerts:
            self.call_from_thread(self._alert, alerts)

    def _alert(self, events: list[m.Event]) -> None:
        """What needs a person, or went wrong, as a toast and the terminal's bell (heard
        in another tmux window or over SSH)."""
        for event in events:
            title, severity = ALERTS[event.kind]
            where = f"run {event.run_id}: " if event.run_id else ""
            self.notify(f"{where}{event.message}", title=title, severity=severity,
                        markup=False, timeout=8)
        self.bell()

    def _store_changed(self, version: int) -> None:
        self.store_version = version
        for screen in self.screen_stack:
            screen.post_message(StoreChanged(version))

    def action_refresh(self) -> None:
        self._store_changed(self.db.data_version())

    @work(thread=True, group="engine", exit_on_error=False)
    def _start_engine(self) -> None:
        from andon.engine.service.lock import EngineRunning
        from andon.engine.service.runner import EmbeddedEngine

        engine = EmbeddedEngine(self.home, self.db)
        try:
            engine.start()
        except EngineRunning:
            return  # a daemon (or another control room) runs this home: show its work
        self.engine = engine

    def stop_engine(self) -> None:
        engine, self.engine = self.engine, None
        if engine is not None:
            engine.stop(timeout=5)

    async def action_quit(self) -> None:
        if self.engine is None:
            self.exit()
            return
        self.notify("Stopping the engine: running runs hold at their next step…")
        self._stop_then_exit()

    @work(thread=True, group="engine", exit_on_error=False)
    def _stop_then_exit(self) -> None:
        try:
            self.stop_engine()
        finally:
            self.call_from_thread(self.exit)

    def on_unmount(self) -> None:
        self.stop_engine()  # the app ended another way (ctrl+c): still leave runs resumable

    def engine_mode(self) -> EngineMode:
        """What executes runs for this home (called from the board's worker thread)."""
        try:
            from andon.engine.service.daemon import running_daemon
        except ImportError:  # pragma: no cover - the engine layer always has it now
            return EngineMode("off")
        info = running_daemon(self.home)
        if info is None and self.db.postgres:
            return EngineMode("daemon", "the factory's hosts")
        if info is None:
            return EngineMode("off", "runs wait in the queue")
        mode = "embedded" if info.mode == "embedded" else "daemon"
        mine = self.engine is not None and mode == "embedded"
        return EngineMode(mode, "in this window" if mine else f"pid {info.pid}")

    # -- failures --------------------------------------------------------------------

    def worker_failed(self, worker: Worker[Any]) -> None:
        """The one place a failed worker is reported: a person's mistake (UserError)
        plainly, anything else with its type, and logged."""
        error = worker.error
        if isinstance(error, UserError):
            self.notify(str(error), title="Not done", severity="warning", markup=False)
            return
        log.error("worker %s failed", worker.name, exc_info=error)
        self.notify(f"{type(error).__name__}: {error}", title=f"{worker.name} failed",
                    severity="error", markup=False)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.worker_failed(event.worker)

    # -- moving around ---------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "show" and parameters:
            mode = str(parameters[0])
            return mode in self._modes
        return True

    def action_show(self, mode: str) -> None:
        if mode not in self._modes:
            self.notify(f"The {mode} screen is not available yet.", severity="warning")
            return
        if mode == self.current_mode:
            while len(self.screen_stack) > 1:  # b on a run screen: back to the board
                self.pop_screen()
            return
        self.switch_mode(mode)

    def open_run(self, run_id: int, *, replace: bool = False) -> None:
        from andon.tui.screens.run import RunScreen

        if replace and isinstance(self.screen, RunScreen):
            self.switch_screen(RunScreen(run_id))
        else:
            self.push_screen(RunScreen(run_id))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    # -- the cord --------------------------------------------------------------------

    def action_cord(self) -> None:
        from andon.engine.service.cord import cord_pulled

        if cord_pulled(self.db):
            self._release_cord()
            return

        def answered(reason: str | None) -> None:
            if reason is not None:  # None: cancelled; an empty reason may follow later
                self._pull_cord(reason)

        self.push_screen(TextPrompt("Pull the andon cord: nothing new starts and running "
                                    "runs hold at their next step. Why? (enter alone: "
                                    "stop now, say why later)", "reason", required=False),
                         answered)

    @work(thread=True, group="cord", exit_on_error=False)
    def _pull_cord(self, reason: str | None) -> None:
        from andon.tui.actions import pull_cord

        self.post_message(ActionDone(pull_cord(self.db, reason)))

    @work(thread=True, group="cord", exit_on_error=False)
    def _release_cord(self) -> None:
        from andon.tui.actions import release_cord

        self.post_message(ActionDone(release_cord(self.db)))

    def on_action_done(self, message: ActionDone) -> None:
        self.notify(message.text, markup=False)

    # -- the palette -----------------------------------------------------------------

    def palette_commands(self) -> list[PaletteCommand]:
        out = [PaletteCommand(f"Go to {title.lower()}", f"key {key}",
                              partial(self.action_show, mode))
               for mode, key, title in NAVIGATION if mode in self._modes]
        out += [
            PaletteCommand("Pull or release the andon cord", "key C: stops or restarts "
                           "the line", self.action_cord),
            PaletteCommand("Help: keys and legend", "key ?", self.action_help),
            PaletteCommand(f"Switch to a {'light' if self.current_theme.dark else 'dark'} "
                           "theme", "remembered for you (Theme: every theme)",
                           self.action_toggle_light),
            PaletteCommand("Refresh from the store", "ctrl+r", self.action_refresh),
            PaletteCommand("Quit", "key q", self.action_quit),
        ]
        return out

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Textual's own commands, but one Quit (ours: it stops the engine first) and a
        screenshot saved where it can be and said where."""
        for command in super().get_system_commands(screen):
            if command.title not in ("Quit", "Screenshot"):
                yield command
        yield SystemCommand("Screenshot", "Save an SVG of the screen and say where",
                            partial(self.call_after_refresh, self.action_save_screenshot))

    def screenshot_folder(self) -> Path:
        """The person's downloads folder, or where it is missing (a server over SSH)
        the factory's own screenshots folder."""
        downloads = Path(platformdirs.user_downloads_dir())
        if downloads.is_dir():
            return downloads
        folder = self.home.root / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def action_save_screenshot(self) -> None:
        try:
            path = self.save_screenshot(path=str(self.screenshot_folder()))
        except OSError as exc:
            self.notify(f"Screenshot not saved: {exc}", severity="error", markup=False)
            return
        self.notify(f"Screenshot saved to {path}", title="Screenshot", markup=False)

    def get_default_screen(self) -> Screen[Any]:
        return BoardScreen()


__all__ = ["FILTER_NAMES", "AndonApp"]
