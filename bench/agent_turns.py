"""Bench the agent loop on long runs: billed input, prompt-cache share, CPU per turn and
database growth, as the run gets longer.

    .venv/bin/python bench/agent_turns.py [--turns 50 100 200] [--repeat 3]

Each run is a scripted conversation (every turn one tool call, alternating an editor view
and a bash command; real tools, a real SQLite file, the real system prompt of a sample
repository, the category's default context policy) against a loopback model server in
its own process (tests/support/model_server.py). The server computes usage from the
request bodies it receives (prompt-cache simulation: 1024-token minimum, 20-block
lookback, 5-minute TTL), so the figures do not come from the agent's own accounting.

Printed, each the median over all --repeat repetitions (never the best one):

* billed input (fresh + 1.25 x cache writes + 0.1 x cache reads, in input tokens) of the
  longest run against the middle one: target at most 2.2 times (linear, not quadratic);
* the share of input tokens read from the cache over the first 30 turns (target 94%)
  and over the whole longest run (target 90%);
* this process's CPU per turn (the engine, the SDK, SQLite; the model server and the
  bash tool run in other processes), longest run against the shortest: target 1.3 times;
* database growth of the longest run against the middle one: target 2.2 times.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import anthropic  # noqa: E402
from sqlalchemy import text  # noqa: E402

from andon.engine.agent.loop import Agent  # noqa: E402
from andon.engine.agent.prompt import system_prompt  # noqa: E402
from andon.engine.agent.tools.editor import EditorTool  # noqa: E402
from andon.engine.agent.tools.shell import BashTool  # noqa: E402
from andon.engine.run.log import RunLog  # noqa: E402
from andon.engine.workspace.sandbox import SandboxConfig  # noqa: E402
from andon.policies.policy import Policy  # noqa: E402
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
CACHE_TURNS = 30


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    env_git = ["git", "-c", "user.name=bench", "-c", "user.email=b@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True)
    for name, body in FILES.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(body)
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


def script(n: int) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = []
    for i in range(n - 1):
        if i % 2:
            call = {"name": "bash", "input": {"command": f"grep -c helper textkit/case.py; "
                                                         f"echo step {i}"}}
        else:
            call = {"name": "str_replace_based_edit_tool",
                    "input": {"command": "view", "path": "textkit/case.py",
                              "view_range": [1 + i % 30, 10 + i % 30]}}
        turns.append({"text": f"Step {i}: looking at the helpers again to decide.",
                      "tool_use": [call]})
    turns.append({"text": "Done."})
    return turns


def db_bytes(db: Database, path: Path) -> int:
    """The database's size with its write-ahead log folded in."""
    with db.engine.connect() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def one_run(n: int) -> dict[str, Any]:
    """One n-turn run against a fresh server process; its figures."""
    with tempfile.TemporaryDirectory(prefix="andon-bench-") as tmp:
        folder = Path(tmp)
        (folder / "script.json").write_text(json.dumps(script(n)))
        server = subprocess.Popen(
            [sys.executable, "-m", "tests.support.model_server", str(folder / "script.json")],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            url = server.stdout.readline().strip()
            repo = make_repo(folder / "repo")
            db_path = folder / "andon.db"
            db = Database(db_path)
            run_id, spec = make_run(db, repo)
            before = db_bytes(db, db_path)
            log = RunLog(db, run_id)
            log.stage = "implement"
            sandbox = SandboxConfig(root=repo, network=False, allow_unsandboxed=True)
            tools = [EditorTool(repo), BashTool(repo, sandbox)]
            client = anthropic.Anthropic(base_url=url, api_key="bench", max_retries=0)
            agent = Agent(client=client, model="claude-sonnet-5-5", tools=tools, log=log,
                          system=system_prompt(spec, repo),
                          context=Policy(category="feature", level=4).context)
            try:
                c0, w0 = time.process_time(), time.perf_counter()
                result = agent.run([{"role": "user", "content": "Implement the spec."}])
                cpu, wall = time.process_time() - c0, time.perf_counter() - w0
            finally:
                client.close()
                for tool in tools:
                    tool.close()
            assert result.status == "done", result.reason
            growth = db_bytes(db, db_path) - before
            db.engine.dispose()
            with urlopen(f"{url}/tally") as reply:
                tally = json.loads(reply.read())
        finally:
            if server.stdin is not None:
                server.stdin.close()
            server.wait(timeout=60)
    reads, inputs = tally["read_per_request"], tally["per_request"]
    return {"billed": tally["billed"], "input": tally["input"],
            "share": tally["cache_share"],
            "share_first": sum(reads[:CACHE_TURNS]) / max(1, sum(inputs[:CACHE_TURNS])),
            "cpu_ms": cpu / n * 1000, "wall_ms": wall / n * 1000, "db": growth,
            "last_request": inputs[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, nargs=3, default=[50, 100, 200],
                        metavar=("SHORT", "MIDDLE", "LONG"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    short, middle, long = args.turns
    print(f"command: {Path(sys.executable).name} bench/agent_turns.py "
          f"--turns {short} {middle} {long} --repeat {args.repeat}")
    one_run(5)  # warm up imports and caches
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in (short, middle, long)}
    for _ in range(args.repeat):
        for n in runs:
            runs[n].append(one_run(n))

    def med(n: int, key: str) -> float:
        return statistics.median(r[key] for r in runs[n])

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    print(f"medians over {args.repeat} repetitions; load average now "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for n in runs:
        print(f"  {n:>4} turns: billed input {med(n, 'billed'):>12,.0f} tokens "
              f"(all input {med(n, 'input'):>11,.0f}), cache share {med(n, 'share'):.1%}, "
              f"last request {med(n, 'last_request'):,.0f} tokens, "
              f"CPU/turn {med(n, 'cpu_ms'):.2f} ms (wall {med(n, 'wall_ms'):.2f} ms), "
              f"database +{med(n, 'db') / 1e6:.2f} MB")
    ratio = med(long, "billed") / med(middle, "billed")
    print(f"billed input, {long} vs {middle} turns: x{ratio:.2f}  "
          f"[target <= 2.2: {verdict(ratio <= 2.2)}]")
    first = med(long, "share_first")
    print(f"cache share over the first {CACHE_TURNS} turns: {first:.1%}  "
          f"[target >= 94%: {verdict(first >= 0.94)}]")
    whole = med(long, "share")
    print(f"cache share over the whole {long}-turn run: {whole:.1%}  "
          f"[target >= 90%: {verdict(whole >= 0.90)}]")
    ratio = med(long, "cpu_ms") / med(short, "cpu_ms")
    print(f"CPU per turn, {long} vs {short} turns: x{ratio:.2f}  "
          f"[target <= 1.3: {verdict(ratio <= 1.3)}]")
    ratio = med(long, "db") / med(middle, "db")
    print(f"database growth, {long} vs {middle} turns: x{ratio:.2f}  "
          f"[target <= 2.2: {verdict(ratio <= 2.2)}]")


if __name__ == "__main__":
    main()
