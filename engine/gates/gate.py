"""Gates: where a run waits for a person, as the category's policy says.

A gate is a row (`store.models.Gate`): its kind (action, plan, review, escalation, budget,
conflict, post-merge), a title saying what is asked, and a detail holding what a person
needs to decide (the exact command or the file diff of an action; the plan; the full
diff, checks and satisfaction of a review; the rules that tripped for an escalation).

Opening a gate marks the run "waiting" and says so (event ``gate.opened``). The run then
polls the store cheaply (`Database.data_version`), so a decision written by any process
(`decide_gate`: the CLI, the TUI, another machine's shell) wakes it within a second;
meanwhile a cancel voids the gate and an engine stop leaves it open for the resumed run.

Decisions (`decide_gate`): approve; reject (a comment is required); revise (review and
escalation gates: the change goes back to implement with the comment as feedback; also
plan gates: the plan is rewritten, and conflict gates: the agent resolves the conflict).
Only the category's approvers may decide (anyone when the list is empty). Every
decision is kept on the gate row (who, when, comment) and as a ``gate.decided`` event.

Timeouts (policy ``gate_timeout`` minutes, ``timeout_decision``): "reject" closes the gate
as ``timed_out`` and the run takes it as a rejection; "hold" leaves the gate open and the
run waiting, marked timed out (``detail["timeout"]["expired_at"]`` and a
``gate.timed_out`` event) so the inbox shows it. A gate never approves itself.
`expire_gates` is the daemon's housekeeping pass; a waiting run also checks its own gate.

`PolicyGatekeeper` is the `engine.gates.gatekeeper.Gatekeeper` the pipeline uses: it asks the
policy (`policies.matrix.needs_gate`, `policies.rules.check_escalations`) at each point
and opens gates only where a person is needed.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from andon.engine.errors import NotFound, UserError
from andon.engine.gates.gatekeeper import Decision, Gatekeeper, ReviewDetail
from andon.engine.gates.shadow import count_conflict, record_shadow, shadow_in
from andon.engine.run.control import Cancelled, Parked, RunControl, Stopping
from andon.engine.run.status import transition, void_open_gates
from andon.engine.textcap import cap
from andon.policies.level import Level
from andon.policies.matrix import Action, needs_gate
from andon.policies.policy import Policy
from andon.policies.rules import SpendFractions, check_escalations, diff_summary_from_numstat
from andon.policies.stored import (
    ANDON,
    current_host,
    current_user,
    policy_from_row,
    trip_breaker,
)
from andon.store import models as m
from andon.store.clock import as_utc, utcnow
from andon.store.db import Database

KINDS = ("action", "plan", "review", "escalation", "budget", "post-merge", "conflict")
#: Gates a person may answer with "revise" and a comment: a review or an escalation goes
#: back to implement with the comment as feedback, a plan is rewritten, a merge conflict
#: goes back to the agent to resolve.
REVISABLE = frozenset({"review", "escalation", "plan", "conflict"})
#: Gates that tell a person something; the run does not wait on them.
NOTICES = m.NOTICE_KINDS

POLL_SECONDS = 0.05  # how often a waiting run looks at PRAGMA data_version
RECHECK_SECONDS = 2.0  # read the gate anyway this often (its own timeout is clock-based)
HEARTBEAT_SECONDS = 30.0  # a waiting run is alive: say so this often

#: Set in a decided gate's detail once its run has taken the decision.
TAKEN = "taken_at"

DIFF_LIMIT = 1_000_000  # characters of diff kept in a gate (head and tail)

_VERDICTS = {
    "approve": m.APPROVED, "approved": m.APPROVED,
    "reject": m.GATE_REJECTED, "rejected": m.GATE_REJECTED,
    "revise": m.REVISED, "revised": m.REVISED,
}

_EDIT_TOOL = "str_replace_based_edit_tool"
_SHELL_TOOL = "bash"


# -- reading ----------------------------------------------------------------------------


def get_gate(db: Database, gate_id: int) -> m.Gate:
    with db.read() as s:
        gate = s.get(m.Gate, gate_id)
        if gate is None:
            raise NotFound(f"no gate {gate_id}")
        return gate


def list_gates(db: Database, *, pending_only: bool = True, run_id: int | None = None,
               limit: int | None = None) -> list[m.Gate]:
    """Open gates oldest first (the inbox), or every gate newest first."""
    query = select(m.Gate)
    if pending_only:
        query = query.where(m.Gate.status == m.PENDING).order_by(col(m.Gate.id))
    else:
        query = query.order_by(col(m.Gate.id).desc())
    if run_id is not None:
        query = query.where(m.Gate.run_id == run_id)
    if limit:
        query = query.limit(limit)
    with db.read() as s:
        return list(s.exec(query).all())


def timed_out(gate: m.Gate) -> bool:
    """Did this gate pass its timeout (held open for a person, or closed as rejected)?"""
    timeout = (gate.detail or {}).get("timeout") or {}
    return gate.status == m.TIMED_OUT or bool(timeout.get("expired_at"))


def gate_json(gate: m.Gate) -> dict[str, Any]:
    data = gate.model_dump(mode="json")
    data["timed_out"] = timed_out(gate)
    return data


# -- opening and waiting ----------------------------------------------------------------


def open_gate(
    db: Database, run_id: int, kind: str, title: str, detail: dict[str, Any] | None = None,
    *, stage: str | None = None, timeout_minutes: int | None = None,
    timeout_decision: str = "hold", also: Callable[[Session, m.Gate], None] | None = None,
) -> m.Gate:
    """Open a gate on a run (one transaction: the gate, the run "waiting", the event).

    A notice (kind ``post-merge``) is stored the same way but leaves the run alone.
    A run resumed after its engine stopped meets the gate it had opened (same run, kind
    and title) instead of asking twice: still pending, it waits on it again; decided
    meanwhile and not yet taken by the run, the decision stands (`wait_for_gate` then
    returns it at once). ``also`` writes more in the same transaction (a review's
    shadow decision), so nobody sees the gate without it.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown gate kind {kind!r} (one of {', '.join(KINDS)})")
    body = dict(detail or {})
    now = utcnow()
    if timeout_minutes:
        decision = "reject" if timeout_decision == "reject" else "hold"  # never approve
        body["timeout"] = {"minutes": timeout_minutes, "decision": decision}
    with db.write() as s:
        run = s.get(m.Run, run_id)
        if run is None:
            raise NotFound(f"no run {run_id}")
        gate = s.exec(
            select(m.Gate).where(m.Gate.run_id == run_id, m.Gate.kind == kind,
                                 m.Gate.title == title, m.Gate.status != m.VOIDED)
            .order_by(col(m.Gate.id).desc()).limit(1)
        ).first()
        if gate is not None and gate.status != m.PENDING:
            if kind not in NOTICES and not (gate.detail or {}).get(TAKEN):
                return gate  # decided while the run was away: the decision stands
            gate = None
        if gate is None:
            gate = m.Gate(run_id=run_id, kind=kind, stage=stage or run.stage, title=title,
                          detail=body, created_at=now,
                          timeout_at=now + timedelta(minutes=timeout_minutes)
                          if timeout_minutes else None)
            s.add(gate)
            s.flush()
            verb = "opened"
        else:
            verb = "reopened"
        message = f"gate {gate.id} {verb} ({kind}): {title}"
        data = {"gate": gate.id, "kind": kind}
        if kind in NOTICES:
            s.add(m.Event(run_id=run_id, kind="gate.opened", stage=gate.stage,
                          message=message, data=data))
        else:  # the run waits, and the event says which gate it waits at
            transition(s, run, m.WAITING, message, event="gate.opened", detail=data,
                       heartbeat_at=now)
        if also is not None:
            also(s, gate)
        return gate


