"""andon.toml: one typed model; each mistake one error naming file, table, key and value,
from `andon doctor`, `andon serve` and SIGHUP alike; `andon doctor --fix` renames typos."""

from __future__ import annotations

import ast
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from andon.engine.factory.config import ConfigError, FactoryConfig, parse
from andon.engine.factory.configfix import fix_config, rename_key
from andon.engine.factory.home import Home
from andon.engine.ops import doctor
from andon.engine.service.runner import Engine
from andon.store.db import Database

ROOT = Path(__file__).resolve().parents[3]
ANDON = [sys.executable, "-m", "andon.tui"]

# The mistakes that used to pass `andon doctor` ("ok config") and fail every run later:
# (andon.toml, what the one error must say).
MISTAKES = [
    ("[engine]\nconcurency = 5\n",
     "[engine] concurency = 5: unknown key; did you mean 'concurrency'?"),
    ('[engine]\ncheck_timeout = "10"\n',
     '[engine] check_timeout = "10": must be a number; write check_timeout = 10'),
    ('[engine]\npost_merge_checks = "no"\n',
     '[engine] post_merge_checks = "no": must be true or false; write post_merge_checks '
     '= false'),
    ('[repos.app]\npath = "/src/app"\nmerge = "squash"\n',
     "[repos.app] merge = \"squash\": must be one of 'merge' or 'rebase'"),
    ('[repos]\napp = { path = "/src/app", bsae = "trunk" }\n',
     "[repos.app] bsae = \"trunk\": unknown key; did you mean 'base'?"),
    ("[engin]\nconcurrency = 3\n", "[engin]: unknown table; did you mean 'engine'?"),
    ("[engine]\nconcurrency = 2.5\n", "[engine] concurrency = 2.5: must be a whole number"),
    ("[engine]\nper_category = { docs = -1 }\n",
     "[engine.per_category] docs = -1: must be >= 0"),
    ('[engine]\ntimezone = "Mars/Olympus"\n',
     '[engine] timezone = "Mars/Olympus": is not a known time zone'),
    ('[engine]\nkeep_worktrees = "sometimes"\n',
     '[engine] keep_worktrees = "sometimes": must be "never", "failed", "always" or a '
     'number of hours'),
    ('[engine]\nprovider = "openai"\n',
     "[engine] provider = \"openai\": must be one of 'anthropic' or 'scripted'"),
    ('[notify]\nwebhook = "ftp://host/x"\n',
     '[notify] webhook = "ftp://host/x": must be an http:// or https:// URL'),
    ('[prices.my-model]\ninput = "3"\n',
     '[prices.my-model] input = "3": must be a number; write input = 3'),
    ("[repos.app]\nbase = \"main\"\n", "[repos.app] path: is required but missing"),
    ("[engine\n", "is not valid TOML"),
]


@pytest.mark.parametrize(("text", "said"), MISTAKES, ids=[m[1][:40] for m in MISTAKES])
def test_each_mistake_is_one_error_naming_file_table_key_and_value(
        tmp_path: Path, text: str, said: str) -> None:
    path = tmp_path / "andon.toml"
    with pytest.raises(ConfigError) as caught:
        parse(text, path)
    assert str(caught.value).startswith(f"{path}: ")
    assert said in str(caught.value)
    assert "more problem" not in str(caught.value)


def test_a_typo_is_reported_before_what_it_caused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse('[repos.app]\npaht = "/src/app"\n', tmp_path / "andon.toml")
    assert "paht" in str(caught.value) and "did you mean 'path'?" in str(caught.value)
    assert caught.value.rename == (("repos", "app"), "paht", "path")


def test_a_good_file_gives_typed_settings() -> None:
    config = parse('[engine]\nconcurrency = 4\ncheck_timeout = 30\npost_merge_checks = false\n'
                   'log_level = "debug"\nkeep_worktrees = 12\n'
                   '[repos]\napp = "~/src/app"\nlib = { path = "/src/lib", setup = "make" }\n'
                   '[notify]\nevents = []\n[prices.my-model]\ninput = 1\noutput = 5\n')
    engine = config.engine
    assert (engine.concurrency, engine.check_timeout, engine.post_merge_checks) == (4, 30.0,
                                                                                    False)
    assert (engine.log_level, engine.keep_worktrees) == ("DEBUG", 12.0)
    assert config.repos["app"].path == "~/src/app" and config.repos["lib"].setup == ["make"]
    assert config.notify.events == ("gate.opened", "run.failed", "run.stuck", "repo.blocked")
    assert config.price_overrides() == {"my-model": {"input": 1.0, "output": 5.0}}
    assert parse("") == FactoryConfig()


def test_the_default_andon_toml_is_valid(home: Home) -> None:
    assert home.load_config() == FactoryConfig(engine={"concurrency": 2,  # type: ignore[arg-type]
                                                       "provider": "anthropic"})


