"""A run to drive the agent loop against: real SQLite, a real git repo, real tools."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from andon.engine.agent.loop import Agent
from andon.engine.agent.tools.editor import EditorTool
from andon.engine.agent.tools.shell import BashTool
from andon.engine.run.log import RunLog
from andon.engine.workspace.sandbox import SandboxConfig
from andon.store import models as m
from andon.store.db import Database


def make_run(db: Database, repo: Path, *, level: int = 3, status: str = m.RUNNING) -> int:
    with db.write() as s:
        spec = m.Spec(path=str(repo / f"spec-{id(repo)}-{level}.md"), title="Test spec",
                      category="feature", repo=str(repo))
        s.add(spec)
        s.flush()
        run = m.Run(spec_id=spec.id or 0, title="Test spec", category="feature", level=level,
                    status=status, stage="implement", repo_path=str(repo), worktree=str(repo))
        s.add(run)
        s.flush()
        return run.id or 0


@dataclass
class Kit:
    db: Database
    root: Path
    run_id: int
    tools: list[Any] = field(default_factory=list)

    @property
    def log(self) -> RunLog:
        log = RunLog(self.db, self.run_id)
        log.stage = "implement"
        return log

    def make_tools(self) -> list[Any]:
        sandbox = SandboxConfig(root=self.root, network=False, allow_unsandboxed=True)
        tools = [EditorTool(self.root), BashTool(self.root, sandbox, timeout=20)]
        self.tools.extend(tools)
        return tools

    def agent(self, client: Any, *, model: str = "scripted", **kwargs: Any) -> Agent:
        kwargs.setdefault("system", "You are a test agent.")
        kwargs.setdefault("hold_seconds", 0.01)
        tools = kwargs.pop("tools", None) or self.make_tools()
        return Agent(client=client, model=model, tools=tools, log=self.log, **kwargs)

    def close(self) -> None:
        for tool in self.tools:
            tool.close()

    # -- reading what happened -------------------------------------------------------

    def run(self) -> m.Run:
        with self.db.read() as s:
            row = s.get(m.Run, self.run_id)
            assert row is not None
            return row

    def rows(self, model: Any) -> list[Any]:
        with self.db.read() as s:
            return list(s.exec(select(model).where(model.run_id == self.run_id)
                               .order_by(col(model.id))).all())

    def events(self, kind: str | None = None) -> list[m.Event]:
        return [e for e in self.rows(m.Event) if kind is None or e.kind == kind]

    def steps(self, kind: str | None = None) -> list[m.Step]:
        return [s for s in self.rows(m.Step) if kind is None or s.kind == kind]


START = [{"role": "user", "content": "Implement the spec."}]
