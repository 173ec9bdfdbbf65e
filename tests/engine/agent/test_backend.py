"""Choosing the agent backend: `agent:` in a spec or a category's policy, checked where a
person writes it, part of a run's fingerprint, and refused at submit on a machine
without the claude-code extra (with the command that installs it)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from andon.engine.agent import backend
from andon.engine.errors import SpecError
from andon.engine.factory.home import Home
from andon.engine.readiness.fingerprint import policy_digest, run_parts
from andon.engine.run.queue import upsert_spec
from andon.engine.spec.specfile import parse_spec
from andon.policies.files import PolicyFileError, parse_policies
from andon.policies.policy import Policy
from andon.store.db import Database
from tests.conftest import write_spec


def spec_at(folder: Path, repo: Path, extra: str = "") -> Path:
    return write_spec(folder, "readme", f"""
        title: Document shout()
        category: docs
        repo: {repo}
        model: scripted
        {extra}
        """, script="turns: [done]\n")


def test_a_spec_naming_an_unknown_agent_is_refused_naming_the_field_and_value(
        tmp_path: Path, sample_repo: Path) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(spec_at(tmp_path, sample_repo, "agent: codex"))
    assert caught.value.field == "agent"
    assert "'codex'" in str(caught.value) and "'claude-code'" in str(caught.value)


def test_a_policy_naming_an_unknown_agent_is_refused_naming_category_field_and_value() -> None:
    with pytest.raises(PolicyFileError) as caught:
        parse_policies('[docs]\nlevel = 4\nagent = "codex"\n', source="p.toml")
    assert str(caught.value) == ("p.toml: category 'docs', field 'agent': must be one of "
                                 "'andon', 'claude-code' (got 'codex')")
    assert parse_policies('[docs]\nagent = "claude-code"\n')["docs"].agent == "claude-code"


def test_the_spec_chooses_over_the_category_and_the_choice_is_in_the_fingerprint(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path) -> None:
    plain = upsert_spec(db, parse_spec(spec_at(tmp_path / "a", sample_repo)))
    chosen = upsert_spec(db, parse_spec(spec_at(tmp_path / "b", sample_repo,
                                                "agent: claude-code")))
    andon_docs = Policy.default("docs", 4)
    cc_docs = andon_docs.model_copy(update={"agent": "claude-code"})
    assert backend.chosen(plain, andon_docs) == "andon"
    assert backend.chosen(plain, cc_docs) == "claude-code"
    assert backend.chosen(chosen, andon_docs) == "claude-code"
    assert run_parts(home, plain, andon_docs)["backend"] == "builtin"
    assert run_parts(home, chosen, andon_docs)["backend"] == backend.version("claude-code")
    assert run_parts(home, plain, cc_docs)["backend"] != "builtin"
    # the backend is its own part: the policy's hash stays, so nothing is counted twice
    assert policy_digest(cc_docs) == policy_digest(andon_docs)


HIDDEN = textwrap.dedent("""\
    import sys
    from importlib.abc import MetaPathFinder

    class Hide(MetaPathFinder):  # this interpreter is a machine without the extra
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "claude_agent_sdk":
                raise ModuleNotFoundError(name)
            return None

    sys.meta_path.insert(0, Hide())
    from andon.tui.cli import main
    sys.argv = ["andon", *sys.argv[1:]]
    main()
    """)


@pytest.mark.parametrize("where", ["spec", "policy"])
def test_submit_refuses_claude_code_where_the_extra_is_missing(
        tmp_path: Path, home: Home, db: Database, sample_repo: Path, where: str) -> None:
    if where == "policy":
        subprocess.run([sys.executable, "-m", "andon.tui", "--home", str(home.root),
                        "policies", "import", str(_policy(tmp_path))], check=True,
                       capture_output=True, timeout=120)
    spec = spec_at(tmp_path / "specs", sample_repo,
                   "agent: claude-code" if where == "spec" else "")
    hider = tmp_path / "hide.py"
    hider.write_text(HIDDEN)
    done = subprocess.run([sys.executable, str(hider), "--home", str(home.root), "submit",
                           str(spec)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    said = done.stdout + done.stderr
    assert "field 'agent'" in said and "pip install 'andon[claude-code]'" in said
    assert ("category 'docs' policy's agent" in said) == (where == "policy")
    with db.read() as s:
        from sqlmodel import select

        from andon.store import models as m

        assert s.exec(select(m.Run)).all() == []


def _policy(tmp_path: Path) -> Path:
    path = tmp_path / "docs.toml"
    path.write_text('[docs]\nlevel = 4\nagent = "claude-code"\n')
    return path
