"""A factory whose disk fills mid-run, then gets the space back.

Run inside a private mount namespace with a small tmpfs mounted (see
tests/engine/service/test_full_disk.py): `python -m tests.support.fulldisk MODE HOME REPO OUTSIDE`.

* MODE "home": the tmpfs holds the whole home. The first run's setup command fills it;
  the engine must free the run's slot, the CLI and the engine's log must say so in one
  line, and once the space is back both queued runs must merge.
* MODE "repo": the tmpfs holds only the repository (REPO is created there), so the
  database takes writes while git cannot: setup fills the disk, committing the agent's
  turn fails, and the run must be held for resume (not failed), then merge once the
  space is back.

Prints one JSON object with what happened (the test asserts on it).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from andon.engine.factory.config import EngineConfig
from andon.engine.factory.home import Home
from andon.engine.run.queue import submit
from andon.engine.service.runner import Engine
from andon.policies.policy import Policy
from andon.policies.stored import save_policies
from andon.store import models as m
from andon.store.db import Database
from tests.conftest import make_repo

GREET = """\
- text: Adding a greeting.
  tool_use:
    - name: str_replace_based_edit_tool
      input: {command: create, path: NAME.txt, file_text: "hello\\n"}
"""
FILL = """\
- text: Making room for a big build.
  tool_use:
    - name: bash
      input: {command: "head -c 1000000000 /dev/zero > ballast; true"}
"""
DONE = "- text: Done.\n"
SETTINGS = EngineConfig(concurrency=1, dispatch_interval=0.5, watch_interval=0.05,
                        inbox_interval=60.0, notify_interval=60.0,
                        housekeeping_interval=3600.0, heartbeat_interval=0.5,
                        drain_timeout=5.0)


def wait_for(condition: Callable[[], object], what: str, deadline: float = 240.0) -> bool:
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            print(f"timed out waiting for {what}", file=sys.stderr)
            return False
        time.sleep(0.05)
    return True


def run(db: Database, run_id: int) -> m.Run:
    with db.read() as s:
        row = s.get(m.Run, run_id)
        assert row is not None
        return row


def factory(root: Path, repo: Path, outside: Path, setup: str | None,
            scripts: list[str]) -> tuple[Home, Database, list[int]]:
    home = Home(root)
    db = home.init()
    lines = f"setup = [{json.dumps(setup)}]\n" if setup else ""
    home.config_path.write_text(f'[engine]\nprovider = "scripted"\n\n[repos.sample]\n'
                                f'path = "{repo}"\n{lines}')
    home.reload()
    save_policies(db, [Policy(category="disk", level=4, allow_unsandboxed=True)], user="t")
    specs = outside / "specs"
    specs.mkdir()
    ids = []
    for n, text in enumerate(scripts, 1):
        name = f"spec{n}"
        (specs / f"{name}.md").write_text(f"---\ntitle: {name}\ncategory: disk\nrepo: sample\n"
                                          f"model: scripted\n---\n# Intent\nGreet.\n")
        (specs / f"{name}.script.yaml").write_text(text.replace("NAME", name))
        ids.append(submit(db, specs / f"{name}.md").id or 0)
    return home, db, ids


def whole_home(root: Path, repo: Path, outside: Path, out: dict[str, object]) -> None:
    ballast, flag = root / "ballast", outside / "filled"
    fill = (f"[ -e {flag} ] || {{ touch {flag}; head -c 1000000000 /dev/zero > {ballast}; "
            "true; }")
    home, db, ids = factory(root, repo, outside, fill, [GREET + DONE, GREET + DONE])
    engine = Engine(home, db, settings=SETTINGS).start()
    try:
        out["slot_freed"] = wait_for(lambda: flag.exists() and not engine.running_runs(),
                                     "the full disk to free the run's slot")
        if not out["slot_freed"]:
            return
        cli = subprocess.run([sys.executable, "-m", "andon.tui", "--home", str(root), "submit",
                              str(outside / "specs" / "spec1.md")], capture_output=True,
                             text=True, timeout=300)
        out["cli"] = {"code": cli.returncode, "stderr": cli.stderr}
        doctor = subprocess.run([sys.executable, "-m", "andon.tui", "--home", str(root),
                                 "doctor", "--json"], capture_output=True, text=True,
                                timeout=300)
        out["doctor"] = json.loads(doctor.stdout or "{}")
        ballast.unlink()  # the space comes back
        engine.housekeeping()  # (its tick, without waiting for it)
        out["settled"] = wait_for(lambda: all(run(db, i).status in m.TERMINAL_STATUSES
                                              for i in ids), "both runs to end")
    finally:
        engine.stop(timeout=5)
        out["runs"] = [{"status": run(db, i).status, "reason": run(db, i).reason}
                       for i in ids]


def repository(root: Path, repo: Path, outside: Path, out: dict[str, object]) -> None:
    make_repo(repo)
    ballast = repo.parent / "ballast"
    fill = f"head -c 1000000000 /dev/zero > {ballast}; true"
    home, db, (run_id,) = factory(root, repo, outside, fill, [GREET + DONE])
    engine = Engine(home, db, settings=SETTINGS).start()
    try:
        held = wait_for(lambda: run(db, run_id).status in (m.INTERRUPTED,
                                                           *m.TERMINAL_STATUSES)
                        and not engine.running_runs(), "the run to stop on the full disk")
        first = run(db, run_id)
        out["first"] = {"status": first.status, "reason": first.reason}
        if not held or first.status != m.INTERRUPTED:
            return
        ballast.unlink()  # the space comes back
        engine.housekeeping()
        out["settled"] = wait_for(lambda: run(db, run_id).status in m.TERMINAL_STATUSES,
                                  "the run to end")
    finally:
        engine.stop(timeout=5)
        last = run(db, run_id)
        out["runs"] = [{"status": last.status, "reason": last.reason}]


def main(mode: str, root: Path, repo: Path, outside: Path) -> dict[str, object]:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("andon").addHandler(handler)
    logging.getLogger("andon").setLevel(logging.INFO)
    out: dict[str, object] = {}
    (whole_home if mode == "home" else repository)(root, repo, outside, out)
    out["log"] = [{"level": r.levelname, "message": r.getMessage(),
                   "traceback": r.exc_info is not None} for r in records]
    return out


if __name__ == "__main__":
    result = main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
    print(json.dumps(result))
