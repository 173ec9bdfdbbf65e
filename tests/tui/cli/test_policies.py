"""`andon policies`, `andon level`, `andon gates/approve/reject` as a person and a script
use them: list, show, export/import round trip (a bad file changes nothing), the audit
log, level changes with the track record and confirmation for level 4, approvers."""

from __future__ import annotations

import io
import json
import os
import pwd
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlmodel import select

from andon.engine.factory.home import Home
from andon.engine.gates.gate import list_gates, open_gate
from andon.policies.files import default_policies
from andon.policies.stored import current_user, load_policy, save_policies
from andon.store import models as m
from andon.store.db import Database
from andon.tui.cli import main
from tests.engine.gates.test_gate import make_run


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


def cli(home: Home, *args: str, stdin: str = "",
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Result:
    """Run `andon --home HOME ARGS` in this process: the real main(), exit code included
    (a subprocess per call costs a second of imports)."""
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["andon", "--home", str(home.root), *args])
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


@pytest.fixture
def andon(home: Home, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    def run(*args: str, stdin: str = "") -> Result:
        return cli(home, *args, stdin=stdin, monkeypatch=monkeypatch, capsys=capsys)
    return run


def test_policies_lists_and_shows_the_seeded_defaults(andon) -> None:
    listed = andon("policies", "--json")
    assert listed.code == 0, listed.err
    assert [p["category"] for p in listed.json()] == sorted(default_policies())
    text = andon("policies").out
    assert "docs" in text and "4 dark" in text and "2 supervised" in text

    shown = andon("policies", "show", "feature", "--json").json()
    assert shown["policy"]["level"] == 2
    assert shown["gated"] == ["edit", "shell", "plan", "merge", "escalation"]
    assert shown["record"]["runs"] == 0
    assert shown["recommendation"]["action"] == "hold"
    missing = andon("policies", "show", "nope")
    assert missing.code == 2 and "no policy for category 'nope'" in missing.err


def test_init_twice_keeps_a_persons_changes(andon, db: Database) -> None:
    assert andon("level", "feature", "3", "--reason", "trusted now").code == 0
    assert andon("init").code == 0
    assert andon("init").code == 0
    assert load_policy(db, "feature").level == 3
    assert andon("policies", "--json").json()[3]["level"] == 3


def test_export_import_round_trip_and_a_bad_file_changes_nothing(
        andon, db: Database, tmp_path: Path) -> None:
    exported = tmp_path / "policies.toml"
    assert andon("policies", "export", str(exported)).code == 0
    printed = andon("policies", "export").out
    assert printed == exported.read_text()

    same = andon("policies", "import", str(exported), "--json")
    assert same.code == 0 and same.json() == []  # nothing changed, nothing audited
    assert andon("policies", "export").out == printed

    edited = tmp_path / "edited.toml"
    edited.write_text(printed.replace("max_diff_lines = 300", "max_diff_lines = 250", 1))
    changed = andon("policies", "import", str(edited), "--reason", "smaller docs diffs")
    assert changed.code == 0, changed.err
    assert "bugfix: max_diff_lines 300 -> 250" in changed.out
    assert andon("policies", "export").out == edited.read_text()

    before = andon("policies", "export").out
    bad = tmp_path / "bad.toml"
    bad.write_text(printed.replace("max_diff_lines = 300", "max_diff_lines = 250", 1)
                   .replace("[feature]\nlevel = 2", "[feature]\nlevel = 7", 1))
    refused = andon("policies", "import", str(bad))
    assert refused.code == 2
    assert f"{bad}: category 'feature', field 'level': must be 2, 3 or 4 (got 7)" in \
        " ".join(refused.err.split())
    assert andon("policies", "export").out == before  # not even the valid bugfix change


def test_a_bad_import_from_the_real_command_exits_2(home: Home, tmp_path: Path) -> None:
    bad = tmp_path / "typo.toml"
    bad.write_text("[docs]\nlevle = 3\n")
    done = subprocess.run([sys.executable, "-m", "andon.tui", "--home", str(home.root),
                           "policies", "import", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "category 'docs', field 'levle': unknown field (did you mean 'level'?)" in \
        " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr


def test_level_changes_are_audited_with_who_and_why(andon) -> None:
    changed = andon("level", "bugfix", "2", "--reason", "too many reverts", "--json")
    assert changed.code == 0, changed.err
    assert changed.json() == {"category": "bugfix", "level": 2, "old_level": 3,
                              "changed": True}
    history = andon("policies", "history", "bugfix", "--json").json()
    assert [(h["field"], h["old"], h["new"], h["user"], h["reason"]) for h in history] == [
        ("policy", None, history[0]["new"], "andon", "default policy"),
        ("level", 3, 2, current_user(), "too many reverts")]
    assert "too many reverts" in andon("policies", "history", "bugfix").out

    same = andon("level", "bugfix", "2", "--reason", "again")
    assert same.code == 0 and "already at level 2" in same.out
    assert andon("level", "bugfix", "9", "--reason", "x").code == 2
    unknown = andon("level", "bugfx", "3", "--reason", "x")
    assert unknown.code == 2 and "no policy for category 'bugfx'" in unknown.err


def test_raising_to_level_4_shows_the_track_record_and_asks(andon, db: Database) -> None:
    declined = andon("level", "bugfix", "4", "--reason", "it has been fine", stdin="n\n")
    assert declined.code == 1
    assert "track record of bugfix" in declined.out
    assert "runs 0, merged 0" in declined.out
    assert "Hold: 0 of 20 runs so far" in " ".join(declined.out.split())
    assert "Continue?" in declined.out
    assert load_policy(db, "bugfix").level == 3

    accepted = andon("level", "bugfix", "4", "--reason", "it has been fine", stdin="y\n")
    assert accepted.code == 0, accepted.err
    assert load_policy(db, "bugfix").level == 4

    andon("level", "bugfix", "3", "--reason", "back")
    scripted = andon("level", "bugfix", "dark", "--reason", "scripted", "--yes", "--json")
    assert scripted.code == 0 and scripted.json()["level"] == 4


def test_an_import_raising_a_category_to_level_4_shows_its_record_and_asks(
        andon, db: Database, tmp_path: Path) -> None:
    printed = andon("policies", "export").out
    dark = tmp_path / "dark.toml"
    dark.write_text(printed.replace("[bugfix]\nlevel = 3", "[bugfix]\nlevel = 4", 1)
                    .replace("max_diff_lines = 300", "max_diff_lines = 250", 1))
    assert dark.read_text() != printed.replace("max_diff_lines = 300", "max_diff_lines = 250",
                                               1)  # the file does raise bugfix
    declined = andon("policies", "import", str(dark), stdin="n\n")
    assert declined.code == 1
    assert "track record of bugfix" in declined.out and "Continue?" in declined.out
    assert load_policy(db, "bugfix").level == 3
    assert andon("policies", "export").out == printed  # nothing of the file was stored

    closed = andon("policies", "import", str(dark))  # a script with no answer to give
    assert closed.code == 1 and load_policy(db, "bugfix").level == 3

    accepted = andon("policies", "import", str(dark), "--reason", "ready", stdin="y\n")
    assert accepted.code == 0, accepted.err
    assert load_policy(db, "bugfix").level == 4
    assert "bugfix: level 3 -> 4" in accepted.out

    again = andon("policies", "import", str(dark), "--json")  # already dark: no question
    assert again.code == 0 and again.json() == []
    andon("level", "bugfix", "3", "--reason", "back")
    scripted = andon("policies", "import", str(dark), "--yes", "--json")
    assert scripted.code == 0 and load_policy(db, "bugfix").level == 4


def test_gates_approve_and_reject_from_the_command_line(andon, db: Database) -> None:
    run_id = make_run(db)
    first = open_gate(db, run_id, "action", "run: make", {"command": "make"})
    listed = andon("gates", "--json").json()
    assert [(g["id"], g["kind"], g["status"], g["timed_out"]) for g in listed] == [
        (first.id, "action", "pending", False)]
    assert "run: make" in andon("gates").out
    shown = andon("gate", str(first.id))
    assert shown.code == 0, shown.err
    assert "command: make" in shown.out
    assert f"andon approve {first.id}" in shown.out
    assert andon("gate", str(first.id), "--json").json()["detail"] == {"command": "make"}

    refused = andon("reject", str(first.id))
    assert refused.code == 2  # --comment is required
    rejected = andon("reject", str(first.id), "--comment", "use the Makefile target", "--json")
    assert rejected.code == 0, rejected.err
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["comment"] == "use the Makefile target"
    assert andon("gates", "--json").json() == []
    assert [g["id"] for g in andon("gates", "--all", "--json").json()] == [first.id]
    again = andon("approve", str(first.id))
    assert again.code == 2 and "already rejected" in again.err


def test_a_person_not_on_the_approvers_list_is_refused(andon, db: Database) -> None:
    policy = load_policy(db, "migration").model_copy(update={"approvers": ["dba-alice"]})
    save_policies(db, [policy], user="dba-alice", reason="only DBAs")
    run_id = make_run(db, "migration")
    gate = open_gate(db, run_id, "review", "review: add a column",
                     {"diff": "--- a/x.sql\n+++ b/x.sql\n+ALTER TABLE t ADD c int;\n",
                      "checks": [{"command": "pytest -q", "passed": True}],
                      "satisfaction": 1.0})
    shown = andon("gate", str(gate.id)).out
    assert "+ALTER TABLE t ADD c int;" in shown and "check pytest -q: passed" in shown
    assert f"andon revise {gate.id}" in shown
    refused = andon("approve", str(gate.id))
    assert refused.code == 2
    assert (f"{current_user()} may not decide gates of category 'migration': its approvers "
            f"are dba-alice") in " ".join(refused.err.split())
    assert [g.status for g in list_gates(db, run_id=run_id)] == [m.PENDING]

    # Those who may answer a line's gates are those who may say how dark it runs.
    darker = andon("level", "migration", "3", "--reason", "it has been fine")
    assert darker.code == 2
    assert (f"{current_user()} may not change the level of 'migration': its approvers are "
            f"dba-alice") in " ".join(darker.err.split())
    assert load_policy(db, "migration").level == policy.level


def test_the_approver_is_the_real_user_whatever_logname_says(
        andon, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    real = pwd.getpwuid(os.getuid()).pw_name
    if real == "alice":
        pytest.skip("this test pretends to be alice; it cannot run as alice")
    policy = load_policy(db, "migration").model_copy(update={"approvers": ["alice"]})
    save_policies(db, [policy], user="alice", reason="only alice")
    run_id = make_run(db, "migration")
    gate = open_gate(db, run_id, "review", "review: add a column", {"diff": ""})
    for var in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.setenv(var, "alice")
    refused = andon("approve", str(gate.id))
    assert refused.code == 2
    assert f"{real} may not decide gates of category 'migration'" in " ".join(refused.err.split())
    assert [g.status for g in list_gates(db, run_id=run_id)] == [m.PENDING]

    # One who may decide does; the record says who, from which machine.
    save_policies(db, [policy.model_copy(update={"approvers": [real]})], user=real,
                  reason="and the operator")
    assert andon("approve", str(gate.id)).code == 0
    with db.read() as s:
        event = s.exec(select(m.Event).where(m.Event.kind == "gate.decided")).one()
    assert event.data is not None
    assert (event.data["by"], event.data["host"]) == (real, socket.gethostname())
    assert event.data["uid"] == os.getuid()


def test_policy_history_reads_as_values_not_python_reprs(andon, tmp_path: Path) -> None:
    changed = tmp_path / "docs.toml"
    changed.write_text('[docs]\nlevel = 4\nprotected_paths = ["docs/legal/**", "SECURITY.md"]\n')
    assert andon("policies", "import", str(changed), "--reason", "legal asked").code == 0
    out = andon("policies", "history", "docs").out
    assert "SECURITY.md" in out and "usd 2, turns" in out  # values, as written
    assert "'SECURITY.md'" not in out and "['" not in out and "None" not in out


def test_bash_timeout_is_a_policy_setting_checked_like_the_others(
        andon, db: Database, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[docs]\nlevel = 4\nbash_timeout = 0\n")
    refused = andon("policies", "import", str(bad))
    assert refused.code == 2
    assert f"{bad}: category 'docs', field 'bash_timeout': input should be greater than 0 " \
        "(got 0)" in " ".join(refused.err.split())
    assert "bash_timeout" not in andon("policies", "export").out  # unset: 120 s, not written

    good = tmp_path / "good.toml"
    good.write_text("[docs]\nlevel = 4\nbash_timeout = 600\n")
    assert andon("policies", "import", str(good), "--reason", "slow builds").code == 0
    assert load_policy(db, "docs").bash_seconds == 600
    assert "bash_timeout = 600" in andon("policies", "export").out
