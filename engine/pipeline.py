"""One run through the stages: prepare, plan, implement, validate, review, merge.

Each stage is a method that either lets the run go on or ends it with a status and a
reason (`RunEnded`). Every stage writes steps and events through the run's `RunLog`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine import workspace
from engine.agent import Agent
from engine.checks import run_checks
from engine.errors import UserError
from engine.home import Home
from engine.prompt import system_prompt
from engine.provider import open_model
from engine.runlog import RunLog
from engine.sandbox import SandboxConfig
from engine.tools.editor import EditorTool
from engine.tools.shell import BashTool
from engine.workspace import Workspace
from store import models as m
from store.clock import utcnow
from store.db import Database


class RunEnded(Exception):
    def __init__(self, status: str, reason: str) -> None:
        self.status, self.reason = status, reason
        super().__init__(f"{status}: {reason}")


@dataclass
class RunContext:
    run: m.Run
    spec: m.Spec
    ws: Workspace | None = None


class Pipeline:
    def __init__(self, home: Home, db: Database, run_id: int) -> None:
        self.home = home
        self.db = db
        self.log = RunLog(db, run_id)
        with db.read() as s:
            run = s.get(m.Run, run_id)
            if run is None:
                raise UserError(f"no run {run_id}")
            spec = s.get(m.Spec, run.spec_id)
            assert spec is not None
        self.ctx = RunContext(run=run, spec=spec)

    # -- the whole run ---------------------------------------------------------------

    def execute(self) -> str:
        """Take the run through every stage; returns its final status."""
        try:
            self.prepare()
            self.implement()
            self.validate()
            self.review()
            self.merge()
        except RunEnded as end:
            return self._finish(end.status, end.reason)
        except UserError as exc:
            return self._finish(m.FAILED, str(exc))
        except Exception as exc:  # a bug or an outage must not leave the run "running"
            return self._finish(m.FAILED, f"internal error: {type(exc).__name__}: {exc}")
        return self._finish(m.MERGED, "merged into " + self.ctx.spec.base)

    def _finish(self, status: str, reason: str) -> str:
        now = utcnow()
        fields: dict[str, object] = {"status": status, "reason": reason, "finished_at": now}
        if status == m.MERGED:
            fields["merged_at"] = now
        self.log.update(**fields)
        self.log.event(f"run.{status}", reason)
        return status

    # -- stages ----------------------------------------------------------------------

    def prepare(self) -> None:
        self.log.enter("prepare")
        spec, run = self.ctx.spec, self.ctx.run
        repo, base = self._repo()
        with self.log.step("git", "worktree") as step:
            ws = workspace.prepare(repo, base, self.home.worktrees, run.id or 0)
            step.output = f"{ws.path} on {ws.branch} from {base} at {ws.base_commit[:10]}"
        self.ctx.ws = ws
        self.log.update(repo_path=str(ws.repo), base=base, worktree=str(ws.path),
                        branch=ws.branch, base_commit=ws.base_commit)
        self.log.event("workspace", f"worktree {ws.path.name} on {ws.branch}",
                       spec=spec.title)

    def implement(self) -> None:
        self.log.enter("implement")
        ws = self._ws()
        client, model_name = open_model(self.ctx.spec, self.home)
        self.log.update(model=model_name)
        sandbox = self._sandbox(ws.path)
        tools = [EditorTool(ws.path), BashTool(ws.path, sandbox)]
        try:
            agent = Agent(client=client, model=model_name, tools=tools, log=self.log,
                          system=system_prompt(self.ctx.spec, ws.path))
            messages = [{"role": "user", "content": "Implement the spec."}]
            result = agent.run(messages)
        finally:
            for tool in tools:
                tool.close()
        if result.status != "done":
            raise RunEnded(m.FAILED, result.reason)
        self._commit("implement")

    def validate(self) -> None:
        self.log.enter("validate")
        ws = self._ws()
        results = run_checks(self.log, self.ctx.spec.checks, ws.path, self._sandbox(ws.path))
        failed = [r for r in results if not r.passed]
        if failed:
            names = ", ".join(f"`{r.command}` (exit {r.exit_code})" for r in failed)
            raise RunEnded(m.FAILED, f"checks failed: {names}")

    def review(self) -> None:
        self.log.enter("review")
        self.log.event("review", "automatic review: checks passed")

    def merge(self) -> None:
        self.log.enter("merge")
        ws = self._ws()
        run = self.ctx.run
        message = f"Merge andon run {run.id}: {self.ctx.spec.title}\n\nAndon-Run: {run.id}"
        with self.log.step("merge", ws.base) as step:
            commit = workspace.merge(ws, message)
            step.output = f"{ws.base} -> {commit[:10]}"
        self.log.update(merge_commit=commit, head_commit=ws.head())
        self.log.event("merge", f"merged into {ws.base} as {commit[:10]}")
        workspace.remove(ws)

    # -- helpers ---------------------------------------------------------------------

    def _repo(self) -> tuple[Path, str]:
        spec = self.ctx.spec
        entry = self.home.repo_entry(spec.repo)
        if entry is not None:
            return Path(entry["path"]).expanduser(), spec.base or entry.get("base", "main")
        path = Path(spec.repo).expanduser()
        if not path.is_absolute():
            path = (Path(spec.path).parent / path).resolve()
        if not path.exists():
            raise UserError(f"spec {spec.path}: field 'repo': '{spec.repo}' is neither a "
                            f"repository named in {self.home.config_path} nor a path")
        return path, spec.base

    def _ws(self) -> Workspace:
        assert self.ctx.ws is not None, "prepare has not run"
        return self.ctx.ws

    def _sandbox(self, root: Path) -> SandboxConfig:
        return SandboxConfig(root=root, network=False,
                             allow_unsandboxed=self.ctx.run.level < 4)

    def _commit(self, what: str) -> None:
        ws, run = self._ws(), self.ctx.run
        trailers = {"Andon-Run": str(run.id), "Andon-Spec": self.ctx.spec.title,
                    "Andon-Category": run.category, "Andon-Level": str(run.level)}
        with self.log.step("git", "commit") as step:
            commit = workspace.commit_all(ws, f"andon: {what} for run {run.id}", trailers)
            step.output = commit or "nothing to commit"
        if commit:
            self.log.update(head_commit=commit)
