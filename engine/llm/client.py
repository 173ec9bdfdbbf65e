"""One way to call a model: every request a run makes goes through a `ModelClient`.

The agent's turns, the plan and the scenario judge all ask through it, so each call is
retried the same way (engine.llm.retry: API weather waits, an unreachable service
holds the run and tries again), priced the same way (engine.llm.pricing) and leaves the same
records: a usage row, a flight-recorder exchange and the run's totals. The daily budget,
the board and `andon replay` therefore see every call.

    llm = ModelClient(client, model, log, prices=home.config.price_overrides())
    answer = llm.call(system=..., messages=[...], max_tokens=2048, purpose=PLAN)
    answer.text, answer.usage.cost

The agent loop uses the two halves separately: `ask(request)` (streamed, retried, held),
then `record(session, ...)` inside the transaction that also writes its checkpoint, so a
crash leaves the turn's records all or none.

A usage row's `purpose` says who asked (agent, plan, judge); agent turns are numbered by
the run's turn count, other calls carry the turn they came after and do not count as
turns. The exchange's envelope carries the same purpose, so replay serves agent replies
only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import anthropic
from sqlmodel import Session

from andon.engine.llm.pricing import PriceTable
from andon.engine.llm.recorder import Redactor, envelope
from andon.engine.llm.retry import (
    DEFAULT_MAX_WAIT,
    ModelUnavailable,
    StreamInterrupted,
    Wait,
    call_with_retries,
)
from andon.engine.llm.usage import TurnUsage, add_call, add_event
from andon.engine.run.control import RunControl
from andon.engine.run.log import RunLog
from andon.store import models as m

T = TypeVar("T")

AGENT, PLAN, JUDGE = "agent", "plan", "judge"
PURPOSES = (AGENT, PLAN, JUDGE)
TEXT_INTERVAL = 0.1  # seconds between "model.text" events while a reply streams
HOLD_SECONDS = 60.0  # wait before trying an unreachable model service again

Pause = Callable[[Callable[[], Any]], Any]


def _unpaused(fn: Callable[[], T]) -> T:
    return fn()


@dataclass(frozen=True)
class Answer:
    """A model reply with its price; `tail` is streamed text the run log has not had."""

    message: Any  # anthropic.types.Message
    usage: TurnUsage
    tail: str = ""
    streamed: bool = True

    @property
    def text(self) -> str:
        return "".join(b.text for b in self.message.content if b.type == "text")


class ModelClient:
    def __init__(
        self,
        client: anthropic.Anthropic,
        model: str,
        log: RunLog,
        *,
        prices: PriceTable | Mapping[str, Mapping[str, Any]] | None = None,
        control: RunControl | None = None,
        redactor: Redactor | None = None,
        retry_max_wait: float = DEFAULT_MAX_WAIT,
        hold_seconds: float = HOLD_SECONDS,
        text_interval: float = TEXT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        # Retries are ours alone (engine.llm.retry): each leaves an event in the run's log
        # and retry-after is read once; the SDK's own would wait unseen, then ours again.
        self._api = client.with_options(max_retries=0)
        self.model = model
        self.log = log
        self.prices = prices if isinstance(prices, PriceTable) else PriceTable(prices)
        self.control = control or RunControl(log.db, log.run_id)
        self.redact = redactor or Redactor(extra=[getattr(client, "api_key", None)])
        self.retry_max_wait = retry_max_wait
        self.hold_seconds = hold_seconds
        self.text_interval = text_interval
        self.clock = clock
        self._cost_warned = False
        self._head: tuple[Any, Any] = (None, None)  # the last recorded system and tools

    # -- asking ----------------------------------------------------------------------

    def ask(self, request: dict[str, Any], *, turn: int | None = None,
            pause: Pause = _unpaused, stream: bool = True) -> Answer:
        """The reply to one streamed request, through retries; while the service stays
        away the run is held and the same request tried again. `pause` wraps every wait
        (the agent does not count them as its working time)."""
        held = False
        while True:
            try:
                message, tail = call_with_retries(
                    (lambda: self._stream(request, turn)) if stream
                    else (lambda: (self._api.messages.create(**request), "")),
                    sleep=lambda seconds: pause(lambda: self.control.wait(seconds)),
                    on_wait=lambda wait: self._on_wait(wait, turn),
                    max_wait=self.retry_max_wait)
            except ModelUnavailable as exc:
                held = True
                delay = max(self.hold_seconds, exc.retry_after or 0.0)
                reason = (f"model service unreachable: {exc.message}; "
                          f"trying again in {delay:.0f}s")
                self.log.transition(m.HELD, reason, reason=reason, detail={"turn": turn})
                pause(partial(self.control.wait, delay))
                pause(self.control.boundary)
                continue
            if held and self.log.run().status == m.HELD:
                self.log.transition(m.RUNNING, "model service reachable again", reason=None,
                                    detail={"turn": turn})
            return Answer(message, self.usage(message.usage), tail, streamed=stream)

    def usage(self, usage: Any) -> TurnUsage:
        return TurnUsage(fresh=usage.input_tokens or 0, output=usage.output_tokens or 0,
                         cache_write=usage.cache_creation_input_tokens or 0,
                         cache_read=usage.cache_read_input_tokens or 0,
                         cost=self.prices.cost(self.model, usage))

    def _stream(self, request: dict[str, Any], turn: int | None) -> tuple[Any, str]:
        pending: list[str] = []
        last = self.clock()
        stopped = False
        with self._api.messages.stream(**request) as stream:
            for event in stream:
                stopped = stopped or event.type == "message_stop"
                if event.type != "text":
                    continue
                if turn is None:
                    continue
                pending.append(event.text)
                now = self.clock()
                if now - last >= self.text_interval:
                    self.log.event("model.text", "".join(pending), turn=turn)
                    pending.clear()
                    last = now
            if not stopped:  # the connection dropped mid-reply: not a finished turn
                raise StreamInterrupted("the reply stream ended before message_stop")
            # the rest of the text goes to the event log with the call's record
            return stream.get_final_message(), "".join(pending)

    def _on_wait(self, wait: Wait, turn: int | None) -> None:
        self.log.event("model.retry", f"{wait.reason}, retrying in {wait.delay:.0f}s",
                       attempt=wait.attempt, status=wait.status_code, turn=turn)

    # -- recording -------------------------------------------------------------------

    def record(self, s: Session, *, request: dict[str, Any], answer: Answer, turn: int,
               attempt: int, purpose: str = AGENT, messages_from: int = 0,
               context: dict[str, Any] | None = None) -> None:
        """The call's usage row, flight recording and run totals, inside the caller's
        write session; the first unpriced call also says the cost is now unknown.

        The agent records its conversation rather than the window of it a request sends
        (engine.agent.context): its `request["messages"]` are the conversation's from index
        `messages_from` on (what the previous recording did not have), recorded with
        the window's points (`context`), and the system prompt and tools only when they
        changed. So a long run's recordings grow with what each turn added, and only
        that is redacted; the window sent is `Window.view(conversation, context)`."""
        recorded = envelope(answer.message.model_dump(mode="json", warnings=False),
                            attempt=attempt, streamed=answer.streamed,
                            purpose=purpose)
        add_call(s, self.log.run_id, turn, self.model, answer.usage,
                 request=self.redact.json(self._delta(request, messages_from, context,
                                                      answer.streamed)),
                 response=self.redact.json(recorded), purpose=purpose)
        if answer.usage.cost is None and not self._cost_warned:
            self._cost_warned = True
            add_event(s, self.log.run_id, self.log.stage, "agent.cost_unknown",
                      f"no price for model {self.model!r}: the run's cost is unknown and "
                      "its dollar budget cannot be checked (set one in andon.toml "
                      f"[prices.{self.model}])")

    def _delta(self, request: dict[str, Any], messages_from: int,
               context: dict[str, Any] | None, streamed: bool) -> dict[str, Any]:
        head = (request.get("system"), request.get("tools"))
        same_head = messages_from > 0 and all(
            a is b for a, b in zip(head, self._head, strict=True))
        self._head = head
        recorded = {k: v for k, v in request.items()
                    if k != "messages" and not (same_head and k in ("system", "tools"))}
        recorded["stream"] = streamed
        if context:
            recorded["context"] = dict(context)
        if messages_from:
            recorded["messages_from"] = messages_from
        recorded["messages"] = request["messages"]
        return recorded

    def call(self, *, system: str, messages: list[dict[str, Any]], max_tokens: int,
             purpose: str, attempt: int = 0,
             output_config: Mapping[str, Any] | None = None) -> Answer:
        """One request without tools (the plan, the judge): asked, priced and recorded.
        `output_config`: e.g. a structured output's format (the judge's verdict)."""
        request: dict[str, Any] = {"model": self.model, "max_tokens": max_tokens,
                                   "system": system, "messages": messages}
        if output_config:
            request["output_config"] = dict(output_config)
        turn = self.log.run().turns
        # not streamed, and no turn: its text is not the agent's transcript
        answer = self.ask(request, stream=False)
        with self.log.db.write() as s:
            self.record(s, request=request, answer=answer, turn=turn, attempt=attempt,
                        purpose=purpose)
        return answer
