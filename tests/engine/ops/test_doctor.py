"""`andon doctor`: a healthy home passes; loose permissions, a broken config, a corrupt
database and a missing home fail with what to fix; the API key is never printed;
the running engine is named."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from andon.engine.factory.home import Home
from andon.engine.llm.real import DEFAULT_MODEL
from andon.engine.ops import doctor
from andon.engine.service.lock import EngineLock
from tests.support import messages_server as ms


def andon(home: Path, *args: str, env: dict[str, str] | None = None
          ) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "andon.tui", "--home", str(home), "doctor", *args],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def by_name(checks: list[doctor.Check]) -> dict[str, doctor.Check]:
    return {c.name: c for c in checks}


def test_a_fresh_home_is_healthy_and_the_key_is_never_shown(home: Home) -> None:
    secret = "sk-ant-api03-very-secret-value"
    with ms.MessagesServer() as server:  # the model service, on loopback
        server.model(DEFAULT_MODEL, max_tokens=64_000)
        done = andon(home.root, "--json", env={"ANTHROPIC_API_KEY": secret,
                                               "ANTHROPIC_BASE_URL": server.url})
    assert done.returncode == 0, done.stdout + done.stderr
    assert secret not in done.stdout and secret not in done.stderr
    report = json.loads(done.stdout)
    assert report["healthy"] is True
    checks = {c["name"]: c for c in report["checks"]}
    assert set(checks) == {"home", "permissions", "config", "database", "disk", "git",
                           "bubblewrap", "setup", "api key", "model", "agents",
                           "engine"}
    assert checks["model"]["status"] == "ok"
    assert checks["model"]["detail"] == f"{DEFAULT_MODEL} (active), replies up to 64000 tokens"
    assert checks["api key"]["status"] == "ok" and "not shown" in checks["api key"]["detail"]
    assert checks["database"]["status"] == "ok"
    assert "integrity ok" in checks["database"]["detail"]
    assert checks["engine"]["detail"] == "no engine running"



def test_loose_permissions_fail_and_fix_repairs_them(home: Home) -> None:
    home.logs.chmod(0o755)
    home.config_path.chmod(0o644)
    check = doctor.check_permissions(home)
    assert check.status == "fail" and "andon.toml 644" in check.detail
    assert "deciding gates" in check.detail
    assert "logs 755" in check.detail and "andon doctor --fix" in check.fix

    fixed = andon(home.root, "--fix", "--json")
    assert fixed.returncode == 0, fixed.stdout
    assert "FAIL" not in fixed.stdout
    assert sorted(Path(p).name for p in json.loads(fixed.stdout)["fixed"]) == [
        "andon.toml", "logs"]
    assert home.logs.stat().st_mode & 0o777 == 0o700
    assert home.config_path.stat().st_mode & 0o777 == 0o600


def test_a_missing_home_fails_and_says_how_to_make_one(tmp_path: Path) -> None:
    results = doctor.run_checks(Home(tmp_path / "nowhere"))
    assert not doctor.healthy(results)
    checks = by_name(results)
    assert checks["home"].status == "fail" and "andon init" in checks["home"].fix
    assert not (tmp_path / "nowhere").exists()  # the doctor creates nothing


def test_a_broken_config_and_a_corrupt_database_fail(home: Home) -> None:
    home.config_path.write_text("[engine]\nconcurrency = 'lots'\n")
    with open(home.db_path, "r+b") as fh:  # scribble over the first page's b-tree
        fh.seek(100)
        fh.write(b"\xff" * 400)
    checks = by_name(doctor.run_checks(home))
    assert checks["config"].status == "fail" and "concurrency" in checks["config"].detail
    assert checks["database"].status == "fail"
    assert not doctor.healthy(list(checks.values()))


def test_the_running_engine_is_named(home: Home) -> None:
    lock = EngineLock(home.root, mode="daemon")
    lock.acquire()
    try:
        check = doctor.check_daemon(home)
    finally:
        lock.release()
    assert check.status == "warn"  # holds the lock but never wrote a heartbeat
    assert f"pid {lock.info.pid if lock.info else 0}" in check.detail


@pytest.mark.parametrize("key", ["", "x"])
def test_api_key_check_never_includes_the_value(home: Home, key: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    if key:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-zzz")
    check = doctor.check_api_key(home)
    assert "sk-ant" not in check.detail + check.fix
    assert check.status == ("ok" if key else "warn")


def test_doctor_says_where_setup_commands_run(home: Home) -> None:
    assert doctor.check_setup(home).detail == "no repository has setup commands"
    home.config_path.write_text('[repos]\nmyapp = { path = "/srv/myapp", setup = ["make"] }\n')
    home.reload()
    check = doctor.check_setup(home)
    assert "setup commands of myapp are trusted code" in check.detail
    assert "after a merge (the post-merge watch) they run in the sandbox" in check.detail


def test_the_model_check_asks_the_model_service_with_a_key(
        home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    home.config_path.write_text('[engine]\nmodel = "claude-nope-1"\n'
                                '[prices.claude-nope-1]\ninput = 1\noutput = 5\n')
    home.reload()
    assert doctor.check_model(home).status == "warn"  # no key: not asked
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
    with ms.MessagesServer() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        missing = doctor.check_model(home)
        server.model("claude-nope-1", max_tokens=8_000)
        known = doctor.check_model(home)
    assert missing.status == "fail"
    assert missing.detail == "claude-nope-1: the model service does not know this model"
    assert "[engine] model" in missing.fix
    assert known.status == "ok" and "replies up to 8000 tokens" in known.detail
    assert [r.path for r in server.requests] == ["/v1/models/claude-nope-1"] * 2


def test_a_model_with_no_price_fails_the_check_saying_how_to_set_one(home: Home) -> None:
    home.config_path.write_text('[engine]\nmodel = "claude-mythos-preview"\n')
    home.reload()
    check = doctor.check_model(home)
    assert check.status == "fail"
    assert '[prices."claude-mythos-preview"]' in check.detail


def test_a_home_on_postgres_checks_the_server(tmp_path: Path, pg_url: str) -> None:
    root = tmp_path / "host-b"
    root.mkdir()
    (root / "andon.toml").write_text(f'[store]\nurl = "{pg_url}"\n')
    Home(root).init().close()
    checks = by_name(doctor.run_checks(Home(root)))
    assert checks["home"].status == doctor.OK
    assert checks["database"].status == doctor.OK, checks["database"].detail
    assert checks["database"].detail.startswith("PostgreSQL postgresql://")

    (root / "andon.toml").write_text('[store]\nurl = "postgresql://andon@127.0.0.1:1/none"\n')
    check = doctor.check_database(Home(root))
    assert check.status == doctor.FAIL
    assert check.detail.startswith("postgresql://andon@127.0.0.1:1/none does not answer")


def test_doctor_reports_the_agent_backends_and_a_chosen_one_that_is_missing(
        home: Home, tmp_path: Path) -> None:
    from tests.engine.agent.test_backend import HIDDEN

    hider = tmp_path / "hide.py"
    hider.write_text(HIDDEN)
    policy = tmp_path / "docs.toml"
    policy.write_text('[docs]\nlevel = 4\nagent = "claude-code"\n')

    def agents(*cli: str) -> dict[str, str]:
        done = subprocess.run([*cli, "--home", str(home.root), "doctor", "--json"],
                              capture_output=True, text=True, timeout=120)
        return next(c for c in json.loads(done.stdout)["checks"] if c["name"] == "agents")

    installed = agents(sys.executable, "-m", "andon.tui")
    hidden = agents(sys.executable, str(hider))
    if installed["detail"].startswith("andon; claude-code "):  # the extra is here
        assert installed["status"] == "ok"
    assert hidden["status"] == "ok" and "no category chooses it" in hidden["detail"]
    subprocess.run([sys.executable, "-m", "andon.tui", "--home", str(home.root), "policies",
                    "import", str(policy)], check=True, capture_output=True, timeout=120)
    hidden = agents(sys.executable, str(hider))
    assert hidden["status"] == "fail" and "chosen by docs" in hidden["detail"]
    assert hidden["fix"] == "pip install 'andon[claude-code]'"
