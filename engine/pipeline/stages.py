"""One run through the stages, and back again where the work is not good enough yet.

    prepare    the run's worktree on branch andon/<run-id> from the base (reused when
               resuming), then the repository's setup commands
    plan       when the policy asks (level 2, or plan_gate at level 3): the model writes a
               plan without tools; gatekeeper.plan; the plan opens the agent's first message
    implement  the agent loop in the worktree; the engine commits its work
    validate   the spec's checks (visible to the agent) and the holdout scenarios (never
               visible) -> satisfaction. Failures go back to implement as feedback (check
               output tails, titles of failed scenarios) up to the policy's max_attempts;
               the same failure twice in a row ends the run as "stuck"
    review     gatekeeper.review: approved -> merge; revised -> implement again with the
               person's comment (counts as an attempt)
    merge      into the base, as the repository says (merge commit or rebase); a conflict
               goes to gatekeeper.conflict; idempotent; optional push
    post-merge the checks again on the merged base; a failure reverts the run on the base
               (status "reverted") and tells a person (gatekeeper.post_merge)

Each stage either lets the run go on or ends it with a status and a reason (`RunEnded`),
and writes steps and events through the run's `RunLog`. What a stage finished is kept in
a `PipelineState` (stored in `run.data["pipeline"]`), so `execute()` on an interrupted
run resumes: same worktree, finished stages skipped, the agent continuing from its
checkpoint, never a second merge.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from andon.engine.agent import backend, checkpoint
from andon.engine.agent.backend import AgentBackend
from andon.engine.agent.budget import RunBudget
from andon.engine.agent.loop import Agent
from andon.engine.agent.prompt import system_prompt
from andon.engine.agent.tools.base import Tool
from andon.engine.agent.tools.editor import EditorTool
from andon.engine.agent.tools.shell import BashTool
from andon.engine.errors import UserError
from andon.engine.factory.home import Home
from andon.engine.forge.landing import Landing
from andon.engine.gates.gate import PolicyGatekeeper
from andon.engine.gates.gatekeeper import Decision, Gatekeeper, ReviewDetail
from andon.engine.llm.asking import Asking, model_limit
from andon.engine.llm.client import JUDGE, PLAN, ModelClient
from andon.engine.llm.provider import SCRIPTED, open_model, provider_of, unpriced
from andon.engine.pipeline import delivery, postmerge, scenarios
from andon.engine.pipeline.checks import CheckResult, run_checks
from andon.engine.pipeline.outcome import Failure, RunEnded
from andon.engine.run.control import Cancelled, RunControl, Stopping
from andon.engine.run.identity import home_id, trailers
from andon.engine.run.log import RunLog
from andon.engine.run.state import PipelineState, Progress
from andon.engine.run.status import LOST_WORK, IllegalTransition, StatusConflict
from andon.engine.workspace import links, processes
from andon.engine.workspace import merge as merging
from andon.engine.workspace import worktree as workspace
from andon.engine.workspace.git import CheckoutBlocked
from andon.engine.workspace.sandbox import SandboxConfig, bwrap_available
from andon.engine.workspace.worktree import RepoSettings, Workspace
from andon.policies.policy import Policy
from andon.policies.stored import load_policy
from andon.store import models as m
from andon.store.clock import utcnow
from andon.store.db import Database, fault_message, in_database, storage_fault

FEEDBACK_TAIL = 3_000  # characters of a failed check's output the agent is shown
PLAN_MAX_TOKENS = 4_096
JUDGE_MAX_TOKENS = 1_024
MAX_PLAN_REVISIONS = 5
MAX_CONFLICT_ROUNDS = 5
REPO_RETRY_FIRST = 5.0
REPO_BLOCKED = "repo.blocked"  # event: the base's checkout is in the way (a person is told)

PLAN_REQUEST = (
    "Before changing anything, write a short plan for implementing the spec: the files "
    "you will change or add, what each change does, and how you will check it. Plain "
    "numbered steps; no code yet."
)
FIRST_MESSAGE = "Implement the spec."


class _TurnCommits(RunControl):
    """The agent's RunControl: at each turn boundary it first commits what the last turn
    changed, so the run's branch holds the work step by step."""

    def __init__(self, control: RunControl, commit: Callable[[], object]) -> None:
        super().__init__(control.db, control.run_id, stop=control.stop,
                         on_hold=control.on_hold)
        self._commit = commit

    def boundary(self) -> None:
        self._commit()
        super().boundary()


@dataclass
class RunContext:
    run: m.Run
    spec: m.Spec
    ws: Workspace | None = None
    repo: RepoSettings | None = None
    plan: str | None = None
    checks: list[CheckResult] = field(default_factory=list)
    scenarios: list[scenarios.ScenarioResult] = field(default_factory=list)


