"""`andon demo`: the demo factory it builds, and what its specs do in the first minute."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import yaml
from sqlmodel import col, select

from andon.engine.agent import backend
from andon.engine.errors import UserError
from andon.engine.factory.home import Home
from andon.engine.gates.gate import decide_gate
from andon.engine.llm.real import DEFAULT_MODEL
from andon.engine.ops.demo import SPECS, build_demo, demo_script_text, demo_spec_text
from andon.engine.spec.specfile import parse_spec
from andon.engine.workspace.sandbox import bwrap_available
from andon.policies.stored import policy_history, stored_policies
from andon.store import models as m
from andon.store.db import Database
from tests.conftest import git
from tests.support.messages_server import MessagesServer, streamed

# Whole factories in subprocesses: minutes on a loaded machine, not the suite's 120 s.
pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[3]
#: Where the claude-code extra is installed the demo queues its Claude Code spec too.
CLAUDE_CODE = backend.missing(backend.CLAUDE_CODE) is None
ONE_OFF = 5 + CLAUDE_CODE  # the runs the demo queues (the recurring spec waits)


def andon(*args: str, env: dict[str, str] | None = None,
          timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "andon.tui", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def build(root: Path, *extra: str, env: dict[str, str] | None = None) -> dict:
    done = andon("demo", "--home", str(root), "--headless", "0", "--json", *extra, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_build_only_makes_a_complete_demo_home(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    built = build(root)
    assert built["home"] == str(root)

    # The home: database, config naming the sample repository, the usual folders.
    for name in ("andon.db", "andon.toml", "worktrees", "scenarios", "logs", "specs",
                 "DEMO.md"):
        assert (root / name).exists(), name
    config = tomllib.loads((root / "andon.toml").read_text())
    assert config["engine"]["provider"] == "scripted"
    assert config["repos"]["sample"] == {"path": str(root / "sample"), "base": "main"}

    # The sample repository: a git repo on main, one commit, whose own tests pass.
    repo = root / "sample"
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert git(repo, "rev-list", "--count", "main") == "1"
    assert git(repo, "status", "--porcelain") == ""
    assert (repo / ".github/workflows/ci.yml").exists() and (repo / ".gitignore").exists()
    tests = subprocess.run([sys.executable, "-m", "unittest", "-q"], cwd=repo,
                           capture_output=True, text=True, timeout=60)
    assert tests.returncode == 0, tests.stderr
    docs = subprocess.run([sys.executable, "tools/check_docs.py", "README.md"], cwd=repo,
                          capture_output=True, text=True, timeout=60)
    assert docs.returncode == 1 and "truncate() is not documented" in docs.stdout

    # Seven specs with their scripts; the checks run with the interpreter that runs Andon.
    for name in SPECS:
        spec = parse_spec(root / "specs" / f"{name}.md")
        assert spec.front.repo == "sample" and spec.front.model == "scripted"
        assert spec.front.checks and all(c.startswith(sys.executable) for c in spec.front.checks)
        assert spec.script_path is not None and spec.script_path.exists()
        assert "{python}" not in spec.script_path.read_text()
    assert parse_spec(root / "specs" / "status-page.md").front.schedule == "*/1 * * * *"
    # Holdout scenarios in the home, outside the repository the agent works in.
    scenario = root / "scenarios" / "readme-truncate" / "documented.sh"
    assert os.access(scenario, os.X_OK)
    assert not list(repo.rglob("documented.sh"))

    # Policies for the four lines, audited as the demo's.
    home = Home(root)
    db = home.open()
    try:
        levels = {c: int(p.level) for c, p in stored_policies(db).items()}
        assert {k: levels[k] for k in ("docs", "deps", "bugfix", "feature")} == {
            "docs": 4, "deps": 4, "bugfix": 3, "feature": 2}
        assert [c.user for c in policy_history(db, "deps")][-1] == "andon-demo"
        if bwrap_available()[0]:  # sandboxed here: nothing runs outside the walls
            assert not any(p.allow_unsandboxed for p in stored_policies(db).values())
        with db.read() as s:
            recurring = s.exec(select(m.Spec).where(col(m.Spec.schedule).is_not(None))).all()
    finally:
        db.close()
    # Five one-off specs queued, the recurring one stored for the scheduler.
    queued = {r["title"]: r for r in built["runs"]}
    assert len(queued) == ONE_OFF and all(r["status"] == "queued" for r in queued.values())
    assert {r["category"]: r["level"] for r in queued.values()} == {
        "docs": 4, "deps": 4, "bugfix": 3, "feature": 2,
        **({"claude-code": 3} if CLAUDE_CODE else {})}
    assert [s.title for s in recurring] == ["Refresh the status page"]


def test_a_demo_home_is_reopened_and_a_foreign_folder_refused(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    build_demo(root)
    again = build(root)
    assert len(again["runs"]) == ONE_OFF  # reopened as it was: nothing built or queued twice

    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match="not empty"):
        build_demo(other)
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]


def test_the_anthropic_demo_needs_a_key_and_then_uses_the_real_provider(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    refused = andon("demo", "--home", str(tmp_path / "a"), "--model", "anthropic",
                    "--headless", "0")
    assert refused.returncode == 2
    assert "ANTHROPIC_API_KEY" in refused.stderr
    assert not (tmp_path / "a").exists()

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-not-used")
    root = tmp_path / "b"
    build_demo(root, model="anthropic")
    assert tomllib.loads((root / "andon.toml").read_text())["engine"]["provider"] == "anthropic"
    for name in SPECS:
        spec = parse_spec(root / "specs" / f"{name}.md")
        assert spec.front.model is None and spec.script_path is None


def test_without_bubblewrap_the_demo_says_so_and_its_policies_allow_it(
        tmp_path: Path) -> None:
    """A fresh machine often lacks bwrap: the demo still runs, and says what that means."""
    bin_dir = tmp_path / "bin"  # a PATH with git but no bwrap
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    root = tmp_path / "demo"
    done = andon("demo", "--home", str(root), "--headless", "0", env={"PATH": str(bin_dir)})
    assert done.returncode == 0, done.stderr
    assert "WITHOUT the bubblewrap sandbox" in " ".join(done.stdout.split())
    db = Home(root).open()
    try:
        policies = stored_policies(db)
    finally:
        db.close()
    assert all(policies[c].allow_unsandboxed for c in ("docs", "deps", "bugfix", "feature"))


def _delays(script: dict) -> list[float]:
    groups = script.get("attempts") or [script["turns"]]
    return [turn["delay"] for group in groups for turn in group]


def test_scripted_turns_take_visible_time_and_time_scale_shrinks_it() -> None:
    for name in SPECS:
        real = _delays(yaml.safe_load(demo_script_text(name, python="py")))
        assert real and all(0.5 <= d <= 2 for d in real), name  # runs visibly progress
        fast = _delays(yaml.safe_load(demo_script_text(name, python="py", time_scale=0.1)))
        assert fast == [round(d * 0.1, 3) for d in real], name


def test_the_example_specs_are_the_demo_specs() -> None:
    for name in SPECS:
        assert (ROOT / "specs" / f"{name}.md").read_text() == demo_spec_text(
            name, model="scripted", python="python3")
        assert (ROOT / "specs" / f"{name}.script.yaml").read_text() == demo_script_text(
            name, python="python3")
        parse_spec(ROOT / "specs" / f"{name}.md")


def test_make_demo_is_the_command_the_readme_gives() -> None:
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```sh\n(.*?)```", readme, re.S)
    assert first_block is not None and readme.index("```sh") == readme.index("```")
    assert re.search(r"^make demo\b", first_block.group(1), re.M)
    assert re.search(r"^make test\b", first_block.group(1), re.M)
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^demo:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe is not None and "andon demo" in recipe.group(1)
    assert "--model" not in recipe.group(1)  # no API key: the scripted model


# -- the first minute -------------------------------------------------------------------

FIRST_MINUTE_SCALE = "0.05"  # 60 s of demo in ~3 s of schedule; scripted delays x 0.05
DEADLINE = 90.0  # wall seconds before the test gives up (it ends as soon as all is seen)


def _state(db: Database) -> dict[str, dict]:
    """Per demo spec (by file name): its runs, their gates and steps, as the board sees."""
    with db.read() as s:
        specs = {Path(sp.path).stem: sp.id for sp in s.exec(select(m.Spec)).all()}
        runs = s.exec(select(m.Run).order_by(col(m.Run.id))).all()
        gates = s.exec(select(m.Gate).order_by(col(m.Gate.id))).all()
        steps = s.exec(select(m.Step).where(m.Step.kind == "check")
                       .order_by(col(m.Step.id))).all()
        events = s.exec(select(m.Event).where(m.Event.kind == "run.queued")).all()
    state: dict[str, dict] = {}
    for name, spec_id in specs.items():
        mine = [r for r in runs if r.spec_id == spec_id]
        ids = {r.id for r in mine}
        state[name] = {
            "runs": mine,
            "gates": [g for g in gates if g.run_id in ids],
            "checks": [st for st in steps if st.run_id in ids],
            "queued": [e.message for e in events if e.run_id in ids],
        }
    return state


def _pending(entry: dict, kind: str) -> m.Gate | None:
    return next((g for g in entry["gates"] if g.kind == kind and g.status == m.PENDING), None)


@pytest.mark.slow
def test_the_first_minute_of_the_demo(tmp_path: Path) -> None:
    """Headless, time-scaled: each demo spec reaches the outcome it is there to show."""
    root = tmp_path / "demo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "andon.tui", "demo", "--home", str(root), "--headless", "120",
         "--time-scale", FIRST_MINUTE_SCALE, "--screenshot", str(tmp_path / "board.svg"),
         "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: dict[str, bool] = {}
    st: dict[str, dict] = {}
    approved_plan = False
    try:
        deadline = time.monotonic() + DEADLINE
        while not (root / "DEMO.md").exists() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        db = Database(root / "andon.db")
        try:
            while time.monotonic() < deadline:
                assert proc.poll() is None, proc.communicate()
                st = _state(db)
                if len(st) < len(SPECS) - (not CLAUDE_CODE):
                    time.sleep(0.1)
                    continue
                docs, usage = st["readme-truncate"], st["usage-guide"]
                ci, bug = st["ci-python-313"], st["truncate-width"]
                feat, status = st["word-count"], st["status-page"]
                seen["docs merged dark"] = (
                    [r.status for r in docs["runs"]] == ["merged"] and not docs["gates"])
                seen["fail-then-fix merged on attempt 2"] = (
                    [(r.status, r.attempt) for r in usage["runs"]] == [("merged", 2)]
                    and [c.status for c in usage["checks"]][:1] == ["failed"]
                    and usage["checks"][-1].status == "ok" and not usage["gates"])
                seen["protected path escalated"] = bool(
                    ci["runs"] and ci["runs"][0].status == m.WAITING and ci["runs"][0].escalated
                    and _pending(ci, "escalation"))
                seen["bugfix waiting at review"] = bool(
                    bug["runs"] and bug["runs"][0].status == m.WAITING
                    and _pending(bug, "review"))
                plan = _pending(feat, "plan")
                if plan is not None and not approved_plan:
                    # A person approves the plan (what `andon approve` does, from this
                    # process); the feature then asks for its first edit.
                    decide_gate(db, plan.id or 0, "approve")
                    approved_plan = True
                seen["feature waiting at an action gate"] = bool(
                    approved_plan and feat["runs"] and feat["runs"][0].status == m.WAITING
                    and _pending(feat, "action"))
                if CLAUDE_CODE:  # the same line, implemented by Claude Code
                    cc = st["slug-apostrophes"]
                    seen["claude code waiting at review"] = bool(
                        cc["runs"] and cc["runs"][0].status == m.WAITING
                        and _pending(cc, "review"))
                seen["recurring spec fired"] = any(
                    "scheduled" in msg for msg in status["queued"])
                if all(seen.values()):
                    break
                time.sleep(0.25)
        finally:
            db.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=240)
    assert all(seen.values()), f"not seen in {DEADLINE:.0f}s: " + ", ".join(
        k for k, v in seen.items() if not v) + "".join(
        f"\n{name}: " + "; ".join(f"#{r.id} {r.status} at {r.stage}, attempt {r.attempt}: "
                                  f"{r.reason}" for r in entry["runs"])
        + " gates: " + ", ".join(f"{g.kind} {g.status}" for g in entry["gates"])
        for name, entry in st.items()) + f"\n{err[-3000:]}"
    assert proc.returncode == 0, err

    # The headless summary names every run, each by its scripted model.
    summary = json.loads(out[out.index("{"):])
    assert {r["model"] for r in summary["runs"]} == {"scripted"}
    # The dark merges are in the sample repository's main branch.
    repo = root / "sample"
    assert "### `truncate(" in git(repo, "show", "main:README.md")
    assert "'hello-world'" in git(repo, "show", "main:docs/usage.md")
    assert "3.13" not in git(repo, "show", "main:.github/workflows/ci.yml")  # escalated
    # The board as the README shows it (docs/board.svg is made the same way).
    board = (tmp_path / "board.svg").read_text()
    for text in ("need", "Document", "Add", "word_count()"):
        assert text in board, text


def test_the_anthropic_demo_talks_to_the_api_with_the_real_model(tmp_path: Path) -> None:
    """`--model anthropic`: the same specs, sent to the Messages API (a loopback server
    here) as the real model, with the key from the environment."""
    root = tmp_path / "demo"
    with MessagesServer() as server:
        for _ in range(40):
            server.add(streamed("Nothing to change."))
        env = {**os.environ, "ANTHROPIC_API_KEY": "sk-test-loopback",
               "ANTHROPIC_BASE_URL": server.url}
        proc = subprocess.Popen(
            [sys.executable, "-m", "andon.tui", "demo", "--home", str(root), "--model", "anthropic",
             "--headless", "60", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            deadline = time.monotonic() + 90
            # message requests (each run also asks the Models API for its model's limit)
            while (len([r for r in server.requests if r.body]) < 4
                   and time.monotonic() < deadline):
                assert proc.poll() is None, proc.communicate()
                time.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        bodies = [r.body for r in server.requests if r.body]
        assert len(bodies) >= 4
        assert {b["model"] for b in bodies} == {DEFAULT_MODEL}
        # The key from the environment authenticates every request (SDK 2.x: a bearer token).
        assert all("sk-test-loopback" in " ".join(r.headers.values()) for r in server.requests)
        # The requests carry the demo specs (their intents go to the model).
        asked = " ".join(json.dumps(b) for b in bodies)
        assert "truncate()" in asked
    models = {r["model"] for r in json.loads(out)["runs"] if r["model"]}
    assert models == {DEFAULT_MODEL}


def test_without_the_claude_code_extra_the_demo_leaves_its_spec_out_and_says_how(
        tmp_path: Path) -> None:
    from tests.engine.agent.test_backend import HIDDEN

    hider = tmp_path / "hide.py"  # an interpreter that cannot import the extra
    hider.write_text(HIDDEN)
    root = tmp_path / "demo"
    done = subprocess.run([sys.executable, str(hider), "demo", "--home", str(root),
                           "--headless", "0", "--json"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    note = (root / "DEMO.md").read_text()
    assert "specs/slug-apostrophes.md is not queued" in note
    assert "pip install 'andon[claude-code]'" in note
    db = Home(root).open()
    try:
        with db.read() as s:
            categories = {r.category for r in s.exec(select(m.Run)).all()}
    finally:
        db.close()
    assert "claude-code" not in categories and "bugfix" in categories
