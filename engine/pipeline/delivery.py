"""The delivery step: where a repository names a forge, the run's change goes through a
pull request there instead of the engine moving the base itself.

    validate  after Andon's own checks and scenarios pass: push the branch, open or
              update the pull request, and wait for the team's required CI on that head;
              a failing required check goes back to the agent like a failing local check
    review    as the level says (a person's approval in Andon at levels 2 and 3)
    merge     the forge's merge of exactly the checked head, only with the required
              checks green; a moved base or head is taken in and everything is checked
              again first; exactly once, even across a crash (`forge.landing`)

The pipeline (`stages.Pipeline`) calls the functions here; they use its log, control,
progress record and gatekeeper, so a delivered run resumes like any other.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from andon.engine.errors import UserError
from andon.engine.forge import remote
from andon.engine.forge.client import PullRequest
from andon.engine.forge.connect import open_forge
from andon.engine.forge.landing import Landing, ci_feedback, pull_body
from andon.engine.forge.revert import base_ci, revert_through_pull
from andon.engine.forge.settings import forge_settings
from andon.engine.forge.weather import Backoff
from andon.engine.gates.gate import Elsewhere, PolicyGatekeeper
from andon.engine.gates.gatekeeper import Decision
from andon.engine.pipeline.outcome import Failure, RunEnded
from andon.engine.run.identity import trailers
from andon.store import models as m
from andon.store.clock import utcnow

if TYPE_CHECKING:  # (the stages call this module: at run time it never imports them)
    from andon.engine.pipeline.stages import Pipeline

MAX_ROUNDS = 5  # base or head moved, taken in and checked again; then give up


def open_landing(p: Pipeline) -> Landing | None:
    """The run's forge delivery, or None for a repository merged locally."""
    spec = p.ctx.spec
    repo = p.home.config.repos.get(spec.repo)
    entry = repo.model_dump(exclude_none=True) if repo is not None else None
    settings = forge_settings(entry, f"{p.home.config_path}: [repos.{spec.repo}]")
    if settings is None:
        return None
    poll = p.home.config.engine.forge_poll
    landing = Landing(settings, open_forge(settings), p._ws(), log=p.log, control=p.control,
                      state=lambda: p.state, mark=p._mark, backoff=_backoff(p), poll=poll)
    if isinstance(p.gatekeeper, PolicyGatekeeper):  # levels 2, 3: approving on the forge
        p.gatekeeper.review_elsewhere = Elsewhere(lambda: _approved(landing), poll)
    return landing


def _approved(landing: Landing) -> Decision | None:
    found = landing.approval()
    if found is None:
        return None
    login, url = found
    return Decision("approved", f"approved on {landing.settings.name}: {url}", by=login)


def _backoff(p: Pipeline) -> Backoff:
    first, cap = p.home.config.engine.forge_backoff
    return Backoff(float(first), float(cap))


def publish(p: Pipeline, landing: Landing, attempt: int) -> Failure | None:
    """Push the run's head and open or update its pull request. Someone else's commits
    on the branch are taken in and Andon's checks run again (a Failure when they fail)."""
    for _ in range(MAX_ROUNDS):
        try:
            landing.publish(_title(p), _body(p))
            return None
        except remote.Foreign as foreign:
            landing.take_in(foreign.sha)
            failure = p.validate(attempt)
            if failure is not None:
                return failure
    raise UserError(f"{landing.ws.branch} kept changing on {landing.settings.name}; "
                    f"gave up after {MAX_ROUNDS} rounds")


def check(p: Pipeline, attempt: int, landing: Landing) -> Failure | None:
    """Publish, then the team's required CI on the head: a Failure when it is red."""
    p.control.boundary()
    failure = publish(p, landing, attempt)
    if failure is not None:
        return failure
    failing = landing.ci(p._ws().head())
    if not failing:
        return None
    feedback, signature, summary = ci_feedback(landing.settings.name, failing)
    return Failure(feedback, signature, summary, checks_failed=True)