def wait_for_gate(db: Database, gate_id: int, *, control: RunControl | None = None,
                  poll: float = POLL_SECONDS,
                  elsewhere: Elsewhere | None = None) -> Decision:
    """Block until a gate is decided (by a person, or by its timeout) and return the
    decision. Raises `Cancelled` (the gate is voided) when the run is cancelled, and
    `Stopping` (the gate stays open) when the engine is stopping."""
    seen: int | None = None
    looked = heartbeat = time.monotonic()
    asked = looked - (elsewhere.every if elsewhere else 0.0)
    while True:
        if control is not None and control.stop.is_set():
            raise Stopping("the engine is stopping")
        version = db.data_version()
        now_mono = time.monotonic()
        if version != seen or now_mono - looked >= RECHECK_SECONDS:
            seen, looked = version, now_mono
            with db.read() as s:
                gate = s.get(m.Gate, gate_id)
                if gate is None:
                    raise NotFound(f"no gate {gate_id}")
                run = s.get(m.Run, gate.run_id)
            if gate.status != m.PENDING:
                _take(db, gate_id)
                return _decision(gate)
            if run is not None and run.cancel_requested:
                void_gates(db, gate.run_id, "the run was cancelled")
                raise Cancelled("cancelled by a person")
            due = as_utc(gate.timeout_at)
            if due is not None and utcnow() >= due:
                expired = _expire(db, gate_id)
                if expired is not None and expired.status != m.PENDING:
                    _take(db, gate_id)
                    return _decision(expired)
        if elsewhere is not None and now_mono - asked >= elsewhere.every:
            asked = now_mono  # e.g. an approving review on the forge decides the gate
            found = elsewhere.look()
            if found is not None:
                # (decided here meanwhile: UserError, and the next read returns that)
                with contextlib.suppress(UserError):
                    decide_gate(db, gate_id, "approve" if found.approved else "reject",
                                found.comment, user=found.by, trusted=True)
                seen = None
                continue
        if control is not None and control.park:  # nobody waits: it resumes later
            raise Parked(f"waiting for a person at gate {gate_id}")
        if now_mono - heartbeat >= HEARTBEAT_SECONDS:
            heartbeat = now_mono
            _touch(db, gate_id)
        if control is not None:
            if control.stop.wait(poll):
                raise Stopping("the engine is stopping")
        else:
            time.sleep(poll)


