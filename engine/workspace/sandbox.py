"""The walls around the agent's commands: bubblewrap.

Inside the sandbox the whole filesystem is read-only, /tmp is a private tmpfs, the
worktree is the only writable place, and the repository's git directory (the main
repository's `.git`, which holds the base branch, config and hooks) is re-bound read-only
on top so that `git branch -f main ...` or planting a hook cannot work from inside. The
network is unshared unless allowed, the process gets its own PID namespace (killing the
sandbox kills everything started in it), its own session (no TIOCSTI into our terminal)
and dies with its parent.

Without bubblewrap, commands run only when the configuration allows it explicitly
(`allow_unsandboxed`); they still get a scrubbed environment and the worktree as cwd.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

# Places in a home directory that commonly hold credentials; masked inside the sandbox.
SECRET_HOME_PATHS = (
    ".ssh",
    ".aws",
    ".azure",
    ".gnupg",
    ".docker",
    ".kube",
    ".netrc",
    ".git-credentials",
    ".pypirc",
    ".npmrc",
    ".config/gcloud",
    ".config/gh",
    ".config/anthropic",
    ".local/share/keyrings",
    ".password-store",
)


class SandboxUnavailable(RuntimeError):
    """bubblewrap cannot be used here and unsandboxed execution is not allowed."""


@dataclass
class SandboxConfig:
    """How a command is walled in.

    root: the worktree (the only writable place; the default cwd).
    network: keep the host network (default: no network at all).
    allow_unsandboxed: run without bubblewrap when it is not available.
    extra_ro: further paths bound read-only (already readable through `/`; useful when
        they sit under /tmp or a hidden path).
    hide: paths masked inside the sandbox (an empty tmpfs over a folder, /dev/null over
        a file), e.g. the factory's scenarios folder and database. Credential folders in
        $HOME (~/.ssh, ~/.aws, ...) are always masked.
    """

    root: Path
    network: bool = False
    allow_unsandboxed: bool = False
    extra_ro: list[Path] = field(default_factory=list)
    hide: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.extra_ro = [Path(p) for p in self.extra_ro]
        self.hide = [Path(p) for p in self.hide]


@functools.lru_cache(maxsize=1)
def bwrap_available() -> tuple[bool, str]:
    """(True, "") when bubblewrap works here; else (False, why). Tried once, cached."""
    exe = shutil.which("bwrap")
    if exe is None:
        return False, "bubblewrap (bwrap) is not installed; install the 'bubblewrap' package"
    probe = [
        exe, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
        "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
        "true",
    ]  # fmt: skip
    try:
        proc = subprocess.run(
            probe, stdin=subprocess.DEVNULL, capture_output=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"bubblewrap ({exe}) could not be started: {exc}"
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", errors="replace").strip()
        return False, (
            f"bubblewrap ({exe}) does not work here (exit {proc.returncode}): {err}; "
            "unprivileged user namespaces may be disabled"
        )
    return True, ""


def _read_gitdir_file(dotgit: Path) -> Path | None:
    try:
        text = dotgit.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    target = Path(text[len("gitdir:") :].strip())
    if not target.is_absolute():
        target = dotgit.parent / target
    return Path(os.path.realpath(target))


def git_dirs(root: Path) -> list[Path]:
    """The git directories a worktree at `root` depends on: the worktree's own admin
    folder (`.git/worktrees/<name>`) and the common `.git` of the main repository; or
    `root/.git` itself for a plain checkout. Empty when `root` is not in git."""
    dotgit = Path(root) / ".git"
    found: list[Path] = []
    if dotgit.is_dir() and not dotgit.is_symlink():
        found.append(Path(os.path.realpath(dotgit)))
    elif dotgit.is_file() or dotgit.is_symlink():
        admin = _read_gitdir_file(dotgit) if dotgit.is_file() else None
        if dotgit.is_symlink():
            admin = Path(os.path.realpath(dotgit))
        if admin is not None:
            found.append(admin)
            commondir = admin / "commondir"
            common: Path | None = None
            if commondir.is_file():
                rel = commondir.read_text(encoding="utf-8", errors="replace").strip()
                common = Path(os.path.realpath(admin / rel))
            else:
                common = _git_common_dir(root)
            if common is not None and common not in found:
                found.append(common)
    else:
        common = _git_common_dir(root)
        if common is not None:
            found.append(common)
    # The common dir first: binding it first lets a nested admin dir be bound after it.
    return sorted(found, key=lambda p: len(p.parts))


def _git_common_dir(root: Path) -> Path | None:
    try:
        proc = subprocess.run(
            ["git", "-c", "core.hooksPath=/dev/null", "rev-parse", "--git-common-dir"],
            cwd=root, capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    path = Path(proc.stdout.strip())
    if not path.is_absolute():
        path = Path(root) / path
    return Path(os.path.realpath(path))


def _home_secrets() -> list[Path]:
    home = os.environ.get("HOME")
    if not home:
        return []
    return [Path(home) / rel for rel in SECRET_HOME_PATHS]


def _mask(path: Path) -> list[str]:
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    if path.is_dir():
        p = str(path)
        return ["--tmpfs", p]
    if path.exists():
        return ["--ro-bind", "/dev/null", str(path)]
    return []


def require(cfg: SandboxConfig) -> None:
    """Raise SandboxUnavailable now (e.g. when a run is prepared) rather than at the
    agent's first command, when `cfg` cannot be honoured here."""
    wrap(["true"], cfg)


