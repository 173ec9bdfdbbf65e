"""A run's pull request on the forge, from the first push to the merge.

    publish   push the run's branch (with a lease: never over someone else's commits)
              and open the pull request, or update it, with the spec, the checks, the
              scenario satisfaction and a link back to the run
    ci        wait for the branch protection's required checks on that head
    land      the forge's merge of exactly the head that was checked. A base that moved
              is merged into the branch first, a head that moved (someone pushed) is
              taken in; either way the caller checks again before landing

A change is merged exactly once: before asking for a merge the pull request's state is
read (a merged one is recorded, never merged again), so a crash between "merge
requested" and "merge recorded" resumes into "already merged", and a merge whose answer
was lost is never asked for twice. Forge weather (rate limits, 5xx, outages) holds the
run with the wait on the board and tries again (`ride`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, TypeVar

from andon.engine.forge import remote
from andon.engine.forge.client import CheckRun, Checks, Forge, MergeOutcome, PullRequest
from andon.engine.forge.settings import ForgeSettings
from andon.engine.forge.weather import Backoff, ForgeError, ForgeWeather, ride_out
from andon.engine.run.control import RunControl
from andon.engine.run.log import RunLog
from andon.engine.run.state import PipelineState, Pull
from andon.engine.workspace.git import is_ancestor, run_git, try_git, unmerged_files
from andon.engine.workspace.worktree import Workspace
from andon.store import models as m
from andon.store.clock import utcnow

T = TypeVar("T")
POLL_SECONDS = 30.0  # between looks at pending required checks
DETAIL_TAIL = 1_500  # characters of a failing check's own text the agent is shown


@dataclass
class Landed:
    status: Literal["merged", "already", "recheck", "conflict", "failing"]
    commit: str | None = None  # the merge commit on the forge's base
    previous: str | None = None  # the base's tip the merge went onto
    files: list[str] = field(default_factory=list)  # conflicting files
    failing: list[CheckRun] = field(default_factory=list)
    detail: str = ""


class Landing:
    """One run's pull request on one forge. `state`/`mark` read and write the run's
    pipeline progress (what survives a crash)."""

    def __init__(self, settings: ForgeSettings, forge: Forge, ws: Workspace, *,
                 log: RunLog, control: RunControl, state: Callable[[], PipelineState],
                 mark: Callable[..., object], backoff: Backoff | None = None,
                 poll: float = POLL_SECONDS) -> None:
        self.settings, self.forge, self.ws = settings, forge, ws
        self.log, self.control = log, control
        self.state, self.mark = state, mark
        self.backoff = backoff or Backoff()
        self.poll = poll

    # -- weather ----------------------------------------------------------------------

    def ride(self, call: Callable[[], T]) -> T:
        """`call()` through the forge's weather: the run is held, the board says until
        when, and a stopping engine leaves the run resumable."""
        return ride_out(call, wait=self.control.wait, on_hold=self._held,
                        on_clear=self._cleared, backoff=self.backoff)

    def _held(self, weather: ForgeWeather, seconds: float) -> None:
        at = utcnow() + timedelta(seconds=seconds)
        reason = (f"held by {self.settings.name} weather: {weather.reason}; trying again "
                  f"at {at:%H:%M:%S} UTC (in {seconds:.0f}s)")
        self.log.transition(m.HELD, reason, reason=reason,
                            detail={"retry_at": at.isoformat(), "seconds": seconds})

    def _cleared(self) -> None:
        if self.log.run().status == m.HELD:
            self.log.transition(m.RUNNING, f"{self.settings.name} answers again",
                                reason=None)

    # -- the pull request ---------------------------------------------------------------

    def publish(self, title: str, body: str) -> PullRequest:
        """Push the run's head and open (or update) its pull request. Raises
        `remote.Foreign` when someone else's commits are on the branch."""
        ws, base = self.ws, self.ws.base
        head = ws.head()
        with self.log.step("forge", "push") as step:
            pushed = self.ride(lambda: remote.push(ws.repo, self.settings, ws.branch, head))
            step.output = (f"{ws.branch} -> {self.settings.remote} at {head[:10]}"
                           if pushed else f"{ws.branch} already at {head[:10]}")
        self.mark(forge_pushed=head)
        known = self.state().pull
        digest = hashlib.sha256(f"{title}\n{body}".encode()).hexdigest()[:16]
        pr = None
        if known is not None:
            number = known.number
            pr = self.ride(lambda: self.forge.get_pull(number))
        else:
            pr = self.ride(lambda: self.forge.find_pull(ws.branch, base))
        if pr is None or pr.state == "closed":
            with self.log.step("forge", "open pull request") as step:
                pr = self.ride(lambda: self.forge.open_pull(ws.branch, base, title, body))
                step.output = pr.url
            self.log.event("forge", f"opened {self._name(pr)}: {pr.url}",
                           number=pr.number, url=pr.url)
        elif pr.state == "open" and (known is None or known.digest != digest):
            number = pr.number
            pr = self.ride(lambda: self.forge.update_pull(number, title, body))
            self.log.event("forge", f"updated {self._name(pr)}", number=pr.number)
        self.mark(pull=Pull(pr.number, pr.url, digest))
        return pr

    def _name(self, pr: PullRequest) -> str:
        what = "pull request #" if self.settings.kind == "github" else "merge request !"
        return f"{what}{pr.number}"

    def pull_number(self) -> int:
        pull = self.state().pull
        if pull is None:
            raise ForgeError("the run has no pull request yet")
        return pull.number

    # -- required checks --------------------------------------------------------------------

    def required_checks(self, head: str, patience: float | None = None) -> Checks:
        """The required checks on `head` once none is pending (the run waits for them,
        noticing the cord, a cancel and a stop); after `patience` seconds, as they are."""
        required = self.ride(lambda: self.forge.required_checks(self.ws.base))
        told: list[str] | None = None
        until = None if patience is None else time.monotonic() + patience
        while True:
            checks = self.ride(lambda: self.forge.checks(head, required))
            if checks.state != "pending" or (until is not None
                                             and time.monotonic() >= until):
                if told is not None:
                    self.log.update(reason=None)
                return checks
            if checks.waiting != told:
                told = checks.waiting
                reason = (f"waiting for the required checks on {self.settings.name}: "
                          f"{', '.join(told)} (head {head[:10]})")
                self.log.update(reason=reason)
                self.log.event("forge", reason, waiting=told, head=head)
            self.control.wait(self.poll)
            self.control.boundary()

    def ci(self, head: str) -> list[CheckRun]:
        """The failing required checks on `head` ([] when green), recorded as steps."""
        checks = self.required_checks(head)
        for name in checks.required:
            run = checks.runs.get(name)
            with self.log.step("forge", f"required check {name}") as step:
                step.output = (run.detail or run.state) if run else "missing"
                step.status = "ok" if run and run.state == "success" else "failed"
                step.data = {"head": head, "url": run.url if run else ""}
        if not checks.required:
            self.log.event("forge", f"{self.ws.base} requires no status checks on "
                           f"{self.settings.name}")
        else:
            verdict = "fail" if checks.failing else "pass"
            self.log.event("forge", f"required checks {verdict} on {head[:10]}",
                           failing=[r.name for r in checks.failing], head=head)
        if not checks.failing:
            self.mark(forge_green=head)
        return checks.failing

    # -- reviews on the forge ---------------------------------------------------------------

    def approval(self) -> tuple[str, str] | None:
        """(login, pull request URL) of a listed reviewer who approved the checked head
        on the forge, or None. Weather answers None: the gate is asked again later."""
        pull, head = self.state().pull, self.state().forge_green
        if not (pull and head and self.settings.reviewers):
            return None
        try:
            logins = self.forge.approvals(pull.number, head)
        except ForgeWeather:
            return None
        allowed = [login for login in logins if login in self.settings.reviewers]
        return (allowed[0], pull.url) if allowed else None

    # -- landing --------------------------------------------------------------------------

    def land(self, title: str, message: str) -> Landed:
        """Merge the checked head through the forge, or say what must happen first."""
        ws = self.ws
        number = self.pull_number()
        pr = self.ride(lambda: self.forge.get_pull(number))
        if pr.state == "merged":  # a crash after the merge: never merge twice
            return self._merged(pr.merge_commit, "already")
        if pr.state == "closed":
            raise ForgeError(f"{self._name(pr)} was closed on {self.settings.name}: "
                             f"reopen it, or cancel the run")
        head = ws.head()
        if pr.head != head:  # the branch moved since we pushed: someone else's commits
            return self.take_in(pr.head)
        tip = self.ride(lambda: remote.fetch(ws.repo, self.settings, ws.base))
        if not is_ancestor(ws.path, tip, head):
            return self._integrate(tip)
        if self.state().forge_green != head:
            failing = self.ci(head)
            if failing:
                return Landed("failing", failing=failing)
        self.mark(merge_requested=head)
        self.log.event("forge", f"merge of {head[:10]} requested on {self.settings.name}",
                       head=head)
        with self.log.step("forge", "merge") as step:
            outcome = self.ride(lambda: self.merge_once(number, head, title, message))
            step.output = outcome.detail or ("merged" if outcome.merged else "refused")
            step.status = "ok" if outcome.merged else "failed"
        if outcome.merged:
            return self._merged(outcome.sha, "merged", previous=tip)
        if outcome.refused == "head moved":
            moved = self.ride(lambda: self.forge.get_pull(number))
            if moved.state == "merged":
                return self._merged(moved.merge_commit, "already")
            return self.take_in(moved.head)
        raise ForgeError(f"{self.settings.name} refused to merge {self._name(pr)}: "
                         f"{outcome.detail or 'not mergeable'} (branch protection may need "
                         f"more than the required checks, e.g. approving reviews)")

    def merge_once(self, number: int, head: str, title: str,
                    message: str) -> MergeOutcome:
        """Read the pull request, then merge it only if it is not merged yet: what makes a
        retry after a lost answer safe."""
        pr = self.forge.get_pull(number)
        if pr.state == "merged":
            return MergeOutcome(True, sha=pr.merge_commit, detail="already merged")
        return self.forge.merge(number, head, title, message)

    def _merged(self, commit: str | None, status: Literal["merged", "already"],
                previous: str | None = None) -> Landed:
        if not commit:
            raise ForgeError(f"{self.settings.name} says merged but names no merge commit")
        ws = self.ws
        self.ride(lambda: remote.fetch(ws.repo, self.settings, ws.base))
        if previous is None:  # the merge commit's first parent is the base it went onto
            parents = run_git(ws.repo, "rev-list", "--parents", "-n", "1", commit).split()
            previous = parents[1] if len(parents) > 1 else None
        return Landed(status, commit=commit, previous=previous,
                      detail=f"{status} on {self.settings.name} as {commit[:10]}")

    def take_in(self, sha: str) -> Landed:
        """Someone pushed to the run's branch: bring their commits into the worktree so
        the checks run on what the forge would merge."""
        ws = self.ws
        self.ride(lambda: remote.fetch(ws.repo, self.settings, ws.branch))
        self.log.event("forge", f"{ws.branch} moved on {self.settings.name} to {sha[:10]} "
                       f"since the checks ran: taking it in and checking again", head=sha)
        status, out, err = try_git(ws.path, "merge", "--no-edit", "-q", sha)
        if status != 0:
            files = unmerged_files(ws.path)
            try_git(ws.path, "merge", "--abort")
            raise ForgeError(f"{ws.branch} was changed on {self.settings.name} by someone "
                             f"else and conflicts with the run in {', '.join(files) or '?'}"
                             f": {(err or out).strip()[:200]}")
        self.mark(forge_pushed=sha)
        return Landed("recheck", detail=f"{ws.branch} moved to {sha[:10]}")

    def _integrate(self, tip: str) -> Landed:
        """The base moved: merge it into the run's branch (a person can see what was
        merged), or report the conflict with the worktree left clean."""
        ws = self.ws
        self.log.event("forge", f"{ws.base} moved to {tip[:10]} on {self.settings.name}: "
                       "merging it into the run's branch, then checking again", tip=tip)
        status, _, _ = try_git(ws.path, "merge", "--no-edit", "-q", "--no-ff", tip)
        if status == 0:
            return Landed("recheck", detail=f"{ws.base} moved to {tip[:10]}")
        files = unmerged_files(ws.path)
        try_git(ws.path, "merge", "--abort")
        return Landed("conflict", files=files,
                      detail=f"{ws.base} moved to {tip[:10]} on {self.settings.name} and "
                             f"conflicts with the run in {', '.join(files)}")

    def conflict_markers(self) -> list[str]:
        """Merge the base's fetched tip into the worktree, leaving conflict markers for
        the agent (the attempt's commit concludes the merge)."""
        tip = run_git(self.ws.repo, "rev-parse", "FETCH_HEAD^{commit}")
        status, _, _ = try_git(self.ws.path, "merge", "--no-edit", "-q", "--no-ff", tip)
        return [] if status == 0 else unmerged_files(self.ws.path)