def _decision(gate: m.Gate) -> Decision:
    comment = gate.comment or ""
    if gate.status == m.APPROVED:
        return Decision("approved", comment, gate.decided_by)
    if gate.status == m.REVISED:
        return Decision("revised", comment, gate.decided_by)
    if gate.status == m.GATE_REJECTED:
        return Decision("rejected", comment, gate.decided_by)
    # timed out (rejected by policy) or voided: nobody approved
    return Decision("rejected", comment or f"gate {gate.status}", None)


def _take(db: Database, gate_id: int) -> None:
    """The run has its answer: a later gate with the same question is a new one."""
    with db.write() as s:
        gate = s.get(m.Gate, gate_id)
        if gate is not None and not (gate.detail or {}).get(TAKEN):
            gate.detail = {**(gate.detail or {}), TAKEN: utcnow().isoformat()}
            s.add(gate)


def _touch(db: Database, gate_id: int) -> None:
    with db.write() as s:
        gate = s.get(m.Gate, gate_id)
        run = s.get(m.Run, gate.run_id) if gate else None
        if run is not None:
            run.heartbeat_at = utcnow()
            s.add(run)


# -- deciding ---------------------------------------------------------------------------


def _policy_of(s: Session, category: str) -> Policy:
    row = s.get(m.PolicyRow, category)
    return policy_from_row(row) if row is not None else Policy.default(category)


def check_approver(policy: Policy, user: str) -> None:
    """Refuse a user who is not on the category's approvers list (empty: anyone)."""
    if policy.approvers and user not in policy.approvers:
        allowed = ", ".join(policy.approvers)
        raise UserError(
            f"{user} may not decide gates of category '{policy.category}': "
            f"its approvers are {allowed}"
        )