def _interpreter_under_tmp() -> list[Path]:
    """The Python running Andon, when it lives under /tmp (a fresh clone's .venv in CI).

    The private /tmp would hide it, and checks run with this interpreter.
    """
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    return [Path(p) for p in sorted(prefixes) if p == "/tmp" or p.startswith("/tmp/")]


def wrap(argv: list[str], cfg: SandboxConfig, cwd: Path | None = None) -> list[str]:
    """The bubblewrap command line that runs `argv` inside the walls of `cfg`, in `cwd`
    (default: the worktree root).

    Raises SandboxUnavailable when bubblewrap does not work here and `cfg` does not
    allow running unsandboxed; returns `argv` unchanged when it does.
    """
    ok, why = bwrap_available()
    if not ok:
        if cfg.allow_unsandboxed:
            return list(argv)
        raise SandboxUnavailable(
            f"cannot sandbox commands: {why}. Install bubblewrap, or allow unsandboxed "
            "execution explicitly (allow_unsandboxed) if you accept the risk."
        )
    exe = shutil.which("bwrap") or "bwrap"
    root = Path(os.path.realpath(cfg.root))
    workdir = Path(os.path.realpath(cwd)) if cwd is not None else root
    cmd = [
        exe,
        "--die-with-parent",
        "--new-session",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
    ]
    if not cfg.network:
        cmd.append("--unshare-net")
    cmd += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    if not cfg.network:
        # Unix sockets (docker, dbus, ...) stay connectable on a read-only mount.
        cmd += ["--tmpfs", "/run"]
    for path in [*_home_secrets(), *cfg.hide]:
        cmd += _mask(path)
    for path in [*_interpreter_under_tmp(), *cfg.extra_ro]:
        if path.exists():
            real = os.path.realpath(path)
            cmd += ["--ro-bind", real, real]
    cmd += ["--bind", str(root), str(root)]
    for gitdir in git_dirs(root):
        cmd += ["--ro-bind", str(gitdir), str(gitdir)]
    dotgit = root / ".git"
    if dotgit.exists() or dotgit.is_symlink():
        # The worktree's `.git` file names the repository the engine's git commands act
        # on; rewriting it would point them at the main repository.
        cmd += ["--ro-bind", str(dotgit), str(dotgit)]
    # $HOME is read-only inside; caches (pip, uv, ...) go to the private /tmp instead.
    cmd += ["--setenv", "XDG_CACHE_HOME", "/tmp/.cache"]
    cmd += ["--chdir", str(workdir), "--", *argv]
    return cmd
