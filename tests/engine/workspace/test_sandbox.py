"""The walls: what a command in the worktree cannot do, checked from outside."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from andon.engine.agent.tools.shell import BashTool, run_command
from andon.engine.workspace import sandbox as sandbox_mod
from andon.engine.workspace.environment import scrubbed_env
from andon.engine.workspace.sandbox import (
    SandboxConfig,
    SandboxUnavailable,
    bwrap_available,
    git_dirs,
    require,
    wrap,
)

BWRAP_OK, BWRAP_WHY = bwrap_available()
needs_bwrap = pytest.mark.skipif(not BWRAP_OK, reason=f"bubblewrap unusable: {BWRAP_WHY}")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "core.hooksPath=/dev/null", *args],
        cwd=cwd, check=True, capture_output=True, text=True,
        env=scrubbed_env(),
    ).stdout.strip()  # fmt: skip


@pytest.fixture
def repos(tmp_path: Path) -> tuple[Path, Path]:
    """A main repository with two commits on `main` (not checked out there, so git
    itself would let the branch move) and a worktree on branch andon/r1."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "a.txt").write_text("one\n")
    git(repo, "add", "a.txt")
    git(repo, "commit", "-q", "-m", "one")
    (repo / "a.txt").write_text("two\n")
    git(repo, "commit", "-q", "-am", "two")
    git(repo, "checkout", "-q", "--detach")
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "andon/r1", str(wt), "main")
    return repo, wt


@pytest.fixture
def shell(repos: tuple[Path, Path]) -> Iterator[BashTool]:
    _, wt = repos
    tool = BashTool(wt, SandboxConfig(wt), timeout=20)
    yield tool
    tool.close()


def test_git_dirs_finds_the_main_repository(repos: tuple[Path, Path]) -> None:
    repo, wt = repos
    dirs = git_dirs(wt)
    assert (repo / ".git").resolve() in dirs
    assert (repo / ".git" / "worktrees" / "wt").resolve() in dirs
    assert git_dirs(repo) == [(repo / ".git").resolve()]


@needs_bwrap
def test_worktree_is_writable_and_git_reads_work(shell: BashTool, repos) -> None:
    _, wt = repos
    out = shell.run({"command": "echo new > b.txt && cat a.txt && git status --short && "
                                "git log --oneline | wc -l"})  # fmt: skip
    assert out.exit_code == 0, out.text
    assert out.text.split() == ["two", "??", "b.txt", "2"]
    assert (wt / "b.txt").read_text() == "new\n"


@needs_bwrap
def test_moving_the_base_branch_fails(shell: BashTool, repos) -> None:
    repo, _ = repos
    main_before = git(repo, "rev-parse", "main")
    for cmd in ("git branch -f main HEAD~1", "git update-ref refs/heads/main HEAD~1",
                "git push . HEAD~1:main --force"):  # fmt: skip
        out = shell.run({"command": cmd})
        assert out.exit_code != 0, (cmd, out.text)
    assert git(repo, "rev-parse", "main") == main_before


@needs_bwrap
def test_planting_hooks_or_config_in_the_main_repository_fails(shell: BashTool, repos) -> None:
    repo, wt = repos
    hook = repo / ".git" / "hooks" / "post-merge"
    config_before = (repo / ".git" / "config").read_text()
    out = shell.run({"command": f"printf '#!/bin/sh\\ntouch /tmp/x\\n' > {hook}; "
                                "echo '[core]' >> \"$(git rev-parse --git-common-dir)/config\"; "
                                "git config core.hooksPath /tmp/hooks"})  # fmt: skip
    assert out.exit_code != 0
    assert "Read-only file system" in out.text
    assert not hook.exists()
    assert (repo / ".git" / "config").read_text() == config_before
    # The worktree's .git file says which repository the engine's git commands act on.
    dotgit_before = (wt / ".git").read_text()
    out = shell.run({"command": f"echo 'gitdir: {repo}/.git' > .git"})
    assert out.exit_code != 0
    assert (wt / ".git").read_text() == dotgit_before


@needs_bwrap
def test_writes_outside_the_worktree_fail(shell: BashTool, repos, tmp_path: Path) -> None:
    repo, _ = repos
    target = tmp_path / "outside.txt"
    home_probe = Path(os.environ.get("HOME", "/root")) / "andon-sandbox-probe"
    out = shell.run({"command": f"echo x > {target}; echo x > {repo}/a.txt; "
                                f"echo x > {home_probe}; touch /usr/andon-probe"})  # fmt: skip
    assert out.exit_code != 0
    # tmp_path is under /tmp, which is a private tmpfs inside: those two writes "work"
    # but land in the sandbox's own /tmp and vanish. Elsewhere the filesystem refuses.
    assert out.text.count("Read-only file system") == 2, out.text
    assert not target.exists() and not home_probe.exists()
    assert (repo / "a.txt").read_text() == "two\n"
    # /tmp inside is private: writable, but nothing lands in the real /tmp.
    name = f"andon-probe-{os.getpid()}"
    assert shell.run({"command": f"echo x > /tmp/{name} && cat /tmp/{name}"}).exit_code == 0
    assert not Path("/tmp", name).exists()