class Pipeline:
    def __init__(self, home: Home, db: Database, run_id: int, *,
                 control: RunControl | None = None) -> None:
        self.home = home
        self.db = db
        self.log = RunLog(db, run_id)
        self.control = control or RunControl(db, run_id)
        with db.read() as s:
            run = s.get(m.Run, run_id)
            if run is None:
                raise UserError(f"no run {run_id}")
            spec = s.get(m.Spec, run.spec_id)
            assert spec is not None
        self.ctx = RunContext(run=run, spec=spec)
        self.progress = Progress(db, run_id)  # loaded once, written through
        self.home_id = home_id(db)  # with the run's number, who the run is on the base
        self.policy: Policy = Policy.default(run.category, run.level)
        self._model: ModelClient | None = None
        self.gatekeeper: Gatekeeper = Gatekeeper()
        self.landing: Landing | None = None  # delivery through a forge, if the repo has one

    # -- the whole run ---------------------------------------------------------------

    def execute(self) -> str:
        """Take the run through every stage (resuming where it stopped); returns its
        final status, or "interrupted" when the engine is stopping or a gate holds the
        run undecided (it resumes later)."""
        if self.ctx.run.status in m.TERMINAL_STATUSES:
            return self.ctx.run.status
        try:
            self._begin()
            self.policy = self._policy()
            self.gatekeeper = PolicyGatekeeper(self.db, self.ctx.run.id or 0, self.policy,
                                               control=self.control)
            unknown_price = unpriced(self.ctx.spec.model, self.home)
            if unknown_price is not None:  # queued before the price went: never unbudgeted
                raise RunEnded(m.FAILED, unknown_price)
            self._require_sandbox()
            self.prepare()
            self._record_merge()
            self.landing = delivery.open_landing(self)
            if not self.state.merged:
                self.plan()
                self.build()
            self.push()
            status, reason = self.watch()
        except RunEnded as end:
            return self._finish(end.status, end.reason)
        except Cancelled as exc:
            return self._finish(m.CANCELLED, str(exc))
        except Stopping as exc:
            return self._pause(f"interrupted: {exc}; it resumes from here")
        except UserError as exc:
            return self._finish(m.FAILED, str(exc))
        except Exception as exc:  # a bug or an outage must not leave the run "running"
            fault = storage_fault(exc)
            if fault is not None:  # not the run's doing: it resumes once the store works
                where = self.home.root if in_database(exc) else None
                return self._pause(f"{fault_message(fault, where)}; the run resumes from "
                                   f"its last checkpoint "
                                   f"({type(exc).__name__}: {str(exc).splitlines()[0]})")
            return self._finish(m.FAILED, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            self._close_model()
        return self._finish(status, reason)

    def _begin(self) -> None:
        run = self.ctx.run = self.log.run()
        fields: dict[str, Any] = {}
        if run.started_at is None:
            fields["started_at"] = utcnow()
        if run.status != m.RUNNING:  # executed without a claim (a test, a resume)
            self.ctx.run = self.log.transition(m.RUNNING, "started", event="run.started",
                                               **fields)
        elif fields:
            self.ctx.run = self.log.update(**fields)
        if self.state.started:
            self.log.event("run.resumed", f"resuming in stage {run.stage or '-'}",
                           stage=run.stage)

    def _finish(self, status: str, reason: str) -> str:
        try:
            self.ctx.run = self.log.transition(status, reason, reason=reason)
        except (IllegalTransition, StatusConflict) as exc:  # moved by someone else
            self.log.event("run.conflict", f"not recorded as {status} ({reason}): {exc}")
            return self.log.run().status
        try:  # open gates are voided; a level-4 ending gives the circuit breaker its say
            self.gatekeeper.finished(status)
        except Exception as exc:
            self.log.event("policy", f"after the run: {type(exc).__name__}: {exc}")
        self._retire_worktree(status)
        shutil.rmtree(self._agent_folder(), ignore_errors=True)  # an ended run resumes none
        return status

    def _pause(self, reason: str) -> str:
        """Leave the run resumable: a stop at a step boundary or a gate loses no work, so
        it does not count against max_resumes."""
        data = {**(self.log.run().data or {}), LOST_WORK: False}
        self.ctx.run = self.log.transition(m.INTERRUPTED, reason, reason=reason, data=data)
        return m.INTERRUPTED

    # -- stages ----------------------------------------------------------------------

    def prepare(self) -> None:
        self.control.boundary()
        self.log.enter("prepare")
        spec, run = self.ctx.spec, self.ctx.run
        repo = self._repo()
        self.ctx.repo = repo
        if spec.scenarios:  # a spec that names holdout checks must not run without them
            scenarios.scenario_folder(self.home.scenarios, spec.scenarios)
        path = workspace.path_for(self.home.worktrees, run.id or 0)
        fresh = not (path / ".git").exists()
        with self.log.step("git", "worktree") as step:
            ws = workspace.prepare(repo.path, repo.base, self.home.worktrees, run.id or 0,
                                   base_commit=run.base_commit)
            step.output = (f"{ws.path} on {ws.branch} from {repo.base} at "
                           f"{ws.base_commit[:10]}" + ("" if fresh else " (reused)"))
        self.ctx.ws = ws
        self.ctx.run = self.log.update(repo_path=str(ws.repo), base=repo.base,
                                       worktree=str(ws.path), branch=ws.branch,
                                       base_commit=ws.base_commit)
        if fresh:
            self.log.event("workspace", f"worktree {ws.path.name} on {ws.branch}",
                           spec=spec.title)
        if fresh or not self.state.setup:
            self._setup(ws, repo.setup)
        ws.excluded = list(self.state.excluded)

    def _setup(self, ws: Workspace, commands: list[str]) -> None:
        timeout = self.home.config.engine.setup_timeout
        for command in commands:
            with self.log.step("setup", command, input={"command": command}) as step:
                # Recorded first: should this engine die, recovery ends the command
                # before the run resumes, so it never runs twice at once.
                token = processes.new_token(self.ctx.run.id or 0)
                self._note_process({"token": token, "host": socket.gethostname(),
                                    "command": command})
                out = workspace.run_setup(ws.path, command, timeout,
                                          env={processes.ENV_KEY: token})
                self._note_process(None)
                step.output, step.exit_code = out.output, out.exit_code
                step.status = "ok" if out.passed else "failed"
                step.data = {"timed_out": out.timed_out, "seconds": round(out.seconds, 3)}
            if not out.passed:
                why = "timed out" if out.timed_out else f"exit {out.exit_code}"
                raise RunEnded(m.FAILED, f"setup command `{command}` failed ({why})")
        excluded = workspace.untracked(ws)  # what setup made is never the agent's work
        self._mark(setup=True, excluded=excluded)
        if commands:
            self.log.event("workspace", f"setup: {len(commands)} command(s) ran",
                           excluded=excluded)

    def _note_process(self, record: dict[str, str] | None) -> None:
        """Record (or clear) the setup command running outside the sandbox."""
        with self.db.write() as s:
            run = s.get(m.Run, self.ctx.run.id)
            assert run is not None
            data = {k: v for k, v in (run.data or {}).items() if k != processes.RUN_KEY}
            run.data = {**data, processes.RUN_KEY: record} if record else data
            s.add(run)

    def plan(self) -> None:
        """The model's plan, written without tools, when the policy asks for one."""
        if self.state.plan is not None:
            self.ctx.plan = self.state.plan
            return
        level = self.ctx.run.level
        if not (level == 2 or (level == 3 and self.policy.plan_gate)):
            return
        self.control.boundary()
        self.log.enter("plan")
        ws = self._ws()
        llm = self._client()
        system = system_prompt(self.ctx.spec, ws.path)
        messages: list[dict[str, Any]] = [{"role": "user", "content": PLAN_REQUEST}]
        for _ in range(MAX_PLAN_REVISIONS):
            with self.log.step("plan", "plan") as step:
                text = llm.call(system=system, messages=messages, max_tokens=PLAN_MAX_TOKENS,
                                purpose=PLAN).text.strip()
                step.output = text
            self.log.event("plan", "the model wrote a plan", chars=len(text))
            decision = self.gatekeeper.plan(text)
            if decision.approved:
                break
            self._refused(decision, "plan")
            messages += [{"role": "assistant", "content": text},
                         {"role": "user", "content": "A person asked for changes to the "
                          f"plan: {decision.comment}\nWrite the revised plan."}]
        else:
            raise RunEnded(m.REJECTED, f"the plan was revised {MAX_PLAN_REVISIONS} "
                           "times without being approved")
        self.ctx.plan = text
        self._mark(plan=text)

    def build(self) -> None:
        """implement -> validate -> review -> merge, as many attempts as it takes."""
        while True:
            state = self.state
            attempt = state.attempt or 1
            if state.implemented < attempt:
                self.implement(attempt, state.feedback)
            if state.validated < attempt:
                failure = self.validate(attempt)
                if failure is not None:
                    self._next_attempt(attempt, failure)
                    continue
                self._mark(validated=attempt)
            if self.landing is not None and state.forge_checked < attempt:
                failure = delivery.check(self, attempt, self.landing)  # the team's CI
                if failure is not None:
                    self._next_attempt(attempt, failure)
                    continue
                self._mark(forge_checked=attempt)
            if state.reviewed < attempt:
                decision = self.review()
                if decision.verdict == "revised":
                    self._next_attempt(attempt, self._revision(decision, "review"))
                    continue
                self._mark(reviewed=attempt)
            failure = self.merge()
            if failure is None:
                return
            self._next_attempt(attempt, failure)

    def implement(self, attempt: int, feedback: str | None) -> None:
        self.control.boundary()
        self.log.enter("implement")
        if self.ctx.run.attempt != attempt:
            self.ctx.run = self.log.update(attempt=attempt)
        self._mark(attempt=attempt)
        ws = self._ws()
        if attempt == 1:
            message = FIRST_MESSAGE
            if self.ctx.plan:
                message += ("\n\nThe plan for this change (follow it):\n\n" + self.ctx.plan)
            conversation = [{"role": "user", "content": message}]
        else:
            conversation = self._continued(attempt, feedback or "")
        result = self._run_agent(ws, conversation, attempt)
        self._commit(f"attempt {attempt}")
        if result.status != "done":
            status = m.STUCK if result.status == "stuck" else m.FAILED
            raise RunEnded(status, result.reason or f"the agent stopped ({result.status})")
        self._mark(implemented=attempt)

    def _run_agent(self, ws: Workspace, messages: list[dict[str, Any]], attempt: int) -> Any:
        """The agent loop for one attempt (resuming from its checkpoint when there is one)."""
        llm = self._client()
        self.log.update(model=llm.model)
        sandbox = self._sandbox(ws.path)
        tools: list[Tool] = [EditorTool(ws.path),
                             BashTool(ws.path, sandbox, timeout=self.policy.bash_seconds)]
        limit = None if llm.model == SCRIPTED else model_limit(llm.client, llm.model)
        options = Asking.of(self.policy, self.ctx.spec.front).options(limit)
        try:
            agent = self._agent(llm, tools, ws, options)
            result = agent.run(messages, attempt=attempt)
            while result.status == "budget" and result.breach is not None:
                if not self.gatekeeper.budget(result.breach.reason).approved:
                    break
                agent.extend_budget(result.breach)
                result = agent.run(messages, attempt=attempt)
            return result
        finally:
            for tool in tools:
                tool.close()

    def _agent(self, llm: ModelClient, tools: list[Tool], ws: Workspace,
               options: dict[str, Any]) -> AgentBackend:
        """The backend the spec or the category chose, with the same gates, tools, budget
        and turn commits either way (`options`, how to ask the model, are the loop's)."""
        budget = RunBudget.tightest(self.ctx.spec.budget, self.policy.budget)
        control = _TurnCommits(self.control, self.commit_turn)
        system = system_prompt(self.ctx.spec, ws.path)
        name = backend.chosen(self.ctx.spec, self.policy)
        if name == backend.CLAUDE_CODE:
            why = backend.missing(name)
            if why is not None:
                raise UserError(f"spec {self.ctx.spec.path}: {why}")
            from andon.engine.agent.claude_code import ClaudeCodeAgent

            return ClaudeCodeAgent(llm=llm, tools=tools, log=self.log, system=system,
                                   folder=self._agent_folder(),
                                   budget=budget, control=control, gatekeeper=self.gatekeeper)
        return Agent(client=llm.client, model=llm.model, tools=tools, log=self.log,
                     system=system, budget=budget, control=control,
                     gatekeeper=self.gatekeeper, llm=llm, context=self.policy.context,
                     options=options)

    def _agent_folder(self) -> Path:
        """Claude Code's private folder for the run (its cwd, home and sessions)."""
        return self.home.root / "agents" / f"run-{self.ctx.run.id}"

    def commit_turn(self, turn: int | None = None) -> str | None:
        """Commit what the agent changed in its last turn, if anything (called at each of
        the agent's turn boundaries through `_TurnCommits`)."""
        if workspace.merging(self._ws()):
            return None  # conflicts being resolved: the attempt's end concludes the merge
        run = self.log.run()
        n = run.turns if turn is None else turn
        return self._commit(f"turn {n} of attempt {run.attempt}", quiet=True)

    def validate(self, attempt: int) -> Failure | None:
        """Checks, then (when they pass) scenarios; a Failure when the attempt is not
        good enough yet, None when the run may go on to review."""
        self.control.boundary()
        self.log.enter("validate")
        ws = self._ws()
        timeout = self.home.config.engine.check_timeout
        self.ctx.checks = run_checks(self.log, self.ctx.spec.checks, ws.path,
                                     self._sandbox(ws.path), timeout)
        failed = [c for c in self.ctx.checks if not c.passed]
        self.ctx.scenarios = [] if failed else self._scenarios(ws)
        value = scenarios.satisfaction(self.ctx.scenarios)
        if self.ctx.scenarios:
            self.ctx.run = self.log.update(satisfaction=value)
            self.log.event("satisfaction", "no scenario trial ran" if value is None else
                           f"satisfaction {value:.2f}", satisfaction=value)
        missed = [r for r in self.ctx.scenarios if r.failed]
        low = value is not None and value < self.policy.satisfaction_threshold
        if not failed and not low:
            return None
        if not failed and attempt >= self.policy.max_attempts:
            return None  # checks pass; review decides on the low satisfaction (escalation)
        return _failure(failed, missed if low else [])

    def _scenarios(self, ws: Workspace) -> list[scenarios.ScenarioResult]:
        name = self.ctx.spec.scenarios
        if not name:
            return []
        folder = scenarios.scenario_folder(self.home.scenarios, name)
        found = scenarios.load_scenarios(folder)
        if not found:
            self.log.event("scenario", f"no scenarios in {folder}")
            return []
        timeout = self.home.config.engine.scenario_timeout
        trials = self.home.config.engine.scenario_trials
        provider, _ = provider_of(self.ctx.spec, self.home)
        results = []
        for scenario in found:
            self.control.boundary()
            with self.log.step("scenario", scenario.title) as step:
                if scenario.kind == "check":
                    result = scenarios.run_check(
                        scenario, ws.path, scenarios_root=self.home.scenarios,
                        hide=self._hidden(),
                        allow_unsandboxed=self._sandbox(ws.path).allow_unsandboxed,
                        timeout=timeout)
                elif provider == SCRIPTED:
                    result = scenarios.skipped_story(
                        scenario, "skipped: stories are judged by a real model; this run "
                        "uses the scripted provider")
                else:
                    result = self._judge(scenario, ws, trials)
                step.status, step.output, step.exit_code = (result.status, result.output,
                                                            result.exit_code)
                step.data = {"kind": result.kind, "trials": result.trials,
                             "passed": result.passed, **result.data}
            verdict = {"ok": "satisfied", "failed": "not satisfied",
                       "skipped": "skipped"}[result.status]
            self.log.event("scenario", f"{scenario.title}: {verdict}",
                           passed=result.passed, trials=result.trials)
            results.append(result)
        return results

    def _judge(self, scenario: scenarios.Scenario, ws: Workspace,
               trials: int) -> scenarios.ScenarioResult:
        llm = self._client()

        def ask(system: str, text: str) -> str:
            return llm.call(system=system, messages=[{"role": "user", "content": text}],
                            max_tokens=JUDGE_MAX_TOKENS, purpose=JUDGE,
                            output_config={"format": scenarios.VERDICT_FORMAT}).text.strip()

        return scenarios.judge_story(scenario, workspace.diff(ws), trials, ask)

    def review(self) -> Decision:
        self.control.boundary()
        self.log.enter("review")
        ws = self._ws()
        if not workspace.changed(ws):
            raise self._nothing_changed()
        detail = ReviewDetail(
            diff=workspace.diff(ws), numstat=workspace.diff(ws, stat=True),
            checks=[{"command": c.command, "exit_code": c.exit_code, "passed": c.passed,
                     "timed_out": c.timed_out} for c in self._checks()],
            satisfaction=self.log.run().satisfaction,
            scenarios=[{"title": r.title, "status": r.status, "passed": r.passed,
                        "trials": r.trials} for r in self.ctx.scenarios],
            spend=self._spend(),
        )
        decision = self.gatekeeper.review(detail)
        if decision.verdict not in ("approved", "revised"):
            self._refused(decision, "review")
        self.log.event("review", "approved" + (f" by {decision.by}" if decision.by else
                                              " (no gate needed)")
                       if decision.approved else f"revised: {decision.comment}")
        return decision

    def merge(self) -> Failure | None:
        """Into the base; a Failure (back to implement) when a person asks the agent to
        resolve a conflict, None once merged."""
        if self.landing is not None:  # the forge merges, through the pull request
            return delivery.merge(self, self.state.attempt or 1, self.landing)
        self.control.boundary()
        self.log.enter("merge")
        ws, run, repo = self._ws(), self.ctx.run, self._repo_settings()
        message = (f"Merge andon run {run.id}: {self.ctx.spec.title}\n\n"
                   f"{trailers(self.home_id, run.id or 0)}\nAndon-Category: {run.category}\n"
                   f"Andon-Level: {run.level}")
        for _ in range(MAX_CONFLICT_ROUNDS):
            result = self._merge_holding(ws, message, repo.merge)
            if result.status == "empty":
                raise self._nothing_changed()
            if result.status != "conflict":
                break
            self.log.event("merge.conflict", result.detail, files=result.files)
            decision = self.gatekeeper.conflict(result.files, result.detail)
            if decision.verdict == "revised":
                files = merging.conflict_markers(ws)
                return Failure(
                    f"The base branch {ws.base} moved and conflicts with your change. Its "
                    f"new state is merged into the worktree with conflict markers in: "
                    f"{', '.join(files) or 'no file (it merged cleanly now)'}. Resolve them "
                    f"keeping both intents, run the checks, and finish."
                    + (f"\n\nA person's note: {decision.comment}" if decision.comment else ""),
                    signature="", summary=f"conflict in {', '.join(result.files)}")
            if not decision.approved:
                status = m.REJECTED if decision.by else m.FAILED
                raise RunEnded(status, f"merge conflict in {', '.join(result.files)}: "
                               f"{ws.base} moved since the run started"
                               + (f" ({decision.comment})" if decision.comment and
                                  decision.by else ""))
            self._commit("conflict resolved by a person")  # then try again
        else:
            raise RunEnded(m.FAILED, f"still conflicting after {MAX_CONFLICT_ROUNDS} rounds")
        assert result.commit is not None
        previous = result.previous
        self._mark(merged=result.commit, previous=previous)
        self.ctx.run = self.log.update(merge_commit=result.commit, head_commit=ws.head(),
                                       merged_at=self.ctx.run.merged_at or utcnow())
        how = "already merged" if result.status == "already" else "merged"
        self.log.event("merge", f"{how} into {ws.base} as {result.commit[:10]}",
                       commit=result.commit, mode=repo.merge)
        return None

    def _record_merge(self) -> None:
        """An engine killed between noting the merge in the run's progress and on the run
        itself left a merged run without its merge commit: record it now."""
        merged, run = self.state.merged, self.ctx.run
        if merged and not run.merge_commit:
            self.ctx.run = self.log.update(merge_commit=merged,
                                           merged_at=run.merged_at or utcnow())

    def _merge_holding(self, ws: Workspace, message: str, mode: str) -> merging.MergeResult:
        """One merge step; while the base's checkout is in the way (a stale index.lock,
        files the merge would overwrite) the run is held, saying what and how to fix it,
        and the merge is tried again, more and more slowly, until it goes through: the
        run's finished work is never failed for the repository's trouble."""
        blocked: str | None = None
        pause = min(REPO_RETRY_FIRST, self._repo_retry())
        while True:
            with self.log.step("merge", ws.base) as step:
                try:
                    result = merging.merge_run(ws, self.ctx.run.id or 0, message, mode,
                                               self.home_id)
                except CheckoutBlocked as caught:
                    exc = caught
                    step.status, step.output = "held", f"{exc.problem}; {exc.fix}"
                    step.data = {"status": "blocked", "files": exc.files, "mode": mode}
                else:
                    step.output = result.detail
                    step.status = "failed" if result.status == "conflict" else "ok"
                    step.data = {"status": result.status, "files": result.files,
                                 "mode": mode}
                    break
            if exc.problem != blocked:  # say it once per problem, and tell a person
                blocked = exc.problem
                self.ctx.run = self.log.transition(
                    m.HELD, f"{exc.problem}; to go on, {exc.fix}", event=REPO_BLOCKED,
                    detail={"checkout": str(exc.checkout), "files": exc.files},
                    reason=f"held at the merge: {exc.problem}; to go on, {exc.fix} (the "
                    "merge is tried again by itself)")
            self.control.boundary()
            self.control.wait(pause)
            pause = min(pause * 2, self._repo_retry())
        if blocked is not None:
            why = f"the checkout of {ws.base} is usable again; merging"
            if self.log.run().status == m.HELD:  # (the cord may have moved it meanwhile)
                self.ctx.run = self.log.transition(m.RUNNING, why, event="repo.unblocked",
                                                   reason=None)
            else:
                self.log.event("repo.unblocked", why)
        return result

    def _repo_retry(self) -> float:
        return float(self.home.config.engine.repo_retry)

    def push(self) -> None:
        """Send the base to the repository's remote, when one is configured."""
        remote = self._repo_settings().push
        if self.landing is not None:  # the forge holds the base: nothing to push
            return
        merged = self.state.merged
        if not remote or not merged or self.state.pushed == merged:
            return
        ws = self._ws()
        with self.log.step("push", remote) as step:
            try:
                step.output = merging.push(ws.repo, remote, ws.base)
            except Exception as exc:  # the merge stands; a person can push by hand
                step.status, step.output = "failed", str(exc)
                self.log.event("push", f"push of {ws.base} to {remote} failed: {exc}")
                self._mark(push_failed=str(exc))
                return
        self._mark(pushed=merged)
        self.log.event("push", f"pushed {ws.base} to {remote}")

    def _nothing_changed(self) -> RunEnded:
        """A one-off spec asked for a change and got none: a failure. A recurring spec
        that finds nothing to do has simply had a quiet day."""
        if self.ctx.spec.schedule:
            return RunEnded(m.UNCHANGED, "nothing to change this time: the recurring spec "
                            "left the repository as it was")
        return RunEnded(m.FAILED, "the run changed nothing: there is nothing to merge")

    def watch(self) -> tuple[str, str]:
        """The post-merge watch: the checks on the merged base; revert when they fail."""
        if self.landing is not None:
            return delivery.watch(self, self.landing)
        ws, state, spec = self._ws(), self.state, self.ctx.spec
        merged, previous = state.merged, state.previous
        assert merged is not None, "watch before merge"
        pushed_note = ""
        if state.push_failed:
            pushed_note = f" (push to {self._repo_settings().push} failed)"
        done = f"merged into {ws.base}{pushed_note}"
        if (not spec.checks or not previous or state.watched
                or not self.home.config.engine.post_merge_checks):
            return m.MERGED, done
        self.control.boundary()
        self.log.enter("post-merge")
        timeout = self.home.config.engine.check_timeout
        run = self.ctx.run

        def message(failures: list[str]) -> str:
            lines = "\n".join(f"- {f}" for f in failures)
            return (f"Revert andon run {run.id}: {spec.title}\n\nThe checks failed on "
                    f"{ws.base} after the merge ({merged[:10]}):\n{lines}\n\n"
                    f"Andon-Reverts: {run.id}\nAndon-Home: {self.home_id}\n"
                    f"Andon-Category: {run.category}")

        result = postmerge.watch(
            self.log, repo=ws.repo, base=ws.base, run_id=run.id or 0, merged=merged,
            previous=previous, worktrees=self.home.worktrees, checks=list(spec.checks),
            setup=self._repo_settings().setup, sandbox=self._sandbox, timeout=timeout,
            setup_timeout=self.home.config.engine.setup_timeout,
            revert_message=message, setup_network=self._repo_settings().network,
            home=self.home_id)
        if result.passed:
            self._mark(watched=True)
            self.log.event("post-merge", f"checks pass on {ws.base} after the merge")
            return m.MERGED, done
        failures = "; ".join(result.failures)
        detail = {"base": ws.base, "merge_commit": merged, "failures": result.failures,
                  "revert_commit": result.revert, "spec": spec.title}
        if result.revert is None:
            self.gatekeeper.post_merge(detail)
            raise RunEnded(m.FAILED, f"the checks failed on {ws.base} after the merge "
                           f"({failures}) and the automatic revert conflicts with later "
                           f"changes: a person must fix {ws.base}")
        self._mark(watched=True, reverted=result.revert)
        self.log.event("revert", f"reverted on {ws.base} as {result.revert[:10]}: {failures}",
                       commit=result.revert)
        self.gatekeeper.post_merge(detail)
        return m.REVERTED, (f"reverted: the checks failed on {ws.base} after the merge "
                            f"({failures})")

    # -- attempts --------------------------------------------------------------------

    def _next_attempt(self, attempt: int, failure: Failure) -> None:
        """Go back to implement with the failure as feedback, or end the run."""
        if failure.signature and failure.signature == self.state.last_failure:
            raise RunEnded(m.STUCK, f"the same failure twice in a row ({failure.summary}); "
                           "stopped instead of looping")
        if attempt >= self.policy.max_attempts:
            raise RunEnded(m.FAILED, f"{failure.summary} after {attempt} attempt"
                           f"{'s' if attempt > 1 else ''} (max_attempts "
                           f"{self.policy.max_attempts})")
        nxt = attempt + 1
        feedback = (f"Attempt {attempt} of {self.policy.max_attempts} is not done yet.\n\n"
                    f"{failure.feedback}")
        self._mark(attempt=nxt, feedback=feedback, last_failure=failure.signature)
        self.log.event("attempt", f"attempt {nxt} of {self.policy.max_attempts}: "
                       f"{failure.summary}", attempt=nxt)

    def _revision(self, decision: Decision, what: str) -> Failure:
        who = decision.by or "a person"
        return Failure(f"{who} reviewed the change and asked for a revision:\n\n"
                       f"{decision.comment}\n\nMake the change, run the checks, and finish.",
                       signature="", summary=f"{what} asked for a revision")

    def _refused(self, decision: Decision, what: str) -> None:
        """End the run for a decision that is neither approved nor revised."""
        if decision.verdict == "rejected":
            who = f" by {decision.by}" if decision.by else ""
            raise RunEnded(m.REJECTED, f"{what} rejected{who}"
                           + (f": {decision.comment}" if decision.comment else ""))

    def _continued(self, attempt: int, feedback: str) -> list[dict[str, Any]]:
        """The previous attempt's conversation plus the feedback (a fresh conversation
        with the feedback when that one is not at hand)."""
        messages = checkpoint.conversation(self.db, self.ctx.run.id or 0, attempt - 1)
        if messages and messages[-1].get("role") == "assistant":
            return [*messages, {"role": "user", "content": feedback}]
        return [{"role": "user", "content": f"{FIRST_MESSAGE}\n\n{feedback}"}]

    # -- helpers ---------------------------------------------------------------------

    def _policy(self) -> Policy:
        """The category's policy. A run takes the category's level when it starts (the
        level may have changed since it was queued) and keeps it when it resumes."""
        policy = load_policy(self.db, self.ctx.run.category)
        if not self.state.started and policy.level != self.ctx.run.level:
            self.ctx.run = self.log.update(level=int(policy.level))
        if policy.level != self.ctx.run.level:
            policy = policy.with_level(self.ctx.run.level)
        return policy

    def _require_sandbox(self) -> None:
        """No run starts without the sandbox, at any level (a level-2 person approves a
        command, not what the code it runs does), unless its category's policy allows
        an unsandboxed shell; such a run is marked, and the board shows it."""
        works, why = bwrap_available()
        if works:
            return
        if not self.policy.allow_unsandboxed:
            raise RunEnded(m.FAILED, f"commands need the sandbox and {why}; install it, "
                           f"or set allow_unsandboxed = true in the "
                           f"'{self.ctx.run.category}' policy")
        if not (self.ctx.run.data or {}).get("unsandboxed"):
            with self.db.write() as s:
                run = s.get(m.Run, self.ctx.run.id)
                assert run is not None
                run.data = {**(run.data or {}), "unsandboxed": True}
                s.add(run)
            self.ctx.run = self.log.run()
            self.log.event("wall", f"unsandboxed: {why}; the '{self.ctx.run.category}' "
                           "policy allows commands without the sandbox")

    def _repo(self) -> RepoSettings:
        spec = self.ctx.spec
        return workspace.repo_settings(spec.repo, self.home.config.repos.get(spec.repo),
                                       spec_base=spec.base, spec_path=spec.path,
                                       config_path=self.home.config_path)

    def _repo_settings(self) -> RepoSettings:
        if self.ctx.repo is None:
            self.ctx.repo = self._repo()
        return self.ctx.repo

    def _ws(self) -> Workspace:
        assert self.ctx.ws is not None, "prepare has not run"
        return self.ctx.ws

    def _hidden(self) -> list[Path]:
        return self.home.private()

    def _sandbox(self, root: Path) -> SandboxConfig:
        return SandboxConfig(root=root, network=self.policy.network,
                             allow_unsandboxed=self.policy.allow_unsandboxed,
                             hide=self._hidden())

    def _commit(self, what: str, *, quiet: bool = False) -> str | None:
        """Commit the worktree with the run's trailers; `quiet`: record a step only when
        there was something to commit."""
        ws, run = self._ws(), self.ctx.run
        marks = {"Andon-Run": str(run.id), "Andon-Home": self.home_id,
                 "Andon-Spec": self.ctx.spec.title, "Andon-Category": run.category,
                 "Andon-Level": str(run.level)}
        message = f"andon: {what} for run {run.id}"
        if quiet:
            commit = workspace.commit_all(ws, message, marks, on_refused=self._refused_links)
            if commit:
                with self.log.step("git", "commit") as step:
                    step.output = f"{commit} ({what})"
        else:
            with self.log.step("git", "commit") as step:
                commit = workspace.commit_all(ws, message, marks,
                                              on_refused=self._refused_links)
                step.output = f"{commit} ({what})" if commit else "nothing to commit"
        if commit:
            self.ctx.run = self.log.update(head_commit=commit)
        return commit

    def _refused_links(self, refused: list[links.Link]) -> None:
        self.log.event("wall", "not committed, and removed: symlinks out of the repository ("
                       + ", ".join(str(link) for link in refused[:20]) + ")",
                       links=[str(link) for link in refused])

    def _checks(self) -> list[CheckResult]:
        """The latest check results (from the store when resuming at review)."""
        if self.ctx.checks or not self.ctx.spec.checks:
            return self.ctx.checks
        with self.db.read() as s:
            steps = s.exec(select(m.Step).where(m.Step.run_id == self.ctx.run.id,
                                                m.Step.kind == "check",
                                                m.Step.stage == "validate")
                           .order_by(col(m.Step.id).desc())).all()
        latest: dict[str, CheckResult] = {}
        for step in steps:
            if step.name not in latest:
                latest[step.name] = CheckResult(step.name, step.exit_code, "",
                                                bool((step.data or {}).get("timed_out")))
        return [latest[c] for c in self.ctx.spec.checks if c in latest]

    def _spend(self) -> dict[str, float]:
        """The fraction of each budget the run used (for escalation rules)."""
        run, budget, spec_budget = self.log.run(), self.policy.budget, self.ctx.spec.budget
        limits = {k: min(v for v in (getattr(budget, k, None), spec_budget.get(k))
                         if v is not None) for k in ("usd", "turns", "minutes")}
        spend: dict[str, float] = {"turns": run.turns / limits["turns"]}
        if run.cost_usd is not None:
            spend["usd"] = run.cost_usd / limits["usd"]
        # working minutes, as the budget counts them: not gates, the cord, or the engine
        # being stopped (the wall clock since the start would count all of those)
        minutes = checkpoint.elapsed(self.db, run.id or 0) / 60
        spend["minutes"] = minutes / limits["minutes"]
        return spend

    def _client(self) -> ModelClient:
        """The run's model client, opened once per execution (a scripted model keeps its
        place in the script across the plan and every attempt)."""
        if self._model is None:
            # A resumed run's model goes on after the turns its conversation holds.
            client, name = open_model(self.ctx.spec, self.home, answered=self.log.run().turns)
            self._model = ModelClient(client, name, self.log, control=self.control,
                                      prices=self.home.config.price_overrides())
        return self._model

    def _close_model(self) -> None:
        if self._model is not None:
            client, self._model = self._model.client, None
            close = getattr(client, "close", None)
            if close is not None:
                close()

    def _retire_worktree(self, status: str) -> None:
        """Remove the run's worktree (and its merged branch) unless retention keeps it."""
        ws = self.ctx.ws
        if ws is None:
            return
        try:
            keep = workspace.retention(self.home.config.engine.keep_worktrees)
            if keep.mode == "hours":  # other runs' worktrees whose time is up
                workspace.sweep(self.db, keep)
            if keep.keep_now(status):
                return
            workspace.remove(ws, delete_branch=True)
            self._mark(worktree_removed_at=utcnow().isoformat())
            self.log.event("workspace", f"worktree {ws.path.name} removed "
                           f"(keep_worktrees: {keep.mode})")
        except Exception as exc:  # cleanup must never change how the run ended
            self.log.event("workspace", f"worktree not removed: {exc}")

    # -- progress, kept in run.data["pipeline"] ----------------------------------------

    @property
    def state(self) -> PipelineState:
        return self.progress.state

    def _mark(self, **values: Any) -> None:
        self.progress.mark(**values)


_VOLATILE = re.compile(r"\b\d+(\.\d+)?\s*(s|ms|sec|seconds)\b|0x[0-9a-fA-F]+|"
                       r"\d{4}-\d\d-\d\d[T ][\d:.]+|/tmp/\S+")


def _failure(checks: list[CheckResult], missed: list[scenarios.ScenarioResult]) -> Failure:
    parts: list[str] = []
    sig: list[object] = []
    summary: list[str] = []
    if checks:
        parts.append("These checks failed:")
        for check in checks:
            how = "timed out" if check.timed_out else f"exit {check.exit_code}"
            tail = check.output[-FEEDBACK_TAIL:]
            parts.append(f"\n$ {check.command}   ({how})\n{tail}")
            sig.append([check.command, check.exit_code, check.timed_out,
                        _VOLATILE.sub("", check.output[-FEEDBACK_TAIL:])])
        summary.append("checks failed: " + ", ".join(
            f"`{c.command}` ({'timed out' if c.timed_out else f'exit {c.exit_code}'})"
            for c in checks))
    if missed:
        parts.append("\nThese holdout scenarios are not satisfied (you cannot see them; "
                     "only their titles):")
        parts += [f"- {r.title}" for r in missed]
        sig.append(sorted(r.title for r in missed))
        summary.append("scenarios not satisfied: " + ", ".join(r.title for r in missed))
    parts.append("\nFind the cause, fix it, run the checks, and finish with a short summary.")
    digest = hashlib.sha256(json.dumps(sig, sort_keys=True).encode()).hexdigest()[:16]
    return Failure("\n".join(parts), digest, "; ".join(summary), bool(checks))
