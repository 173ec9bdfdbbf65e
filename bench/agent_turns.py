"""Bench the agent loop: the engine's own time per turn, and the prompt-cache share.

    .venv/bin/python bench/agent_turns.py [--turns 50] [--cache-turns 30] [--repeat 3]

1. Engine time per turn over a scripted run of --turns turns (each turn one tool call,
   alternating an editor view and a bash command, real tools, a real SQLite file): the
   turn's wall time minus the time the scripted model took to produce its reply
   (measured inside the transport, stream body included), minus tool execution (there
   are no gate or cord waits in this run). What is left is the loop itself: the SDK
   parsing the stream, events, steps, usage, the flight recording and the checkpoint.
   Target: median under 10 ms. The engine's CPU time per turn is printed too: on a
   busy machine wall time mostly measures the other processes.
2. The share of input tokens a real API would serve from the prompt cache under the
   agent's breakpoints, over a --cache-turns run with the real system prompt of a sample
   repository (the scripted transport's cache simulation: 1024-token minimum, 20-block
   lookback, 5-minute TTL). Target: 80% or more.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx2  # noqa: E402

from andon.engine.agent.loop import Agent  # noqa: E402
from andon.engine.agent.prompt import system_prompt  # noqa: E402
from andon.engine.agent.tools.editor import EditorTool  # noqa: E402
from andon.engine.agent.tools.shell import BashTool  # noqa: E402
from andon.engine.llm.scripted import ScriptedModel  # noqa: E402
from andon.engine.run.log import RunLog  # noqa: E402
from andon.engine.workspace.sandbox import SandboxConfig  # noqa: E402
from andon.store import models as m  # noqa: E402
from andon.store.db import Database  # noqa: E402

FILES = {
    "README.md": "# textkit\n\nSmall text helpers used across the company's services.\n"
                 + "It keeps to the standard library and is tested with pytest.\n" * 8,
    "textkit/__init__.py": '"""textkit."""\n',
    "textkit/case.py": "".join(
        f'def helper_{i}(text: str) -> str:\n    """Helper {i}."""\n'
        f"    return text.strip().lower() + '{i}'\n\n\n" for i in range(40)),
    "tests/test_case.py": "from textkit.case import helper_1\n\n\ndef test_helper():\n"
                          "    assert helper_1(' A ') == 'a1'\n",
}


class TimedModel(ScriptedModel):
    """The scripted model, timing how long each reply takes to produce."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seconds: list[float] = []
        self.cpu = 0.0

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        t0, c0 = time.perf_counter(), time.process_time()
        response = super().handle(request)
        body = response.read()  # produce the whole stream here, inside the timing
        self.seconds.append(time.perf_counter() - t0)
        self.cpu += time.process_time() - c0
        return httpx2.Response(response.status_code, headers=response.headers, content=body)


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    env_git = ["git", "-c", "user.name=bench", "-c", "user.email=b@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True)
    for name, text in FILES.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    subprocess.run(["git", "add", "-A"], cwd=path, check=True)
    subprocess.run([*env_git, "commit", "-q", "-m", "initial"], cwd=path, check=True)
    return path


def make_run(db: Database, repo: Path) -> tuple[int, m.Spec]:
    with db.write() as s:
        spec = m.Spec(path=str(repo / "spec.md"), title="Add a slugify helper",
                      category="feature", repo=str(repo),
                      checks=["python -m pytest -q"],
                      body="# Intent\nAdd slugify() to textkit.case.\n\n"
                           "## Acceptance criteria\n- slugify('A b') == 'a-b'\n- tested\n")
        s.add(spec)
        s.flush()
        run = m.Run(spec_id=spec.id or 0, title=spec.title, category="feature", level=4,
                    status=m.RUNNING, stage="implement", repo_path=str(repo))
        s.add(run)
        s.flush()
        return run.id or 0, spec


def turns(n: int) -> list[dict[str, Any]]:
    script: list[dict[str, Any]] = []
    for i in range(n - 1):
        if i % 2:
            call = {"name": "bash", "input": {"command": f"grep -c helper textkit/case.py; "
                                                         f"echo step {i}"}}
        else:
            call = {"name": "str_replace_based_edit_tool",
                    "input": {"command": "view", "path": "textkit/case.py",
                              "view_range": [1 + i % 30, 10 + i % 30]}}
        script.append({"text": f"Step {i}: looking at the helpers again to decide.",
                       "tool_use": [call]})
    script.append({"text": "Done."})
    return script


def session(folder: Path, n: int) -> tuple[Agent, TimedModel, Database, int]:
    repo = make_repo(folder / "repo")
    db = Database(folder / "andon.db")
    run_id, spec = make_run(db, repo)
    model = TimedModel(turns(n))
    log = RunLog(db, run_id)
    log.stage = "implement"
    sandbox = SandboxConfig(root=repo, network=False, allow_unsandboxed=True)
    tools = [EditorTool(repo), BashTool(repo, sandbox)]
    agent = Agent(client=model.client(), model="scripted", tools=tools, log=log,
                  system=system_prompt(spec, repo))
    return agent, model, db, run_id


def engine_time(n: int) -> tuple[list[float], float]:
    """Engine wall seconds per turn, and the engine's mean CPU seconds per turn (this
    process's CPU time minus the scripted model's; the bash tool runs in a subprocess)."""
    with tempfile.TemporaryDirectory(prefix="andon-bench-") as tmp:
        agent, model, db, _ = session(Path(tmp), n)
        try:
            c0 = time.process_time()
            result = agent.run([{"role": "user", "content": "Implement the spec."}])
            cpu = (time.process_time() - c0 - model.cpu) / n
        finally:
            for tool in agent.tools.values():
                tool.close()
            db.engine.dispose()
        assert result.status == "done", result.reason
        assert len(agent.timings) == len(model.seconds) == n
        # "paused" is not subtracted: here it is only the cord check and the no-gate
        # gatekeeper, both the engine's own work (there are no waits in this run)
        return [t.total - t.tools - model_s
                for t, model_s in zip(agent.timings, model.seconds, strict=True)], cpu


def cache_share(n: int) -> tuple[float, list[float]]:
    with tempfile.TemporaryDirectory(prefix="andon-bench-") as tmp:
        agent, _, db, run_id = session(Path(tmp), n)
        try:
            result = agent.run([{"role": "user", "content": "Implement the spec."}])
        finally:
            for tool in agent.tools.values():
                tool.close()
        assert result.status == "done", result.reason
        with db.read() as s:
            from sqlmodel import select

            rows = s.exec(select(m.Usage).where(m.Usage.run_id == run_id)
                          .order_by(m.Usage.turn)).all()
        db.engine.dispose()
    total = sum(u.input_tokens + u.cache_creation_tokens + u.cache_read_tokens for u in rows)
    read = sum(u.cache_read_tokens for u in rows)
    per_turn = [u.cache_read_tokens / max(1, u.input_tokens + u.cache_creation_tokens
                                          + u.cache_read_tokens) for u in rows]
    return read / total, per_turn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--cache-turns", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"command: {Path(sys.executable).name} bench/agent_turns.py "
          f"--turns {args.turns} --cache-turns {args.cache_turns} --repeat {args.repeat}")

    engine_time(5)  # warm up imports and caches
    runs = [engine_time(args.turns) for _ in range(args.repeat)]
    best, cpu = min(runs, key=lambda r: statistics.median(r[0]))
    ms = [x * 1000 for x in best]
    q = statistics.quantiles(ms, n=10)
    verdict = "ok" if statistics.median(ms) < 10 else "OVER TARGET"
    print(f"engine time per turn over a {args.turns}-turn scripted run (ms, best of "
          f"{args.repeat} runs by median): median {statistics.median(ms):.2f}, p90 {q[-1]:.2f}, "
          f"max {max(ms):.2f}, min {min(ms):.2f}; engine CPU per turn {cpu * 1000:.2f}  "
          f"[target: median < 10 ms: {verdict}]")
    print(f"  (all runs' medians: "
          f"{', '.join(f'{statistics.median(r[0]) * 1000:.2f}' for r in runs)} ms; "
          f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")

    share, per_turn = cache_share(args.cache_turns)
    verdict = "ok" if share >= 0.8 else "UNDER TARGET"
    print(f"input tokens served from the prompt cache over a {args.cache_turns}-turn run: "
          f"{share:.1%} of all input (median per turn {statistics.median(per_turn):.1%}, "
          f"first turn {per_turn[0]:.1%}, last turn {per_turn[-1]:.1%})  "
          f"[target: >= 80%: {verdict}]")


if __name__ == "__main__":
    main()
