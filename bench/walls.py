"""Bench what the walls cost per tool call: the confined editor, and the sweep for
symlinks out of the repository after each bash command.

    .venv/bin/python bench/walls.py [--files 200] [--repeat 5]

1. Editor: create, then view, then str_replace each of --files files nested three
   folders deep in a git worktree (every path walked one component at a time from a
   descriptor of the worktree). Printed: the median per call over all repetitions.
2. Sweep: `links.sweep` on a worktree with --files untracked files (one git ls-files
   and a descriptor walk per changed path), its median per call, and its ratio to the
   median of a bare `true` command in the sandbox-less shell (what a bash call costs
   anyway without the sweep).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from andon.engine.agent.tools.editor import EditorTool  # noqa: E402
from andon.engine.workspace import links  # noqa: E402


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "core.hooksPath=/dev/null", *args], cwd=cwd, check=True,
                   capture_output=True)


def _worktree(base: Path) -> Path:
    wt = base / "wt"
    wt.mkdir()
    _git(wt, "init", "-q", "-b", "main")
    (wt / "README.md").write_text("# bench\n")
    _git(wt, "add", "-A")
    _git(wt, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "init")
    return wt


def bench_editor(files: int, repeat: int) -> dict[str, float]:
    per: dict[str, list[float]] = {"create": [], "view": [], "str_replace": []}
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="andon-bench-walls-") as tmp:
            ed = EditorTool(_worktree(Path(tmp)))
            paths = [f"pkg/sub{i % 7}/deep/f{i}.py" for i in range(files)]
            for command in per:
                for path in paths:
                    inp = {"command": command, "path": path}
                    if command == "create":
                        inp["file_text"] = "x = 1\n" * 20
                    elif command == "str_replace":
                        inp |= {"old_str": "x = 1\n" * 20, "new_str": "x = 2\n"}
                    t0 = time.perf_counter()
                    out = ed.run(inp)
                    per[command].append(time.perf_counter() - t0)
                    assert not out.is_error, out.text
    return {k: statistics.median(v) for k, v in per.items()}


def bench_sweep(files: int, repeat: int) -> tuple[float, float]:
    sweeps, shells = [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="andon-bench-walls-") as tmp:
            wt = _worktree(Path(tmp))
            for i in range(files):
                (wt / f"u{i}.txt").write_text("u\n")
            for _ in range(20):
                t0 = time.perf_counter()
                links.sweep(wt)
                sweeps.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                subprocess.run(["bash", "--noprofile", "--norc", "-c", "true"], cwd=wt,
                               check=True)
                shells.append(time.perf_counter() - t0)
    return statistics.median(sweeps), statistics.median(shells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"$ {' '.join([Path(sys.executable).name, *sys.argv])}")
    editor = bench_editor(args.files, args.repeat)
    for command, seconds in editor.items():
        print(f"editor {command:<11} median {seconds * 1e3:7.3f} ms per call "
              f"({args.files} files x {args.repeat} repetitions)")
    sweep, shell = bench_sweep(args.files, args.repeat)
    print(f"sweep after a command  median {sweep * 1e3:7.3f} ms ({args.files} untracked "
          f"files, {20 * args.repeat} calls); a bare `bash -c true` median "
          f"{shell * 1e3:.3f} ms; ratio {sweep / shell:.2f}")


if __name__ == "__main__":
    main()