def ci_feedback(name: str, failing: list[CheckRun]) -> tuple[str, str, str]:
    """(what the agent is told, the failure's signature, a summary) of failing required
    checks, as a failing local check would be told."""
    parts = [f"These required checks failed on {name} (the team's CI):"]
    for run in failing:
        parts.append(f"\n- {run.name}: {run.detail[-DETAIL_TAIL:] or run.state}"
                     + (f"\n  ({run.url})" if run.url else ""))
    parts.append("\nFind the cause, fix it, run the checks, and finish with a short summary.")
    signature = hashlib.sha256("\n".join(f"{r.name}\x00{r.detail}" for r in failing)
                               .encode()).hexdigest()[:16]
    summary = "required checks failed on " + name + ": " + ", ".join(r.name for r in failing)
    return "\n".join(parts), signature, summary


def pull_body(*, run_id: int, spec_title: str, spec_body: str, checks: list[Any],
              satisfaction: float | None, scenarios: list[Any], link: str) -> str:
    """The pull request's text: the spec, Andon's checks and satisfaction, the run."""
    lines = [f"Andon run {run_id}: {spec_title}", "", "## Spec", "", spec_body.strip(), "",
             "## Andon's checks", ""]
    lines += [f"- `{c.command}`: {'passed' if c.passed else 'failed'}" for c in checks] or [
        "- (the spec names no checks)"]
    if scenarios:
        value = "n/a" if satisfaction is None else f"{satisfaction:.2f}"
        lines += ["", f"Holdout scenarios: satisfaction {value} over {len(scenarios)} "
                      f"scenario(s)."]
    lines += ["", f"Run: {link}", "", f"Andon-Run: {run_id}"]
    return "\n".join(lines)
