"""The implement stage's agent: a streamed Messages API tool-use loop over the run's worktree.

The model proposes tool calls; Andon executes them (the text editor and bash client tools,
both confined to the worktree) and feeds the results back, until the model ends its turn.

Use::

    agent = Agent(client=client, model=name, tools=[EditorTool(wt), BashTool(wt, sandbox)],
                  log=run_log, system=system_prompt(spec, wt), budget=RunBudget.tightest(...),
                  control=RunControl(db, run_id), gatekeeper=gatekeeper,
                  prices=home.config.price_overrides())
    result = agent.run([{"role": "user", "content": "Implement the spec."}], attempt=1)

`result.status` is one of:

* ``done``: the model ended its turn (a reply cut off by max_tokens never counts).
* ``refusal``: the model refused (stop_reason "refusal"); the reason says so.
* ``budget``: a budget ran out at a turn boundary; `result.breach` says which and by how
  much. To carry on (a person approved it): ``agent.extend_budget(result.breach)`` and
  call ``agent.run(...)`` again with the same attempt; it continues from the checkpoint.
* ``stuck``: the same tool call 3 times within the last 10 calls (the call is in the reason).
* ``error``: the API refused the request for good (400, 401...): the API's message.

Resuming: `run(messages, attempt=N)` first looks for a checkpoint of attempt N of this
run (engine.agent.checkpoint). When there is one, `messages` is ignored and the conversation
continues from it: tool calls whose results were already recorded are not run again, a
conversation that had ended returns its result at once. So a pipeline that re-executes
an interrupted run simply calls `run` again with the same attempt number (in the same
worktree). A new attempt number starts a new conversation from `messages` (pass
`result.messages` plus the check failures to continue the previous conversation).

Between turns the loop calls `control.boundary()` (cord, cancel, stop) and checks the
budget. Each mutating tool call goes to `gatekeeper.action(name, input, preview)` first;
a decision other than approved means the tool is not run and the model is told why.
API weather is retried (engine.llm.retry); when the service stays unreachable the
run is marked held and the same request is tried again later.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anthropic

from andon.engine.agent import checkpoint, turnlog
from andon.engine.agent.budget import Breach, RunBudget, Spend
from andon.engine.agent.checkpoint import ENDED, MODEL, TOOLS, AgentState
from andon.engine.agent.context import ContextPolicy, Window
from andon.engine.agent.loopguard import LoopGuard
from andon.engine.agent.preview import preview
from andon.engine.agent.tools.base import Tool, ToolOutcome
from andon.engine.agent.turnlog import Said
from andon.engine.gates.gatekeeper import Decision, Gatekeeper
from andon.engine.llm.client import HOLD_SECONDS, TEXT_INTERVAL, Answer, ModelClient
from andon.engine.llm.recorder import Redactor
from andon.engine.llm.retry import DEFAULT_MAX_WAIT, ModelCallFailed
from andon.engine.run.control import RunControl
from andon.engine.run.log import RunLog, StepHandle
from andon.store import models as m
from andon.store.clock import utcnow

T = TypeVar("T")

DONE, REFUSAL, BUDGET, STUCK, ERROR = "done", "refusal", "budget", "stuck", "error"
EPHEMERAL = {"type": "ephemeral"}

TRUNCATED_NOTE = ("Your reply was cut off at the output limit (max_tokens) before you "
                  "finished. Continue exactly where you stopped.")
CUT_CALL = ("This tool call was cut off at the output limit (max_tokens) and was not run. "
            "Send it again (split a large file into smaller edits).")
REFUSED_PREFIX = "Not run: a person"  # the replay recognises refused calls by it


@dataclass
class AgentResult:
    status: str  # done, refusal, budget, stuck, error
    reason: str = ""
    turns: int = 0  # model turns made by this call
    messages: list[dict[str, Any]] = field(default_factory=list)
    breach: Breach | None = None


@dataclass
class TurnTiming:
    """Seconds of one turn: all of it, inside the model call, inside tools, paused."""

    total: float
    model: float
    tools: float
    paused: float

    @property
    def engine(self) -> float:
        return self.total - self.model - self.tools - self.paused


class Agent:
    def __init__(
        self,
        *,
        client: anthropic.Anthropic,
        model: str,
        tools: list[Tool],
        log: RunLog,
        system: str,
        budget: RunBudget | None = None,
        control: RunControl | None = None,
        gatekeeper: Gatekeeper | None = None,
        prices: dict[str, Any] | None = None,
        max_tokens: int = 8192,
        hold_seconds: float = HOLD_SECONDS,
        retry_max_wait: float = DEFAULT_MAX_WAIT,
        text_interval: float = TEXT_INTERVAL,
        redactor: Redactor | None = None,
        clock: Callable[[], float] = time.monotonic,
        llm: ModelClient | None = None,
        context: Any = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.tools = {tool.name: tool for tool in tools}
        self.log = log
        self.system = system
        self.budget = budget or RunBudget()
        self.control = control or RunControl(log.db, log.run_id)
        self.gatekeeper = gatekeeper or Gatekeeper()
        self.max_tokens = max_tokens
        # thinking, output_config (engine.llm.asking): sent with every turn, unchanged
        self.options = {k: v for k, v in (options or {}).items() if k != "max_tokens"}
        if options and "max_tokens" in options:
            self.max_tokens = int(options["max_tokens"])
        self.clock = clock
        # every model call goes through the one client (retries, price, records)
        self.llm = llm or ModelClient(
            client, model, log, prices=prices, control=self.control, redactor=redactor,
            retry_max_wait=retry_max_wait, hold_seconds=hold_seconds,
            text_interval=text_interval, clock=clock)
        self.timings: list[TurnTiming] = []
        self.window = Window(ContextPolicy.of(context))  # what of the conversation is sent
        self._prev_mark: int | None = None
        # built once: the same objects every turn, so the recorder sees they are unchanged
        definitions = [tool.definition() for tool in self.tools.values()]
        if definitions:
            definitions[-1] = {**definitions[-1], "cache_control": EPHEMERAL}
        self._tool_defs = definitions
        self._system = [{"type": "text", "text": self.system, "cache_control": EPHEMERAL}]
        self._seen: tuple[int, Any] | None = None  # the recorded conversation: length, last

    # -- the loop --------------------------------------------------------------------

    def extend_budget(self, breach: Breach) -> RunBudget:
        """Allow one more allotment of the breached budget (after a person approved)."""
        self.budget = self.budget.extended(breach)
        return self.budget

    def run(self, messages: list[dict[str, Any]], *, attempt: int = 0) -> AgentResult:
        """Talk with the model until it is done (or a budget, a loop or the API stops it);
        resumes from this attempt's checkpoint when there is one (see the module doc)."""
        state = checkpoint.latest(self.log.db, self.log.run_id, attempt)
        # a fresh attempt's first row holds its whole conversation; later rows, their turn's
        self._row_saved = state is not None
        if state is None:
            state = AgentState(attempt=attempt, turn=self.log.run().turns,
                               messages=[dict(msg) for msg in messages],
                               elapsed=checkpoint.elapsed(self.log.db, self.log.run_id))
        elif state.phase == ENDED:
            return AgentResult(state.status or DONE, state.reason, 0, state.messages)
        else:
            self.log.event("agent.resume", f"resuming attempt {attempt} after turn "
                           f"{state.turn} ({state.phase})", turn=state.turn)
        self._state = state
        self._seen = None  # the first request of each run() is recorded whole
        self._guard = LoopGuard(state.calls)
        self._started = self.clock()
        self._paused = 0.0
        self._base_elapsed = state.elapsed
        run = self.log.run()
        self._spend = _spend_of(run)
        self._turns = 0
        self._turn_start: float | None = None
        self._turn_model = self._turn_tools = self._turn_paused = 0.0
        try:
            while True:
                if state.phase == TOOLS:
                    result = self._run_tools(state)
                    if result is not None:
                        return result
                    continue
                self._begin_turn()
                self._paused_call(self.control.boundary)
                breach = self.budget.check(self._spend_now())
                if breach is not None:
                    self._save(state, [("agent.budget", breach.reason, {"budget": breach.kind})])
                    return self._result(BUDGET, breach.reason, breach=breach)
                try:
                    result = self._turn(state)
                except ModelCallFailed as exc:
                    self.log.event("agent.error", exc.message, status=exc.status_code)
                    return self._result(ERROR, exc.message)
                if result is not None:
                    return result
        finally:
            self._end_turn()

    def _turn(self, state: AgentState) -> AgentResult | None:
        """One model request and what its reply asks for; a result when the loop ends."""
        turn = state.turn + 1
        moved = self.window.advance(state.messages, state.context)
        if moved:  # a new prefix: the previous turn's breakpoint is gone
            self._prev_mark = None
        view = self.window.view(state.messages, state.context)
        request = self._request(view)
        same = self._recorded(state.messages)
        added = state.messages[same:]  # what the recording does not have yet
        started = utcnow()
        t0 = self.clock()
        paused0 = self._paused
        try:
            answer = self.llm.ask(request, turn=turn, pause=self._paused_call)
        except BaseException as exc:
            output = exc.message if isinstance(exc, ModelCallFailed) else (
                f"{type(exc).__name__}: {exc}")
            with self.log.db.write() as s:
                turnlog.add_step(s, self._step_values("turn", f"turn {turn}", started,
                                                      status="error", output=output))
            raise
        self._turn_model += self.clock() - t0 - (self._paused - paused0)
        reply = answer.message
        text = answer.text
        events: list[Said] = []
        if moved:
            events.append(("agent.context", f"sending the task and the latest "
                           f"{(len(view) - 1) // 2} of {len(state.messages) // 2} turns "
                           "(older tool output cleared)", {"turn": turn, **state.context}))
        if answer.tail:
            events.append(("model.text", answer.tail, {"turn": turn}))
        self._turns += 1
        content = [_block(b) for b in reply.content]
        content = [b for b in content if not (b.get("type") == "text" and not b.get("text"))]
        stop = reply.stop_reason
        state.turn = turn
        state.stop_reason = stop
        if state.messages and state.messages[-1].get("role") == "assistant":
            # pause_turn: the reply continues the same assistant turn.
            if self._row_saved:
                state.begin_row(len(state.messages) - 1)
            previous = state.messages[-1]
            state.messages[-1] = {**previous, "content": _content(previous) + content}
        else:
            if self._row_saved:
                state.begin_row()
            state.messages.append({"role": "assistant",
                                   "content": content or [{"type": "text", "text": "(empty)"}]})
        calls = [b for b in content if b.get("type") == "tool_use"]
        result: AgentResult | None = None
        if stop == "refusal":
            reason = "the model refused to continue" + (f": {text.strip()[:500]}"
                                                         if text.strip() else "")
            result = self._end(state, REFUSAL, reason)
        elif calls:
            state.phase = TOOLS
            state.results = {}
        elif stop == "max_tokens":
            state.messages.append({"role": "user",
                                   "content": [{"type": "text", "text": TRUNCATED_NOTE}]})
            events.append(("model.truncated", "the reply hit max_tokens; asking to continue",
                           {"turn": turn}))
        elif stop == "pause_turn":
            events.append(("model.paused", "the API paused the turn; continuing",
                           {"turn": turn}))
        else:  # end_turn, stop_sequence
            result = self._end(state, DONE, text.strip()[:2000])
        step = self._step_values("turn", f"turn {turn}", started, output=text, data={
            "stop_reason": stop, "usage": reply.usage.model_dump(exclude_none=True)})
        self._record(state, {**request, "messages": added}, answer, turn, step, events, same)
        return result

    def _end(self, state: AgentState, status: str, reason: str) -> AgentResult:
        state.phase, state.status, state.reason = ENDED, status, reason
        return self._result(status, reason)

    def _result(self, status: str, reason: str, breach: Breach | None = None) -> AgentResult:
        return AgentResult(status, reason, self._turns, self._state.messages, breach)

    # -- the model request -----------------------------------------------------------

    def _request(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """The request body with cache breakpoints: the tools, the system prompt, the
        latest message, and the message that was latest on the previous turn (its prefix
        is in the cache; marking it keeps the read even after a turn with many blocks)."""
        sent = list(messages)
        last = len(sent) - 1
        marks = {last}
        if self._prev_mark is not None and self._prev_mark < last:
            marks.add(self._prev_mark)
        for i in marks:
            sent[i] = _marked(sent[i])
        self._prev_mark = last
        return {"model": self.model, "max_tokens": self.max_tokens, **self.options,
                "system": self._system, "tools": self._tool_defs, "messages": sent}

    def _recorded(self, messages: list[dict[str, Any]]) -> int:
        """How many leading messages of the conversation the flight recorder already
        has (it keeps the rest): all it had, but the last when a pause_turn reply
        replaced it; none at the start of a run() call."""
        seen, self._seen = self._seen, (len(messages), messages[-1] if messages else None)
        if seen is None:
            return 0
        count, last = seen
        if count and count <= len(messages) and messages[count - 1] is last:
            return count
        return max(0, count - 1)

    # -- tools -----------------------------------------------------------------------

    def _run_tools(self, state: AgentState) -> AgentResult | None:
        """Run the last reply's tool calls not yet done, recording each result as it
        completes; then the results become the next user message."""
        content = _content(state.messages[-1])
        calls = [b for b in content if b.get("type") == "tool_use"]
        cut = state.stop_reason == "max_tokens" and bool(content) and content[-1] is calls[-1]
        pending = [b for b in calls if b["id"] not in state.results]
        if not pending:  # every result was recorded before an interruption
            self._answer(state, calls)
            self._save(state)
        for block in pending:
            said: list[Said] = []
            row: StepHandle | None = None
            if cut and block is calls[-1]:
                outcome = ToolOutcome(CUT_CALL, is_error=True)
            else:
                stuck = self._guard.see(block.get("name", ""), block.get("input"))
                if stuck is not None:
                    result = self._end(state, STUCK, stuck)
                    self._save(state, [("agent.stuck", stuck, {})])
                    return result
                outcome, row = self._call(block)
                said.append(("tool", f"{block.get('name')} {_summary(block.get('input'))}",
                             {"error": outcome.is_error}))
            text = outcome.text if outcome.text.strip() else "(no output)"
            state.results[block["id"]] = {"type": "tool_result", "tool_use_id": block["id"],
                                          "content": text, "is_error": outcome.is_error}
            state.calls = list(self._guard.history)
            if block is pending[-1]:
                self._answer(state, calls)
            self._save(state, said, row)  # the result is safe before the next call starts
        return None

    def _answer(self, state: AgentState, calls: list[dict[str, Any]]) -> None:
        """All results are in: they become the user message, and the model is next."""
        reply: list[dict[str, Any]] = [state.results[b["id"]] for b in calls]
        if state.stop_reason == "max_tokens":
            reply.append({"type": "text", "text": TRUNCATED_NOTE})
        state.messages.append({"role": "user", "content": reply})
        state.results = {}
        state.phase = MODEL

    def _call(self, block: dict[str, Any]) -> tuple[ToolOutcome, StepHandle]:
        """Run one tool call; returns the outcome and its step (opened in the store now,
        finished by the caller together with the checkpoint)."""
        name = block.get("name", "")
        tool_input = block.get("input")
        with self.log.db.write() as s:
            step = StepHandle(id=turnlog.add_step(s, self._step_values(
                "tool", name, utcnow(), status="running", input=tool_input)))
        try:
            outcome = self._outcome(self.tools.get(name), name, tool_input, step)
        except BaseException as exc:  # a crash or a stop inside a gate: say so, then go
            with self.log.db.write() as s:
                turnlog.finish_step(s, step.id, status="error", exit_code=None,
                                    output=f"{type(exc).__name__}: {exc}")
            raise
        if step.status == "ok" and outcome.is_error:
            # A call the walls refused is not an ordinary failure; the record says which.
            step.status = "refused" if outcome.meta.get("refused") else "failed"
        step.output = outcome.full or outcome.text
        step.exit_code = outcome.exit_code
        return outcome, step

    def _outcome(self, tool: Tool | None, name: str, tool_input: Any,
                 step: StepHandle) -> ToolOutcome:
        if tool is None:
            known = ", ".join(sorted(self.tools))
            return ToolOutcome(f"Error: unknown tool {name!r}; the tools are: {known}",
                               is_error=True)
        if not isinstance(tool_input, dict):
            return ToolOutcome("Error: the tool input must be a JSON object", is_error=True)
        if tool.is_mutating(tool_input):
            shown = preview(tool, tool_input)
            decision: Decision = self._paused_call(
                lambda: self.gatekeeper.action(name, tool_input, shown))
            if not decision.approved:
                step.status = "refused"
                who = decision.by or "the policy"
                comment = decision.comment.strip() or "no comment"
                return ToolOutcome(f"{REFUSED_PREFIX} ({who}) did not approve this call "
                                   f"({decision.verdict}): {comment}", is_error=True)
        t0 = self.clock()
        try:
            return tool.run(tool_input)
        except Exception as exc:  # a tool must never take the loop down
            return ToolOutcome(f"Error: the tool failed: {type(exc).__name__}: {exc}",
                               is_error=True)
        finally:
            self._turn_tools += self.clock() - t0

    # -- bookkeeping -----------------------------------------------------------------

    def _record(self, state: AgentState, request: dict[str, Any], answer: Answer, turn: int,
                step: dict[str, Any], events: Sequence[Said], same: int) -> None:
        """The turn's step, usage, cost, run totals, flight recording, events and the
        checkpoint: one transaction, so a crash leaves all of them or none. `request`
        carries the conversation's messages from index `same` on."""
        usage = answer.usage
        state.elapsed = self._elapsed()
        run_id = self.log.run_id
        with self.log.db.write() as s:
            turnlog.add_step(s, step)
            turnlog.add_events(s, run_id, self.log.stage, events)
            self.llm.record(s, request=request, answer=answer, turn=turn,
                            attempt=state.attempt, messages_from=same, context=state.context)
            checkpoint.save(s, run_id, state)
        self._row_saved = True
        spent = self._spend
        self._spend = Spend(turns=spent.turns + 1, tokens=spent.tokens + usage.tokens,
                            usd=None if spent.usd is None or usage.cost is None
                            else spent.usd + usage.cost)

    def _save(self, state: AgentState, events: Sequence[Said] = (),
              step: StepHandle | None = None) -> None:
        """The checkpoint, with the events and the finished step that go with it, in one
        transaction."""
        state.elapsed = self._elapsed()
        with self.log.db.write() as s:
            checkpoint.save(s, self.log.run_id, state)
            self._row_saved = True
            turnlog.add_events(s, self.log.run_id, self.log.stage, events)
            if step is not None:
                turnlog.finish_step(s, step.id, status=step.status, output=step.output,
                                    exit_code=step.exit_code)

    def _step_values(self, kind: str, name: str, started: Any, **fields: Any
                     ) -> dict[str, Any]:
        return turnlog.step_values(self.log.run_id, self.log.stage, kind, name, started,
                                   **fields)

    def _elapsed(self) -> float:
        return self._base_elapsed + (self.clock() - self._started - self._paused)

    def _spend_now(self) -> Spend:
        s = self._spend
        return Spend(turns=s.turns, tokens=s.tokens, usd=s.usd, minutes=self._elapsed() / 60)

    def _paused_call(self, fn: Callable[[], T]) -> T:
        """Call `fn`, not counting its time as the agent's (gates, cord, outages)."""
        t0 = self.clock()
        try:
            return fn()
        finally:
            spent = self.clock() - t0
            self._paused += spent
            self._turn_paused += spent

    def _begin_turn(self) -> None:
        self._end_turn()
        self._turn_start = self.clock()

    def _end_turn(self) -> None:
        if self._turn_start is not None:
            self.timings.append(TurnTiming(self.clock() - self._turn_start, self._turn_model,
                                           self._turn_tools, self._turn_paused))
        self._turn_start = None
        self._turn_model = self._turn_tools = self._turn_paused = 0.0


def _spend_of(run: m.Run) -> Spend:
    tokens = run.tokens_in + run.tokens_out + run.cache_read + run.cache_write
    return Spend(turns=run.turns, tokens=tokens, usd=run.cost_usd)


def _block(block: Any) -> dict[str, Any]:
    """A reply's content block as it goes back into the conversation."""
    data = block.model_dump(mode="json", exclude_none=True, warnings=False)
    data.pop("parsed_output", None)
    return data


def _content(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content or [])


def _marked(message: dict[str, Any]) -> dict[str, Any]:
    """A copy of `message` whose last content block carries a cache breakpoint."""
    content = _content(message)
    if not content:
        return message
    content[-1] = {**content[-1], "cache_control": EPHEMERAL}
    return {**message, "content": content}


def _summary(tool_input: Any) -> str:
    if isinstance(tool_input, dict) and isinstance(tool_input.get("command"), str):
        parts = [tool_input["command"]]
        if "path" in tool_input:
            parts.append(str(tool_input["path"]))
        return " ".join(parts)[:200]
    return str(tool_input)[:200]
