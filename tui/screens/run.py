"""One run: its stage timeline, the live transcript, the diff, checks and scenarios, and
what a person can do about it (decide its gate, cancel, retry, revert).

Reads happen in thread workers, one at a time per kind (detail, transcript, diff); a
store change while one is in flight asks for one more afterwards. Writes go through
`tui.actions` in thread workers too; the app's `worker_failed` reports refusals.
"""

from __future__ import annotations

import time
from functools import partial

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Label, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from andon.engine.gates.gate import REVISABLE
from andon.store import models as m
from andon.tui import actions
from andon.tui.commands import PaletteCommand
from andon.tui.data import (
    RunDetail,
    TranscriptCursor,
    load_diff,
    load_earlier,
    load_run,
    load_transcript,
)
from andon.tui.messages import ActionDone, DiffLoaded, RunLoaded, TranscriptLoaded
from andon.tui.screens.base import StoreScreen
from andon.tui.widgets.checks_view import ChecksView
from andon.tui.widgets.confirm import Confirm
from andon.tui.widgets.diff_view import DiffView
from andon.tui.widgets.footer import KeyBar
from andon.tui.widgets.gate_confirm import ApproveGateScreen
from andon.tui.widgets.run_header import RunHeader, StageTimeline
from andon.tui.widgets.text_prompt import TextPrompt
from andon.tui.widgets.transcript import TranscriptView

DIFF_EVERY = 2.0  # seconds between diff reloads of a live run (git is not free)
TABS = ("transcript", "diff", "checks")
#: What takes the keys when a tab shows: the widget that was focused went hidden with
#: its tab, and nothing would answer Home, k or PageUp until Tab found something.
TAB_FOCUS = {"transcript": "#transcript-view", "diff": "#diff-files",
             "checks": "#checks-table"}


class RunTabs(TabbedContent):
    """Tabs that only keys and clicks switch. TabbedContent also shows the pane of any
    widget that gets focus; with keys typed fast (`2` then `1`) the focus Textual moves
    off a pane as it hides lands on a widget in that hidden pane, and its message,
    arriving after the switch, showed the diff again. The screen focuses the shown
    tab's widget itself (`RunScreen._focus_tab`)."""

    def _on_tab_pane_focused(self, event: TabPane.Focused) -> None:
        event.stop()
        event.prevent_default()  # TabbedContent's own handler would run after this one