def merge(p: Pipeline, attempt: int, landing: Landing) -> Failure | None:
    """The forge's merge of the checked head (see the module docstring); a Failure sends
    the run back to the agent, None once merged."""
    p.control.boundary()
    p.log.enter("merge")
    run, spec, ws = p.ctx.run, p.ctx.spec, p._ws()
    title = f"Merge andon run {run.id}: {spec.title}"
    message = (f"{trailers(p.home_id, run.id or 0)}\nAndon-Category: {run.category}\n"
               f"Andon-Level: {run.level}")
    for _ in range(MAX_ROUNDS):
        failure = publish(p, landing, attempt)  # a no-op when the forge has it all
        if failure is not None:
            return failure
        landed = landing.land(title, message)
        if landed.status in ("merged", "already"):
            assert landed.commit is not None
            p._mark(merged=landed.commit, previous=landed.previous)
            p.ctx.run = p.log.update(merge_commit=landed.commit, head_commit=ws.head(),
                                     merged_at=p.ctx.run.merged_at or utcnow())
            how = "already merged" if landed.status == "already" else "merged"
            p.log.event("merge", f"{how} on {landing.settings.name} as "
                        f"{landed.commit[:10]}", commit=landed.commit,
                        pull=dataclasses.asdict(p.state.pull) if p.state.pull else None)
            return None
        if landed.status == "failing":
            feedback, signature, summary = ci_feedback(landing.settings.name, landed.failing)
            return Failure(feedback, signature, summary, checks_failed=True)
        if landed.status == "conflict":
            p.log.event("merge.conflict", landed.detail, files=landed.files)
            decision = p.gatekeeper.conflict(landed.files, landed.detail)
            if decision.verdict == "revised":
                files = landing.conflict_markers()
                return Failure(
                    f"The base branch {ws.base} moved on {landing.settings.name} and "
                    f"conflicts with your change. Its new state is merged into the "
                    f"worktree with conflict markers in: {', '.join(files) or 'no file'}. "
                    f"Resolve them keeping both intents, run the checks, and finish."
                    + (f"\n\nA person's note: {decision.comment}" if decision.comment
                       else ""), signature="", summary=f"conflict in {', '.join(files)}")
            if not decision.approved:
                status = m.REJECTED if decision.by else m.FAILED
                raise RunEnded(status, f"merge conflict in {', '.join(landed.files)}: "
                               f"{ws.base} moved on {landing.settings.name}")
            p._commit("conflict resolved by a person")
        # the base or the head moved and was taken in: Andon's checks again first
        failure = p.validate(attempt)
        if failure is not None:
            return failure
        p.log.enter("merge")
    raise RunEnded(m.FAILED, f"{ws.base} or {ws.branch} kept moving on "
                   f"{landing.settings.name}; gave up after {MAX_ROUNDS} rounds")


def watch(p: Pipeline, landing: Landing) -> tuple[str, str]:
    """The post-merge watch on the forge: the base's required CI on the merge commit;
    when it fails, the run is reverted through a pull request and a person is told."""
    state, ws, run = p.state, p._ws(), p.ctx.run
    commit = state.merged
    assert commit is not None, "watch before merge"
    name = landing.settings.name
    done = f"merged on {name} as {commit[:10]}" + (f" ({state.pull.url})" if state.pull
                                                   else "")
    if state.watched or not p.home.config.engine.post_merge_checks:
        return m.MERGED, done
    p.control.boundary()
    p.log.enter("post-merge")
    patience = p.home.config.engine.forge_watch_minutes * 60
    failing = base_ci(landing, commit, patience)
    if failing is None:  # e.g. CI that runs on pull requests only: say so, do not guess
        p._mark(watched=True)
        p.log.event("post-merge", f"the required checks did not report on {ws.base} "
                    f"within {patience / 60:.0f} minutes of the merge; not watched")
        return m.MERGED, done + " (the base's CI did not report)"
    if not failing:
        p._mark(watched=True)
        p.log.event("post-merge", f"the required checks pass on {ws.base} after the merge")
        return m.MERGED, done
    failures = ", ".join(r.name for r in failing)
    lines = "\n".join(f"- {r.name}: {r.detail or r.state}" for r in failing)
    title = f"Revert andon run {run.id}: {p.ctx.spec.title}"
    message = (f"The required checks failed on {ws.base} after the merge "
               f"({commit[:10]}):\n{lines}\n\nAndon-Reverts: {run.id}\n"
               f"Andon-Home: {p.home_id}\nAndon-Category: {run.category}")
    reverted = revert_through_pull(landing, run_id=run.id or 0, merged=commit,
                                   worktrees=p.home.worktrees, title=title,
                                   body=message, message=message)
    url = reverted.pull.url if reverted.pull else ""
    detail = {"base": ws.base, "merge_commit": commit, "failures": [r.name for r in failing],
              "revert_commit": reverted.commit, "revert_pull": url, "spec": p.ctx.spec.title}
    p.gatekeeper.post_merge(detail)
    if reverted.commit is None:
        raise RunEnded(m.FAILED, f"the required checks failed on {ws.base} after the merge "
                       f"({failures}) and the revert did not merge ({reverted.why}"
                       + (f"; {url}" if url else "") + f"): a person must fix {ws.base}")
    p._mark(watched=True, reverted=reverted.commit)
    p.log.event("revert", f"reverted on {name} as {reverted.commit[:10]} through {url}: "
                f"{failures}", commit=reverted.commit, pull=url)
    return m.REVERTED, (f"reverted through {url}: the required checks failed on {ws.base} "
                        f"after the merge ({failures})")


def _title(p: Pipeline) -> str:
    return f"andon: {p.ctx.spec.title}"


def _body(p: Pipeline) -> str:
    run_id = p.ctx.run.id or 0
    template = p.home.config.engine.run_url
    link = (str(template).format(run=run_id) if template
            else f"`andon show {run_id}` in the factory at {p.home.root}")
    return pull_body(run_id=run_id, spec_title=p.ctx.spec.title, spec_body=p.ctx.spec.body,
                     checks=p._checks(), satisfaction=p.log.run().satisfaction,
                     scenarios=p.ctx.scenarios, link=link)


__all__ = ["PullRequest", "check", "merge", "open_landing", "publish", "watch"]