def decide_gate(db: Database, gate_id: int, verdict: str, comment: str | None = None,
                user: str | None = None, *, trusted: bool = False) -> m.Gate:
    """A person's decision on an open gate: "approve", "reject" (comment required) or
    "revise" (`REVISABLE` gates only; comment required). Raises UserError
    with a message for the person when the decision is not allowed."""
    status = _VERDICTS.get((verdict or "").strip().lower())
    if status is None:
        raise UserError(f"unknown decision {verdict!r}: approve, reject or revise")
    text = (comment or "").strip()
    who = user or current_user()
    host = current_host()
    now = utcnow()
    with db.write() as s:
        gate = s.get(m.Gate, gate_id)
        if gate is None:
            raise NotFound(f"no gate {gate_id}")
        if gate.status != m.PENDING:
            raise UserError(_closed_message(gate))
        run = s.get(m.Run, gate.run_id)
        assert run is not None
        if not trusted:  # (trusted: the forge's reviewers, listed in andon.toml)
            check_approver(_policy_of(s, run.category), who)
        if status == m.GATE_REJECTED and not text:
            raise UserError(f"rejecting gate {gate_id} needs a comment saying why "
                            f"(--comment \"...\"): the agent or the run is told it")
        if status == m.REVISED:
            if gate.kind not in REVISABLE:
                raise UserError(f"gate {gate_id} is {_a(gate.kind)} gate: only review, "
                                f"plan and conflict gates go back for revision (approve "
                                f"or reject it)")
            if not text:
                raise UserError(f"revising gate {gate_id} needs a comment: what should "
                                f"change (--comment \"...\")")
        gate.status = status
        gate.decided_at = now
        gate.decided_by = who
        gate.comment = text or None
        s.add(gate)
        message = f"gate {gate_id} {status} by {who}"
        if text:
            message += f": {text}"
        data: dict[str, Any] = {"gate": gate_id, "kind": gate.kind, "verdict": status,
                                "by": who, "host": host, "uid": os.getuid(),
                                "comment": text or None}
        if gate.kind not in NOTICES:  # reading a notice is not a decision on the run
            run.human_touched = True
            s.add(run)
        if (gate.kind not in NOTICES and run.status == m.WAITING
                and not _other_open(s, gate)):  # the decision and the run going on commit together
            transition(s, run, m.RUNNING, message, event="gate.decided", detail=data)
        else:
            s.add(m.Event(run_id=run.id, kind="gate.decided", stage=gate.stage,
                          message=message, data=data))
        s.flush()
        return gate


def _a(kind: str) -> str:
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


def _other_open(s: Session, gate: m.Gate) -> bool:
    others = s.exec(select(m.Gate).where(m.Gate.run_id == gate.run_id,
                                         m.Gate.status == m.PENDING,
                                         m.Gate.id != gate.id)).all()
    return any(other.kind not in NOTICES for other in others)


def _closed_message(gate: m.Gate) -> str:
    when = as_utc(gate.decided_at)
    stamp = f" at {when:%Y-%m-%d %H:%M:%S} UTC" if when else ""
    if gate.status == m.VOIDED:
        return f"gate {gate.id} is closed: voided ({gate.comment or 'the run ended'}){stamp}"
    if gate.status == m.TIMED_OUT:
        return f"gate {gate.id} is closed: it timed out and was rejected by policy{stamp}"
    return f"gate {gate.id} was already {gate.status} by {gate.decided_by or '?'}{stamp}"


def void_gates(db: Database, run_id: int, reason: str) -> list[int]:
    """Close a run's open gates while it ends (a cancel at a gate); notices stay."""
    with db.write() as s:
        return void_open_gates(s, run_id, reason)


# -- timeouts ---------------------------------------------------------------------------