class RunScreen(StoreScreen):
    DEFAULT_CSS = """
    RunScreen #gate-bar { display: none; height: auto; padding: 0 1;
                          background: $warning 30%; }
    RunScreen #gate-bar.-shown { display: block; }
    RunScreen #cord-bar { display: none; height: auto; padding: 0 1;
                          background: $error 40%; }
    RunScreen #cord-bar.-shown { display: block; }
    RunScreen TabbedContent { height: 1fr; }
    RunScreen TabPane { padding: 0; }
    """
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="Back to the board"),
        Binding("a", "approve", "Approve", tooltip="Approve the run's open gate"),
        Binding("x", "reject", "Reject", tooltip="Reject the open gate, with a comment"),
        Binding("e", "revise", "Revise", tooltip="Send the change back with a comment"),
        Binding("c", "cancel_run", "Cancel", tooltip="Stop the run at its next step"),
        Binding("t", "retry", "Retry", tooltip="Queue the run's spec again"),
        Binding("R", "revert", "Revert", tooltip="Revert the merged change on its base"),
        # Where the run cannot take the action its key stands for, the key says why
        # (hidden: the key bar offers only what can be done).
        *[Binding(key, f"refuse('{action}')", show=False)
          for key, action in (("a", "approve"), ("x", "reject"), ("e", "revise"),
                              ("c", "cancel_run"), ("t", "retry"), ("R", "revert"))],
        Binding("1", "tab('transcript')", "Transcript", show=False,
                tooltip="The live transcript"),
        Binding("2", "tab('diff')", "Diff", show=False, tooltip="What the run changed"),
        Binding("3", "tab('checks')", "Checks", show=False,
                tooltip="Checks, and scenario titles with their verdicts"),
    ]

    def __init__(self, run_id: int) -> None:
        super().__init__()
        self.run_id = run_id
        self.detail: RunDetail | None = None
        self.cursor = TranscriptCursor()
        self.loads = 0  # details applied (tests wait on this)
        self._busy: set[str] = set()
        self._again: set[str] = set()
        self._diff_at = 0.0
        self._diff_head: tuple[str | None, str | None, str] | None = None

    def compose(self) -> ComposeResult:
        yield RunHeader(f"run {self.run_id}: loading…", id="run-header")
        yield StageTimeline(id="timeline")
        yield Label("", id="gate-bar", markup=False)
        yield Label("", id="cord-bar", markup=False)
        with RunTabs(initial="transcript"):
            with TabPane("Transcript", id="transcript"):
                yield TranscriptView(id="transcript-view")
            with TabPane("Diff", id="diff"):
                yield DiffView(id="diff-view")
            with TabPane("Checks", id="checks"):
                yield ChecksView(id="checks-view")
        yield KeyBar()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(TranscriptView).focus()

    # -- loading ---------------------------------------------------------------------

    def reload(self) -> None:
        self._start("detail")
        self._start("transcript")
        if self._tab() == "diff":
            self._start("diff")

    def _start(self, kind: str) -> None:
        if kind in self._busy:
            self._again.add(kind)
            return
        if kind == "diff":
            if self.detail is None:
                return
            self._diff_at = time.monotonic()
        self._busy.add(kind)
        if kind == "detail":
            self._load_detail()
        elif kind == "transcript":
            self._load_transcript(TranscriptCursor(self.cursor.last_event_id,
                                                   self.cursor.last_step_id,
                                                   list(self.cursor.open_steps),
                                                   self.cursor.loaded))
        elif kind == "diff":
            assert self.detail is not None
            self._load_diff(self.detail.run)

    def _done(self, kind: str) -> None:
        self._busy.discard(kind)
        if kind in self._again:
            self._again.discard(kind)
            self._start(kind)

    @work(thread=True, group="run-detail", exit_on_error=False)
    def _load_detail(self) -> None:
        self.post_message(RunLoaded(self.run_id, load_run(self.andon.db, self.run_id,
                                                          now=self.andon.clock())))

    @work(thread=True, group="run-transcript", exit_on_error=False)
    def _load_transcript(self, cursor: TranscriptCursor) -> None:
        self.post_message(TranscriptLoaded(self.run_id,
                                           load_transcript(self.andon.db, self.run_id, cursor)))

    def on_transcript_view_load_earlier(self, message: TranscriptView.LoadEarlier) -> None:
        self._load_earlier(message.before_event_id)

    @work(thread=True, group="run-earlier", exit_on_error=False)
    def _load_earlier(self, before_event_id: int) -> None:
        self.post_message(TranscriptLoaded(self.run_id, load_earlier(
            self.andon.db, self.run_id, before_event_id)))

    @work(thread=True, group="run-diff", exit_on_error=False)
    def _load_diff(self, run: m.Run) -> None:
        self.post_message(DiffLoaded(self.run_id, load_diff(run)))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        kinds = {"run-detail": "detail", "run-transcript": "transcript", "run-diff": "diff"}
        kind = kinds.get(event.worker.group or "")
        if kind and event.state in (WorkerState.ERROR, WorkerState.CANCELLED):
            self._done(kind)
        super().on_worker_state_changed(event)

    def on_run_loaded(self, message: RunLoaded) -> None:
        self._done("detail")
        detail = message.detail
        if detail is None:
            self.query_one(RunHeader).update(f"There is no run {self.run_id}.")
            return
        self.detail = detail
        self.loads += 1
        self.query_one(RunHeader).show(detail)
        self.query_one(StageTimeline).show(detail)
        self._show_gate(detail)
        self._show_cord(detail)
        self.query_one(ChecksView).show(detail)
        self.query_one(TranscriptView).show_run_status(detail.run.status)
        self.refresh_bindings()
        if self._tab() == "diff":
            run = detail.run
            head = (run.head_commit, run.merge_commit, run.status)
            stale = head != self._diff_head or (
                run.status in m.ACTIVE_STATUSES and time.monotonic() - self._diff_at > DIFF_EVERY)
            if stale:
                self._diff_head = head
                self._start("diff")

    def on_transcript_loaded(self, message: TranscriptLoaded) -> None:
        chunk = message.chunk
        if chunk.earlier:
            self.query_one(TranscriptView).add_chunk(chunk)
            return
        self.cursor = TranscriptCursor(chunk.last_event_id, chunk.last_step_id,
                                       chunk.open_steps, True)
        self.query_one(TranscriptView).add_chunk(chunk)
        self._done("transcript")

    def on_diff_loaded(self, message: DiffLoaded) -> None:
        self.query_one(DiffView).show(message.diff)
        self._done("diff")

    def _show_gate(self, detail: RunDetail) -> None:
        bar = self.query_one("#gate-bar", Label)
        gate = detail.gate
        if gate is None:
            bar.set_class(False, "-shown")
            return
        bar.update(f"⚑ {gate.kind} gate {gate.id}: {gate.title or 'waiting for you'}")
        bar.set_class(True, "-shown")

    def _show_cord(self, detail: RunDetail) -> None:
        """The cord, pulled from anywhere (another window, the CLI), shows here too."""
        bar = self.query_one("#cord-bar", Label)
        cord = detail.cord
        bar.set_class(cord is not None, "-shown")
        if cord is not None:
            why = cord.get("reason")
            effect = ("this run holds at its next step" if detail.run.status in
                      m.ACTIVE_STATUSES else "nothing new starts")
            bar.update(f"CORD PULLED by {cord.get('by') or '?'}" + (f": {why}" if why else "")
                       + f" · {effect} · C releases it")

    def _focus_tab(self) -> None:
        """Focus the shown tab's widget (the one shown now: keys may have switched tabs
        again since this was asked)."""
        target = TAB_FOCUS.get(self._tab())
        if target and not self.query_one(target).has_focus:
            self.query_one(target).focus()

    def _tab(self) -> str:
        return self.query_one(TabbedContent).active or "transcript"

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.call_after_refresh(self._focus_tab)
        if event.pane.id == "diff" and self.detail is not None:
            self._diff_head = (self.detail.run.head_commit, self.detail.run.merge_commit,
                               self.detail.run.status)
            self._start("diff")

    # -- what can be done ------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        detail = self.detail
        if action in ("approve", "reject"):
            return detail is not None and detail.gate is not None
        if action == "revise":
            return detail is not None and detail.gate is not None and \
                detail.gate.kind in REVISABLE
        if action == "cancel_run":
            return detail is not None and detail.run.status in actions.CANCELLABLE and \
                not detail.run.cancel_requested
        if action == "retry":
            return detail is not None and detail.run.status in actions.RETRYABLE
        if action == "revert":
            return detail is not None and detail.run.status == m.MERGED
        return True

    def action_refuse(self, action: str) -> None:
        """Why the run cannot take `action` now, in words."""
        detail = self.detail
        if detail is None:
            return
        run = detail.run
        if action in ("approve", "reject", "revise"):
            why = ("This run has no open gate." if detail.gate is None else
                   f"Gate {detail.gate.id} ({detail.gate.kind}) cannot go back for revision.")
        elif action == "cancel_run":
            why = (f"Run {self.run_id}: cancel already requested, it stops at its next step."
                   if run.cancel_requested and run.status in actions.CANCELLABLE else
                   f"Run {self.run_id} is {run.status}: only an active run can be cancelled.")
        elif action == "retry":
            why = (f"Run {self.run_id} is {run.status}: retry a run that ended without "
                   "merging.")
        else:
            why = f"Run {self.run_id} is {run.status}: only a merged run can be reverted."
        self.notify(why, title="Not done", severity="warning", markup=False)

    def palette_commands(self) -> list[PaletteCommand]:
        gate = self.detail.gate if self.detail else None
        offered = [
            ("approve", f"Approve gate {gate.id if gate else ''}", "key a", self.action_approve),
            ("reject", "Reject the gate with a comment", "key x", self.action_reject),
            ("revise", "Revise: send back with a comment", "key e", self.action_revise),
            ("cancel_run", f"Cancel run {self.run_id}", "key c", self.action_cancel_run),
            ("retry", f"Retry run {self.run_id} (queue its spec again)", "key t",
             self.action_retry),
            ("revert", f"Revert run {self.run_id}'s merge", "key R", self.action_revert),
        ]
        out = [PaletteCommand(name, help, run) for action, name, help, run in offered
               if self.check_action(action, ())]
        out += [PaletteCommand(f"Show the {tab}", f"key {i}", partial(self.action_tab, tab))
                for i, tab in enumerate(TABS, start=1)]
        out.append(PaletteCommand("Back to the board", "key escape", self.action_back))
        return out

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_tab(self, name: str) -> None:
        if name in TABS:
            self.query_one(TabbedContent).active = name

    def action_approve(self) -> None:
        if self.detail is None or self.detail.gate is None:
            self.notify("This run has no open gate.", severity="warning")
            return
        gate = self.detail.gate
        if gate.kind != "action":
            self._act_decide(gate.id or 0, "approve", None)
            return

        def confirmed(ok: bool | None) -> None:  # an edit or command: show it exactly first
            if ok:
                self._act_decide(gate.id or 0, "approve", None)

        self.app.push_screen(ApproveGateScreen(gate), confirmed)

    def action_reject(self) -> None:
        self._ask_and_decide("reject", "Reject gate {id}: why? (the run is told)")

    def action_revise(self) -> None:
        self._ask_and_decide("revise", "Revise (gate {id}): what should change?")

    def _ask_and_decide(self, verdict: str, question: str) -> None:
        if self.detail is None or self.detail.gate is None:
            self.notify("This run has no open gate.", severity="warning")
            return
        gate_id = self.detail.gate.id or 0

        def answered(comment: str | None) -> None:
            if comment is not None:
                self._act_decide(gate_id, verdict, comment)

        self.app.push_screen(TextPrompt(question.format(id=gate_id), "comment"), answered)

    def action_cancel_run(self) -> None:
        def confirmed(yes: bool | None) -> None:
            if yes:
                self._act_cancel()

        title = self.detail.run.title if self.detail else ""
        self.app.push_screen(Confirm(f"Cancel run {self.run_id} ({title})? It stops at its "
                                     "next step; its worktree is kept.", "Cancel run"),
                             confirmed)

    def action_retry(self) -> None:
        self._act_retry()

    def action_revert(self) -> None:
        def confirmed(yes: bool | None) -> None:
            if yes:
                self._act_revert()

        self.app.push_screen(Confirm(f"Revert run {self.run_id}'s merge on its base branch?",
                                     "Revert"), confirmed)

    @work(thread=True, group="run-action", exit_on_error=False)
    def _act_decide(self, gate_id: int, verdict: str, comment: str | None) -> None:
        self.post_message(ActionDone(actions.decide(self.andon.db, gate_id, verdict, comment)))

    @work(thread=True, group="run-action", exit_on_error=False)
    def _act_cancel(self) -> None:
        self.post_message(ActionDone(actions.cancel(self.andon.db, self.run_id)))

    @work(thread=True, group="run-action", exit_on_error=False)
    def _act_retry(self) -> None:
        text, new_id = actions.retry(self.andon.db, self.run_id)
        self.post_message(ActionDone(text, open_run=new_id))

    @work(thread=True, group="run-action", exit_on_error=False)
    def _act_revert(self) -> None:
        self.post_message(ActionDone(actions.revert(self.andon.home, self.andon.db,
                                                    self.run_id)))

    def on_action_done(self, message: ActionDone) -> None:
        # the app tells the person (the message goes on up to it): once, not twice
        self.reload()
        if message.open_run:
            self.andon.open_run(message.open_run, replace=True)
