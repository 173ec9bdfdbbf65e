"""Holdout scenarios: checks the agent never sees, kept in the home's `scenarios/<name>/`.

A spec names its folder (`scenarios: slugify`). Each file in it is one scenario:

* an executable file is a check, run against the worktree from outside it: argument 1
  and `$ANDON_WORKTREE` are the worktree's path, the working folder is the worktree,
  exit 0 means satisfied. It runs in the sandbox with the worktree read-only, its own
  folder readable, every other scenario folder hidden and no network. Its title is a
  `# title: ...` (or `# scenario: ...`) comment near the top, else its file name.
* a `.md` file is a story in plain words, judged by the model against the run's diff in
  N independent trials (`[engine] scenario_trials`, default 3). Only with a real model:
  with the scripted provider stories are skipped and reported so. Its title is its first
  Markdown heading, else its file name.

Other files (helpers, data) are left alone. Satisfaction = passed trials / all trials
(a check is one trial). The agent only ever learns the titles of failed scenarios.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from andon.engine.agent.tools.shell import run_command
from andon.engine.errors import UserError
from andon.engine.workspace.sandbox import SandboxConfig, bwrap_available

SCENARIO_TIMEOUT = 300.0
DEFAULT_TRIALS = 3
MAX_DIFF_CHARS = 150_000
_TITLE_LINE = re.compile(r"^\s*(?:#|//|--|;)\s*(?:title|scenario)\s*:\s*(.+?)\s*$", re.I)
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)

JUDGE_SYSTEM = (
    "You are a strict acceptance tester. You are given a scenario that a software "
    "change must satisfy and the change itself as a git diff. Judge only whether the "
    "scenario is satisfied by the code after the change. Give your verdict, PASS or "
    "FAIL, and the reason in one or two sentences."
)
# The judge answers in this shape (structured output), so a verdict is never guessed
# from the wording of a reply.
VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"verdict": {"type": "string", "enum": ["PASS", "FAIL"]},
                   "reason": {"type": "string"}},
    "required": ["verdict", "reason"],
    "additionalProperties": False,
}
VERDICT_FORMAT = {"type": "json_schema", "schema": VERDICT_SCHEMA}


@dataclass
class Scenario:
    title: str
    path: Path
    kind: Literal["check", "story"]

    def text(self) -> str:
        return self.path.read_text(encoding="utf-8", errors="replace")


@dataclass
class ScenarioResult:
    title: str
    kind: str
    trials: int  # 0 when skipped
    passed: int
    status: Literal["ok", "failed", "skipped"]
    output: str = ""  # for the person reading the run; never for the agent
    exit_code: int | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.status == "failed"


def scenario_folder(root: Path, name: str) -> Path:
    """The folder of a spec's scenarios under the home's `scenarios/`; UserError when
    it is missing (a spec that names holdout checks must not run without them)."""
    folder = (root / name).resolve()
    if folder.parent != root.resolve() or not folder.is_dir():
        raise UserError(f"the spec's scenarios '{name}' are not in {root}: create the "
                        f"folder {root / name} with the scenario files")
    return folder


def load_scenarios(folder: Path) -> list[Scenario]:
    found = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.suffix.lower() == ".md":
            found.append(Scenario(_story_title(path), path, "story"))
        elif os.access(path, os.X_OK):
            found.append(Scenario(_check_title(path), path, "check"))
    return found


def _plain_name(path: Path) -> str:
    return re.sub(r"[-_]+", " ", path.stem).strip() or path.name


def _check_title(path: Path) -> str:
    with contextlib.suppress(OSError), path.open(encoding="utf-8", errors="replace") as f:
        for _, line in zip(range(10), f, strict=False):
            match = _TITLE_LINE.match(line)
            if match:
                return match.group(1)[:200]
    return _plain_name(path)


def _story_title(path: Path) -> str:
    with contextlib.suppress(OSError):
        match = _HEADING.search(path.read_text(encoding="utf-8", errors="replace"))
        if match:
            return match.group(1)[:200]
    return _plain_name(path)


# -- executable checks ----------------------------------------------------------------------


def run_check(scenario: Scenario, worktree: Path, *, scenarios_root: Path,
              hide: list[Path], allow_unsandboxed: bool,
              timeout: float = SCENARIO_TIMEOUT) -> ScenarioResult:
    """Run one executable scenario against the worktree (see the module docstring)."""
    worktree = Path(os.path.realpath(worktree))
    sandboxed = bwrap_available()[0]
    before = _snapshot(worktree) if not sandboxed else None
    with tempfile.TemporaryDirectory(prefix="andon-scenario-") as scratch:
        config = SandboxConfig(
            root=Path(scratch), network=False, allow_unsandboxed=allow_unsandboxed,
            hide=[scenarios_root, *hide], extra_ro=[scenario.path.parent, worktree],
        )
        command = shlex.join([str(scenario.path), str(worktree)])
        outcome = run_command(command, worktree, config, timeout,
                              env={"ANDON_WORKTREE": str(worktree),
                                   "PYTHONDONTWRITEBYTECODE": "1"})
    if before is not None:
        _restore(worktree, before)
    passed = outcome.exit_code == 0 and not outcome.timed_out
    return ScenarioResult(
        scenario.title, "check", 1, int(passed), "ok" if passed else "failed",
        output=outcome.full or outcome.output, exit_code=outcome.exit_code,
        data={"timed_out": outcome.timed_out, "seconds": round(outcome.duration, 3),
              "sandboxed": sandboxed},
    )


def _status(worktree: Path) -> set[str]:
    proc = subprocess.run(
        ["git", "-c", "core.hooksPath=/dev/null", "status", "--porcelain", "-z",
         "--untracked-files=all"], cwd=worktree, capture_output=True, text=True, check=False)
    return {entry for entry in proc.stdout.split("\x00") if entry}


def _snapshot(worktree: Path) -> set[str]:
    return _status(worktree)


def _restore(worktree: Path, before: set[str]) -> None:
    """Unsandboxed only: undo what a scenario changed in the (then writable) worktree."""
    after = _status(worktree)
    for entry in after - before:
        code, path = entry[:2], entry[3:]
        target = worktree / path
        if code == "??":
            with contextlib.suppress(OSError):
                target.unlink()
        else:
            subprocess.run(["git", "-c", "core.hooksPath=/dev/null", "checkout", "-q", "--",
                            path], cwd=worktree, capture_output=True, check=False)


# -- stories judged by the model --------------------------------------------------------------


Ask = Callable[[str, str], str]  # (system, user text) -> the model's reply text


def judge_story(scenario: Scenario, diff: str, trials: int, ask: Ask) -> ScenarioResult:
    """Ask the model `trials` times, independently, whether the diff satisfies the story."""
    if len(diff) > MAX_DIFF_CHARS:
        diff = diff[:MAX_DIFF_CHARS] + "\n... (diff cut here)\n"
    prompt = (f"# Scenario\n{scenario.text().strip()}\n\n# The change (git diff)\n"
              f"```diff\n{diff}\n```\n\nIs the scenario satisfied? Give the verdict and "
              "the reason.")
    verdicts = [read_verdict(ask(JUDGE_SYSTEM, prompt)) for _ in range(trials)]
    passed = sum(1 for ok, _ in verdicts if ok)
    output = "\n\n".join(f"trial {n}: {'PASS' if ok else 'FAIL'}: {reason}"
                          for n, (ok, reason) in enumerate(verdicts, 1))
    return ScenarioResult(scenario.title, "story", trials, passed,
                          "ok" if passed == trials else "failed", output=output,
                          data={"verdicts": [ok for ok, _ in verdicts],
                                "reasons": [reason for _, reason in verdicts]})


def read_verdict(reply: str) -> tuple[bool, str]:
    """(passed, reason) from a judge's structured reply; a reply not in VERDICT_SCHEMA's
    shape is a failed trial that says so (never a guess from its wording)."""
    try:
        answer = json.loads(reply)
    except ValueError:
        answer = None
    if (isinstance(answer, dict) and answer.get("verdict") in ("PASS", "FAIL")
            and isinstance(answer.get("reason"), str)):
        return answer["verdict"] == "PASS", answer["reason"].strip()
    return False, f"no verdict in the judge's reply: {reply.strip()[:300]!r}"


def skipped_story(scenario: Scenario, why: str) -> ScenarioResult:
    return ScenarioResult(scenario.title, "story", 0, 0, "skipped", output=why)


def satisfaction(results: list[ScenarioResult]) -> float | None:
    """Passed trials / all trials; None when no trial ran."""
    trials = sum(r.trials for r in results)
    if not trials:
        return None
    return sum(r.passed for r in results) / trials
