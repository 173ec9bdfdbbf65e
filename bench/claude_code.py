"""Bench Claude Code as the agent against Andon's own loop: what the CLI and the proxy add.

    .venv/bin/python bench/claude_code.py [--turns 5 20] [--repeat 3]

Each run is one scripted attempt (every turn one editor view of a real file, then a
final answer) in a real git worktree with a real SQLite file, driven once by the
built-in loop and once by Claude Code (the real CLI talking to the run's loopback proxy,
which the same scripted model answers). Printed, each the median over all --repeat
repetitions (never the best one):

* wall seconds of an attempt, per backend and length, and Claude Code's against the
  loop's (the loop is the floor: same model, same tools, same records);
* Claude Code's fixed cost (its CLI's start and end: the short run's time less its
  turns) and its cost per turn (the long run's time less the short run's, per turn),
  each against the loop's.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from andon.engine.agent.loop import Agent  # noqa: E402
from andon.engine.agent.tools.editor import EditorTool  # noqa: E402
from andon.engine.llm.client import ModelClient  # noqa: E402
from andon.engine.llm.scripted import ScriptedModel  # noqa: E402
from andon.engine.run.log import RunLog  # noqa: E402
from andon.store import models as m  # noqa: E402
from andon.store.db import Database  # noqa: E402


def script(turns: int) -> list[dict[str, Any]]:
    def view(n: int) -> dict[str, Any]:  # a different range each time: not a loop
        return {"name": "str_replace_based_edit_tool",
                "input": {"command": "view", "path": "README.md", "view_range": [1, n + 1]}}

    return [{"text": f"look {n}", "tool_use": [view(n)]} for n in range(turns - 1)] + [
        {"text": "done"}]


def one(backend: str, turns: int, where: Path) -> float:
    repo = where / "repo"
    repo.mkdir(parents=True)
    (repo / "README.md").write_text("# bench\n" + "A line of the readme.\n" * 40)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    db = Database(where / "andon.db")
    with db.write() as s:
        spec = m.Spec(path=str(where / "spec.md"), title="bench", category="bench",
                      repo=str(repo))
        s.add(spec)
        s.flush()
        run = m.Run(spec_id=spec.id or 0, title="bench", category="bench", level=4,
                    status=m.RUNNING, stage="implement", worktree=str(repo))
        s.add(run)
        s.flush()
        run_id = run.id or 0
    log = RunLog(db, run_id)
    log.stage = "implement"
    tools = [EditorTool(repo)]
    llm = ModelClient(ScriptedModel(script(turns)).client(), "scripted", log)
    agent: Any
    if backend == "loop":
        agent = Agent(client=llm.client, model="scripted", tools=list(tools), log=log,
                      system="bench", llm=llm)
    else:
        from andon.engine.agent.claude_code import ClaudeCodeAgent

        agent = ClaudeCodeAgent(llm=llm, tools=list(tools), log=log, system="bench",
                                folder=where / "agent")
    t0 = time.perf_counter()
    result = agent.run([{"role": "user", "content": "Implement the spec."}], attempt=1)
    seconds = time.perf_counter() - t0
    assert result.status == "done" and log.run().turns == turns, (result, log.run().turns)
    db.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, nargs=2, default=[5, 20])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    short, long_ = args.turns
    times: dict[tuple[str, int], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="andon-bench-cc-") as tmp:
        n = 0
        for _ in range(args.repeat):
            for backend in ("loop", "claude-code"):
                for turns in (short, long_):
                    n += 1
                    times.setdefault((backend, turns), []).append(
                        one(backend, turns, Path(tmp) / f"r{n}"))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"# {' '.join(sys.argv)}  (medians of {args.repeat} repetitions)")
    for turns in (short, long_):
        loop, cc = med[("loop", turns)], med[("claude-code", turns)]
        print(f"{turns:>3} turns: loop {loop:6.2f} s   claude-code {cc:6.2f} s   "
              f"ratio {cc / loop:5.1f}x")
    per = {b: (med[(b, long_)] - med[(b, short)]) / (long_ - short)
           for b in ("loop", "claude-code")}
    fixed = {b: med[(b, short)] - short * per[b] for b in ("loop", "claude-code")}
    print(f"per turn:  loop {per['loop'] * 1000:6.0f} ms  claude-code "
          f"{per['claude-code'] * 1000:6.0f} ms  ratio {per['claude-code'] / per['loop']:.1f}x")
    print(f"fixed:     loop {fixed['loop']:6.2f} s   claude-code {fixed['claude-code']:6.2f} s"
          "  (the CLI's start and end)")


if __name__ == "__main__":
    main()