def expire_gates(db: Database, now: datetime | None = None) -> list[m.Gate]:
    """The daemon's housekeeping: apply each overdue gate's timeout decision. Returns
    the gates that changed (rejected by policy, or newly marked as held)."""
    moment = now or utcnow()
    with db.read() as s:
        due = s.exec(select(m.Gate.id).where(m.Gate.status == m.PENDING,
                                             col(m.Gate.timeout_at).is_not(None),
                                             col(m.Gate.timeout_at) <= moment)).all()
    changed = []
    for gate_id in due:
        gate = _expire(db, gate_id or 0, moment)
        if gate is not None:
            changed.append(gate)
    return changed


def _expire(db: Database, gate_id: int, now: datetime | None = None) -> m.Gate | None:
    """Apply one gate's timeout decision (once); None when there was nothing to do."""
    moment = now or utcnow()
    with db.write() as s:
        gate = s.get(m.Gate, gate_id)
        if gate is None or gate.status != m.PENDING:
            return None
        due = as_utc(gate.timeout_at)
        if due is None or due > moment:
            return None
        timeout = dict((gate.detail or {}).get("timeout") or {})
        if timeout.get("expired_at"):
            return None  # held already; it waits for a person
        minutes = timeout.get("minutes")
        decision = "reject" if timeout.get("decision") == "reject" else "hold"
        timeout.update(decision=decision, expired_at=moment.isoformat())
        gate.detail = {**(gate.detail or {}), "timeout": timeout}
        after = f"after {minutes} minutes" if minutes else "at its deadline"
        if decision == "reject":
            gate.status = m.TIMED_OUT
            gate.decided_at = moment
            gate.decided_by = ANDON
            gate.comment = (f"no decision {after}: rejected by policy "
                            f"(timeout_decision = \"reject\")")
            message = f"gate {gate.id} timed out {after}: rejected by policy"
        else:
            message = (f"gate {gate.id} timed out {after}: still open, the run holds "
                       f"for a person (timeout_decision = \"hold\")")
        s.add(gate)
        data = {"gate": gate.id, "kind": gate.kind, "decision": decision}
        run = s.get(m.Run, gate.run_id)
        if (decision == "reject" and run is not None and run.status == m.WAITING
                and not _other_open(s, gate)):
            transition(s, run, m.RUNNING, message, event="gate.timed_out", detail=data)
        else:
            s.add(m.Event(run_id=gate.run_id, kind="gate.timed_out", stage=gate.stage,
                          message=message, data=data))
        s.flush()
        return gate


# -- what a person sees -----------------------------------------------------------------


def _action_title(tool_name: str, tool_input: dict[str, Any]) -> tuple[Action, str]:
    if tool_name == _EDIT_TOOL:
        command = tool_input.get("command", "edit")
        path = tool_input.get("path", "?")
        verb = {"create": "create", "str_replace": "edit", "insert": "insert into",
                "undo_edit": "undo the last edit of"}.get(str(command), str(command))
        return Action.EDIT, f"{verb} {path}"
    if tool_name == _SHELL_TOOL:
        if tool_input.get("restart") is True and "command" not in tool_input:
            return Action.SHELL, "restart the shell"
        command = str(tool_input.get("command", ""))
        first = command.strip().splitlines()[0] if command.strip() else ""
        more = " ..." if command.strip().count("\n") else ""
        return Action.SHELL, f"run: {first[:160]}{more}"
    return Action.SHELL, f"{tool_name}: {str(tool_input)[:160]}"


# -- the policy's gatekeeper ------------------------------------------------------------


class Elsewhere:
    """Where else a gate may be decided: `look()` returns a Decision or None, and is
    asked every `every` seconds while the run waits."""

    def __init__(self, look: Callable[[], Decision | None], every: float) -> None:
        self.look, self.every = look, every