def test_only_the_config_module_reads_andon_toml() -> None:
    """All code reads settings from the typed model: no other module parses TOML for them
    (policy files are their own format) or reaches into a dict of settings."""
    readers = set()
    for path in (ROOT / "engine").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", "") or ""]
                if "tomllib" in names:
                    readers.add(path.relative_to(ROOT).as_posix())
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "get" and "config" in ast.unparse(node.func.value)
                    and "repos" not in ast.unparse(node.func.value)):
                readers.add(f"{path.relative_to(ROOT).as_posix()}: {ast.unparse(node)}")
    assert readers == {"engine/factory/config.py", "engine/factory/configfix.py"}


# -- andon doctor ---------------------------------------------------------------------


def test_doctor_names_the_mistake_and_offers_the_fix(home: Home) -> None:
    home.config_path.write_text('[engine]\nconcurency = 5\npost_merge_checks = true\n')
    check = {c.name: c for c in doctor.run_checks(home)}["config"]
    assert check.status == "fail"
    assert f"{home.config_path}: [engine] concurency = 5: unknown key" in check.detail
    assert "andon doctor --fix" in check.fix and "'concurrency'" in check.fix


def test_doctor_checks_prices_of_a_model_it_does_not_know(home: Home) -> None:
    home.config_path.write_text("[prices.my-model]\ninput = 1\n")
    check = {c.name: c for c in doctor.run_checks(home)}["config"]
    assert check.status == "fail" and "needs output" in check.detail


COMMENTED = """\
# my factory
[engine]
# how many at once
concurency = 5   # five
post_merge_checks = false

[repos]
app = { path = "/src/app", bsae = "trunk" }  # the app
"""


def test_doctor_fix_renames_misspelt_keys_and_keeps_the_comments(home: Home) -> None:
    home.config_path.write_text(COMMENTED)
    out = subprocess.run([*ANDON, "--home", str(home.root), "doctor", "--fix", "--json"],
                         capture_output=True, text=True, cwd=ROOT, check=False)
    report = json.loads(out.stdout)
    assert report["renamed"] == ["[engine] concurency -> concurrency",
                                 "[repos.app] bsae -> base"]
    assert report["backup"] is None
    assert home.config_path.read_text() == COMMENTED.replace("concurency", "concurrency") \
        .replace("bsae", "base")
    assert {c["name"]: c for c in report["checks"]}["config"]["status"] == "ok"
    assert home.config_path.stat().st_mode & 0o777 == 0o600


def test_doctor_fix_leaves_what_is_not_clear(home: Home) -> None:
    text = "[engine]\nconcurrency = 1\nconcurency = 2\ncheck_timeout = \"10\"\n"
    home.config_path.write_text(text)
    result = fix_config(home.config_path)
    assert result.renamed == [] and home.config_path.read_text() == text
    assert result.left is not None and "concurency" in str(result.left)


def test_a_layout_the_text_edit_cannot_follow_is_rewritten_with_a_backup(
        tmp_path: Path) -> None:
    path = tmp_path / "andon.toml"
    path.write_text("# dotted\nengine.concurency = 3\n")
    assert rename_key(path.read_text(), ("engine",), "concurency", "concurrency") is None
    result = fix_config(path)
    assert result.comments_lost and result.backup is not None
    assert result.backup.read_text() == "# dotted\nengine.concurency = 3\n"
    assert parse(path.read_text()).engine.concurrency == 3


def test_the_doctor_shows_the_table_name_as_written(home: Home) -> None:
    home.config_path.write_text('[engine]\ncheck_timeout = "10"\n')
    out = subprocess.run([*ANDON, "--home", str(home.root), "doctor"], capture_output=True,
                         text=True, cwd=ROOT, check=False, env=_wide())
    assert out.returncode == 1
    assert '[engine] check_timeout = "10": must be a number' in " ".join(out.stdout.split())


def _wide() -> dict[str, str]:
    import os

    return {**os.environ, "COLUMNS": "400"}


# -- andon serve and SIGHUP -------------------------------------------------------------


def test_serve_refuses_to_start_and_says_what_to_change(home: Home) -> None:
    home.config_path.write_text('[engine]\npost_merge_checks = "no"\n')
    out = subprocess.run([*ANDON, "--home", str(home.root), "serve"], capture_output=True,
                         text=True, cwd=ROOT, timeout=120, check=False, env=_wide())
    assert out.returncode == 2
    said = " ".join(out.stderr.split())
    assert f'{home.config_path}: [engine] post_merge_checks = "no": must be true or false; ' \
           "write post_merge_checks = false" in said
    log = home.logs / "andon.log"
    assert log.exists() and "post_merge_checks" in log.read_text()  # for the unattended


def test_sighup_keeps_the_previous_settings_and_logs_why(
        home: Home, db: Database, caplog: pytest.LogCaptureFixture) -> None:
    engine = Engine(home, db)
    home.config_path.write_text("[engine]\nconcurrency = 4\ncheck_timeout = 30\n")
    assert engine.reload() is True
    assert home.config.engine.check_timeout == 30  # what the pipeline reads
    home.config_path.write_text('[engine]\nconcurrency = 9\ncheck_timeout = "10"\n')
    with caplog.at_level(logging.ERROR, logger="andon.engine"):
        assert engine.reload() is False
    assert engine.settings.concurrency == 4 and home.config.engine.check_timeout == 30
    assert any("keeping the previous configuration" in r.message
               and 'check_timeout = "10"' in r.message for r in caplog.records)
