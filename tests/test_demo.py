"""`andon demo`: the demo factory it builds, and what its specs do in the first minute."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from sqlmodel import col, select

from engine.demo import SPECS, demo_script_text, demo_spec_text
from engine.home import Home
from engine.spec import parse_spec
from policies.stored import policy_history, stored_policies
from store import models as m
from tests.conftest import git

ROOT = Path(__file__).resolve().parents[1]


def andon(*args: str, env: dict[str, str] | None = None,
          timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui", *args], capture_output=True,
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

    # Six specs with their scripts; the checks run with the interpreter that runs Andon.
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
        with db.read() as s:
            recurring = s.exec(select(m.Spec).where(col(m.Spec.schedule).is_not(None))).all()
    finally:
        db.close()
    # Five one-off specs queued, the recurring one stored for the scheduler.
    queued = {r["title"]: r for r in built["runs"]}
    assert len(queued) == 5 and all(r["status"] == "queued" for r in queued.values())
    assert {r["category"]: r["level"] for r in queued.values()} == {
        "docs": 4, "deps": 4, "bugfix": 3, "feature": 2}
    assert [s.title for s in recurring] == ["Refresh the status page"]


def test_a_demo_home_is_reopened_and_a_foreign_folder_refused(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    build(root)
    again = build(root)
    assert len(again["runs"]) == 5  # reopened as it was: nothing built or queued twice

    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    refused = andon("demo", "--home", str(other), "--headless", "0")
    assert refused.returncode == 2
    assert "not empty" in refused.stderr
    assert (other / "notes.txt").read_text() == "keep me"


def test_the_anthropic_demo_needs_a_key_and_then_uses_the_real_provider(
        tmp_path: Path) -> None:
    refused = andon("demo", "--home", str(tmp_path / "a"), "--model", "anthropic",
                    "--headless", "0")
    assert refused.returncode == 2
    assert "ANTHROPIC_API_KEY" in refused.stderr
    assert not (tmp_path / "a").exists()

    root = tmp_path / "b"
    build(root, "--model", "anthropic", env={"ANTHROPIC_API_KEY": "sk-test-not-used"})
    assert tomllib.loads((root / "andon.toml").read_text())["engine"]["provider"] == "anthropic"
    for name in SPECS:
        spec = parse_spec(root / "specs" / f"{name}.md")
        assert spec.front.model is None and spec.script_path is None


def test_time_scale_shrinks_the_scripted_delays() -> None:
    real = yaml.safe_load(demo_script_text("truncate-width", python="py"))
    fast = yaml.safe_load(demo_script_text("truncate-width", python="py", time_scale=0.1))
    real_delays = [t["delay"] for t in real["turns"]]
    assert all(0.5 <= d <= 2 for d in real_delays)
    assert [t["delay"] for t in fast["turns"]] == [round(d * 0.1, 3) for d in real_delays]


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