class PolicyGatekeeper(Gatekeeper):
    """Opens gates where the category's policy needs a person, and waits on them.

    ``policy`` is the category's policy as the run started (the run keeps its level);
    approvers are checked against the stored policy at decision time. ``control``
    lets a cancel or an engine stop end the wait; ``root`` (the worktree) lets an
    action gate show the file diff of an edit when the caller gave no preview.
    """

    def __init__(self, db: Database, run_id: int, policy: Policy, *,
                 control: RunControl | None = None, poll: float = POLL_SECONDS) -> None:
        self.db = db
        self.run_id = run_id
        self.policy = policy
        self.control = control
        self.poll = poll
        self.review_elsewhere: Elsewhere | None = None  # e.g. the pull request's reviews
        with db.read() as s:
            run = s.get(m.Run, run_id)
            if run is None:
                raise NotFound(f"no run {run_id}")
            spec = s.get(m.Spec, run.spec_id)
        self.title = run.title
        self.spec = ({"title": spec.title, "path": spec.path, "body": spec.body}
                     if spec is not None else {"title": run.title})

    @property
    def level(self) -> Level:
        return Level(self.policy.level)

    # -- the points of the pipeline ---------------------------------------------------

    def ask(self, kind: str, title: str, detail: dict[str, Any], *,
            shadow: list[dict[str, str]] | None = None) -> Decision:
        """Open a gate and wait for its decision (what every gating method does).
        ``shadow``: a review point's rules, recorded as its shadow decision before the
        wait, so a person's verdict always has one beside it."""
        def record(s: Session, gate: m.Gate) -> None:
            if shadow is not None:
                shadow_in(s, self.run_id, rules=shadow, gate_id=gate.id,
                          satisfaction=detail.get("satisfaction"))

        gate = open_gate(self.db, self.run_id, kind, title, detail,
                         timeout_minutes=self.policy.gate_timeout,
                         timeout_decision=self.policy.timeout_decision, also=record)
        return wait_for_gate(self.db, gate.id or 0, control=self.control, poll=self.poll,
                             elsewhere=self.review_elsewhere if kind == "review" else None)

    def action(self, tool_name: str, tool_input: dict[str, Any], preview: str) -> Decision:
        action, title = _action_title(tool_name, tool_input)
        if not needs_gate(self.policy, action):
            return Decision()
        detail: dict[str, Any] = {"tool": tool_name, "action": str(action),
                                  "input": tool_input}
        if action is Action.SHELL and isinstance(tool_input.get("command"), str):
            detail["command"] = tool_input["command"]
        if isinstance(tool_input.get("path"), str):
            detail["path"] = tool_input["path"]
        if preview:  # the agent's own preview (andon.engine.agent.preview), never recomputed
            detail["preview"] = cap(preview, DIFF_LIMIT)
        return self.ask("action", title, detail)

    def plan(self, plan: str) -> Decision:
        if not needs_gate(self.policy, Action.PLAN):
            return Decision()
        return self.ask("plan", f"plan for: {self.title}",
                        {"spec": self.spec, "plan": plan})

    def review(self, detail: ReviewDetail) -> Decision:
        escalations = self.escalations(detail)
        body = self._review_body(detail)
        if escalations:
            rules = [{"rule": str(e.rule), "detail": e.detail} for e in escalations]
            names = ", ".join(str(e.rule) for e in escalations)
            if self.level == Level.DARK:
                self._mark_escalated(names, rules)
            else:
                self._event("run.escalation", f"escalation rules tripped: {names}",
                            rules=rules)
            return self.ask("escalation", f"escalated ({names}): {self.title}",
                            {**body, "rules": rules}, shadow=rules)
        if needs_gate(self.policy, Action.MERGE):
            return self.ask("review", f"review: {self.title}", body, shadow=[])
        record_shadow(self.db, self.run_id, rules=[], satisfaction=detail.satisfaction,
                      gate_id=None)
        return Decision()

    def budget(self, breach: str) -> Decision:
        if self.policy.on_budget == "fail":
            return Decision("rejected", f"budget exceeded: {breach}")
        return self.ask("budget", f"budget exceeded: {breach}", {
            "breach": breach,
            "budget": self.policy.budget.model_dump(),
            "approve_means": "go on with one more allotment of the breached budget (what "
                             "it used so far plus its limit again)",
        })

    def conflict(self, files: list[str], detail: str) -> Decision:
        count_conflict(self.db, self.run_id)
        if self.level == Level.DARK:
            return super().conflict(files, detail)
        return self.ask("conflict", f"merge conflict in {', '.join(files[:5])}",
                        {"files": files, "detail": detail})

    def post_merge(self, detail: dict[str, Any]) -> None:
        open_gate(self.db, self.run_id, "post-merge",
                  f"reverted after merge: {self.title}", detail)
        self._breaker()

    def finished(self, status: str) -> None:
        """The run ended (its open gates were voided with its status): the circuit
        breaker has its say."""
        self._breaker()

    # -- helpers ----------------------------------------------------------------------

    def escalations(self, detail: ReviewDetail) -> list[Any]:
        try:
            diff = diff_summary_from_numstat(detail.numstat or "")
        except ValueError:
            diff = diff_summary_from_numstat("")
        spend = SpendFractions(**{k: float(v) for k, v in (detail.spend or {}).items()
                                  if k in ("usd", "turns", "minutes")})
        return check_escalations(self.policy, diff, spend, detail.satisfaction)

    def _review_body(self, detail: ReviewDetail) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "diff": cap(detail.diff or "", DIFF_LIMIT),
            "numstat": detail.numstat,
            "checks": detail.checks,
            "satisfaction": detail.satisfaction,
            "threshold": self.policy.satisfaction_threshold,
            "scenarios": detail.scenarios,
            "spend": detail.spend,
        }

    def _mark_escalated(self, names: str, rules: list[dict[str, str]]) -> None:
        with self.db.write() as s:
            run = s.get(m.Run, self.run_id)
            if run is not None:
                run.escalated = True
                s.add(run)
            s.add(m.Event(run_id=self.run_id, kind="run.escalated", stage=run.stage if run
                          else None,
                          message=f"escalated at level 4: {names}", data={"rules": rules}))

    def _event(self, kind: str, message: str, **data: Any) -> None:
        with self.db.write() as s:
            run = s.get(m.Run, self.run_id)
            s.add(m.Event(run_id=self.run_id, kind=kind, stage=run.stage if run else None,
                          message=message, data=data or None))

    def _breaker(self) -> None:
        breaker_after(self.db, self.run_id)