@needs_bwrap
def test_hidden_paths_are_empty_inside(repos, outside_tmp: Path) -> None:
    _, wt = repos
    scenarios = outside_tmp / "scenarios"  # not under /tmp, which is private inside anyway
    scenarios.mkdir()
    (scenarios / "holdout.sh").write_text("the answer")
    r = run_command(f"ls -A {scenarios}; cat {scenarios}/holdout.sh", wt,
                    SandboxConfig(wt, hide=[scenarios]), timeout=10)  # fmt: skip
    assert "the answer" not in r.output and r.exit_code != 0


@needs_bwrap
def test_credentials_in_home_are_masked(repos, outside_tmp: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _, wt = repos
    home = outside_tmp / "home"  # outside /tmp: masked by the walls, not by the tmpfs
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("PRIVATE-KEY-41\n")
    (home / ".aws").mkdir()
    (home / ".aws" / "credentials").write_text("AWS-SECRET-41\n")
    (home / ".netrc").write_text("machine x password NETRC-41\n")
    (home / "notes.txt").write_text("readable\n")
    monkeypatch.setenv("HOME", str(home))
    r = run_command(f"cat {home}/notes.txt {home}/.ssh/id_ed25519 {home}/.aws/credentials "
                    f"{home}/.netrc; ls -A {home}/.ssh", wt, SandboxConfig(wt), timeout=10)
    assert "readable" in r.output
    for secret in ("PRIVATE-KEY-41", "AWS-SECRET-41", "NETRC-41"):
        assert secret not in r.output, r.output


@pytest.fixture
def listener() -> Iterator[int]:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    yield srv.getsockname()[1]
    srv.close()


@needs_bwrap
def test_network_is_cut_unless_allowed(repos, listener: int) -> None:
    _, wt = repos
    probe = f"exec 3<>/dev/tcp/127.0.0.1/{listener} && echo connected"
    cut = run_command(probe, wt, SandboxConfig(wt), timeout=10)
    assert cut.exit_code != 0 and "connected" not in cut.output
    allowed = run_command(probe, wt, SandboxConfig(wt, network=True), timeout=10)
    assert allowed.exit_code == 0 and "connected" in allowed.output


@needs_bwrap
def test_wrap_command_line(repos) -> None:
    repo, wt = repos
    argv = wrap(["true"], SandboxConfig(wt))
    joined = " ".join(argv)
    for part in ("--ro-bind / /", f"--bind {wt.resolve()} {wt.resolve()}",
                 f"--ro-bind {(repo / '.git').resolve()}", "--unshare-net",
                 "--die-with-parent", "--new-session", f"--chdir {wt.resolve()}"):  # fmt: skip
        assert part in joined
    assert argv[-2:] == ["--", "true"]
    assert "--unshare-net" not in wrap(["true"], SandboxConfig(wt, network=True))


def test_scrubbed_env_drops_secrets_and_keeps_the_basics() -> None:
    base = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/home/u",
        "ANTHROPIC_API_KEY": "x",
        "ANTHROPIC_BASE_URL": "https://api",
        "github_token": "x",
        "AWS_SESSION_TOKEN": "x",
        "AWS_PROFILE": "x",
        "Db_PassWord": "x",
        "CLIENT_SECRET": "x",
        "SSH_AUTH_SOCK": "/run/agent",
        "PIP_INDEX_URL": "https://u:p@mirror/simple",
        "PROXY": "http://user:pw@proxy:3128",
        "EDITOR": "vim",
    }
    env = scrubbed_env(base, extra={"PYTHONPATH": "src", "NEW_API_KEY": "x"})
    assert {k for k in env if k in base or k in ("PYTHONPATH", "NEW_API_KEY")} == {
        "PATH", "HOME", "EDITOR", "PYTHONPATH"
    }  # fmt: skip
    assert env["PATH"] == "/usr/bin:/bin" and env["HOME"] == "/home/u"
    assert env["LANG"] and env["GIT_CONFIG_NOSYSTEM"] == "1"
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    bare = scrubbed_env({})
    assert "/usr/bin" in bare["PATH"] and bare["HOME"] and bare["LANG"]


def test_without_bwrap_it_refuses_unless_allowed(
    repos, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, wt = repos
    monkeypatch.setattr(sandbox_mod, "bwrap_available", lambda: (False, "bwrap not installed"))
    with pytest.raises(SandboxUnavailable, match="bwrap not installed"):
        wrap(["true"], SandboxConfig(wt))
    with pytest.raises(SandboxUnavailable, match="allow_unsandboxed"):
        require(SandboxConfig(wt))
    require(SandboxConfig(wt, allow_unsandboxed=True))
    tool = BashTool(wt, SandboxConfig(wt))
    out = tool.run({"command": "echo hi"})
    assert out.is_error and "bwrap not installed" in out.text
    tool.close()
    monkeypatch.setenv("SOME_API_KEY", "leak")
    r = run_command("pwd; env", wt, SandboxConfig(wt, allow_unsandboxed=True), timeout=10)
    assert r.exit_code == 0
    assert r.output.splitlines()[0] == str(wt.resolve()) and "leak" not in r.output