def breaker_after(db: Database, run_id: int) -> str | None:
    """Call when a run ended or its merge was reverted (by the post-merge watch or by a
    person): when it ran at level 4, the circuit breaker may demote its category.
    Returns the demotion's reason, or None."""
    with db.read() as s:
        run = s.get(m.Run, run_id)
    if run is None or run.level != Level.DARK:
        return None
    return on_dark_run_ended(db, run.category, run_id=run_id)


def on_dark_run_ended(db: Database, category: str, *, run_id: int | None = None) -> str | None:
    """Give the circuit breaker its say after a level-4 run ended or a dark merge was
    reverted. When it trips, the category is demoted to level 3 (audited as made by
    ``andon``) and a ``policy.demoted`` event tells a person. Returns the reason."""
    reason = trip_breaker(db, category)
    if reason is None:
        return None
    with db.write() as s:
        s.add(m.Event(run_id=run_id, kind="policy.demoted",
                      message=f"{category} demoted from level 4 to level 3: {reason}",
                      data={"category": category, "from": 4, "to": 3, "by": ANDON,
                            "reason": reason}))
    return reason


def pending_count(db: Database, kinds: Sequence[str] | None = None) -> int:
    """How many gates wait for a person (the board's "needs you")."""
    gates = list_gates(db)
    return sum(1 for g in gates if kinds is None or g.kind in kinds)
