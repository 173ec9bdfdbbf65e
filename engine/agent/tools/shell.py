"""Anthropic's bash client tool (`bash_20250124`) and one-shot commands for checks.

`BashTool` keeps one bash process per run, started lazily inside the sandbox
(`bash --noprofile --norc`, its own session and process group). Each command is sent on
stdin, quoted so that a syntax error cannot swallow what follows, with stdin of the
command itself redirected from /dev/null, and followed by a sentinel line carrying the
exit code. Output (stdout and stderr together) is read in chunks into a bounded buffer:
what the model sees is capped (head and tail), what the step keeps is bounded too.
A command that runs past its timeout gets the whole sandbox killed (its PID namespace,
so background and `setsid` children too); the next command starts a fresh shell.

`run_command` runs one command the same way, without a persistent shell: the pipeline
runs the spec's checks with it.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import subprocess
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from andon.engine.agent.tools.base import ToolOutcome
from andon.engine.textcap import CappedBuffer
from andon.engine.workspace import links
from andon.engine.workspace.environment import scrubbed_env
from andon.engine.workspace.sandbox import SandboxConfig, SandboxUnavailable, wrap

TOOL_TYPE = "bash_20250124"
TOOL_NAME = "bash"

TEXT_LIMIT = 30_000  # what the model sees
FULL_HEAD = 400_000  # what a step record keeps: ~1 MB at most
FULL_TAIL = 600_000
CHUNK = 65_536
EXIT_GRACE = 0.5  # seconds to drain output after a one-shot command exits
MARK_VAR = "ANDON_TOOL_MARK"  # in every tool process's environment: see _reap
REAP_ROUNDS = 50


@dataclass
class CommandResult:
    exit_code: int | None
    output: str  # capped for a prompt
    full: str  # bounded for a record
    timed_out: bool
    duration: float


def _ansi_c_quote(text: str) -> str:
    """`text` as a bash $'...' word: every byte outside [A-Za-z0-9 ] escaped, so the
    shell reads the whole command as one argument whatever quotes it contains."""
    out = ["$'"]
    for byte in text.encode("utf-8", errors="surrogateescape"):
        ch = chr(byte)
        if ch.isascii() and (ch.isalnum() or ch == " "):
            out.append(ch)
        else:
            out.append(f"\\x{byte:02x}")
    out.append("'")
    return "".join(out)


def _marked_env(extra: Mapping[str, str] | None) -> tuple[dict[str, str], str]:
    """The scrubbed environment plus a mark every process the command starts inherits,
    so what escapes the process group (setsid, double forks) can still be found."""
    mark = uuid.uuid4().hex
    return {**scrubbed_env(extra=extra), MARK_VAR: mark}, mark


def _reap(mark: str) -> None:
    """Kill what still carries `mark` in its environment. Inside the sandbox its PID
    namespace already took everything down; without one (allow_unsandboxed) this is
    what keeps a `setsid`'d background process from outliving the run (unless it
    cleared its environment)."""
    needle = f"{MARK_VAR}={mark}".encode() + b"\x00"
    for _ in range(REAP_ROUNDS):  # a process may fork while it is being looked for
        found = []
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError), open(f"/proc/{entry.name}/environ", "rb") as fh:
                if needle in fh.read():
                    found.append(int(entry.name))
        if not found:
            return
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def _kill_group(proc: subprocess.Popen[bytes], mark: str | None = None) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    if mark is not None and os.path.isdir("/proc"):
        _reap(mark)
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def _new_buffer() -> CappedBuffer:
    return CappedBuffer(head=FULL_HEAD, tail=FULL_TAIL)


class BashTool:
    name = TOOL_NAME

    def __init__(
        self,
        root: Path,
        sandbox: SandboxConfig,
        timeout: float = 120,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.root = Path(os.path.realpath(root))
        self.sandbox = sandbox
        self.timeout = timeout
        self.env = dict(env) if env else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._mark: str | None = None

    # -- protocol -------------------------------------------------------------------

    def definition(self) -> dict[str, Any]:
        return {"type": TOOL_TYPE, "name": TOOL_NAME}

    def is_mutating(self, tool_input: dict[str, Any]) -> bool:
        if isinstance(tool_input, dict) and tool_input.get("restart") is True:
            return "command" in tool_input
        return True

    def close(self) -> None:
        if self._proc is not None:
            _kill_group(self._proc, self._mark)
            self._proc = None

    def __del__(self) -> None:  # last resort; the agent loop calls close()
        with contextlib.suppress(Exception):
            self.close()

    def run(self, tool_input: dict[str, Any]) -> ToolOutcome:
        if not isinstance(tool_input, dict):
            return _error("tool input must be an object with 'command' or 'restart'")
        if tool_input.get("restart") is True:
            self.close()
            try:
                self._start()
            except (SandboxUnavailable, OSError) as exc:
                return _error(f"could not start a shell: {exc}")
            return ToolOutcome(text="The bash tool has been restarted.", full="restarted")
        command = tool_input.get("command")
        if not isinstance(command, str) or not command.strip():
            return _error("give 'command' (a non-empty string), or 'restart': true")
        try:
            return self._swept(self._execute(command))
        except SandboxUnavailable as exc:
            return _error(str(exc))
        except OSError as exc:
            self.close()
            return _error(f"the shell failed ({exc}); it will be restarted on the next command")

    def _swept(self, outcome: ToolOutcome) -> ToolOutcome:
        """Remove symlinks out of the repository the agent's commands made (now or in
        the background), and tell it why, in the result of the command."""
        removed = links.sweep(self.root)
        if removed:
            told = links.note(removed)
            outcome.text = _append(outcome.text, told)
            outcome.full = _append(outcome.full or "", told)
            outcome.meta["refused_links"] = [str(link) for link in removed]
        return outcome

    # -- the persistent shell -------------------------------------------------------

    def _start(self) -> subprocess.Popen[bytes]:
        argv = wrap(["bash", "--noprofile", "--norc"], self.sandbox, cwd=self.root)
        env, self._mark = _marked_env(self.env)
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self.root,
            env=env,
            start_new_session=True,
            bufsize=0,
        )
        return self._proc

    def _execute(self, command: str) -> ToolOutcome:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            proc = self._start()
        token = uuid.uuid4().hex
        # Split so that even `set -x` tracing the printf cannot print the sentinel.
        script = (
            f"eval {_ansi_c_quote(command)} < /dev/null\n"
            f"printf '\\n%s%s %s\\n' '__ANDON_' '{token}__' \"$?\"\n"
        )
        sentinel = re.compile(rb"\n__ANDON_" + token.encode() + rb"__ (\d+)\n")
        started = time.monotonic()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(script.encode("utf-8", errors="surrogateescape"))
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.close()
            return _error("the shell had exited; it will be restarted on the next command")
        buf = _new_buffer()
        status = _pump(proc.stdout.fileno(), buf, sentinel, started + self.timeout)
        duration = time.monotonic() - started
        meta = {"duration": round(duration, 3), "bytes": buf.total}
        if status == "timeout":
            self.close()
            note = (
                f"Command timed out after {self.timeout:g} s and was killed, with everything "
                "it started. The shell was restarted: the working directory and variables "
                "are reset."
            )
            return _outcome(buf, note, None, True, meta | {"timed_out": True})
        if status == "eof":
            try:
                code = proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            _kill_group(proc, self._mark)  # leftovers of the old shell, and its pipes
            self._proc = None
            note = (
                f"The shell exited (code {code}). A fresh shell starts with the next "
                "command: the working directory and variables are reset."
            )
            return _outcome(buf, note, code, code != 0, meta)
        code = int(status)
        return _outcome(buf, None, code, code != 0, meta)


def _readable(fd: int, timeout: float) -> bool:
    """Wait up to `timeout` s for `fd` to be readable (or closed). poll, not select:
    a long-lived daemon may hold file descriptors above select's 1024 limit."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(int(timeout * 1000)))


def _pump(fd: int, buf: CappedBuffer, sentinel: re.Pattern[bytes], deadline: float) -> str:
    """Read `fd` into `buf` until the sentinel ("<code>"), end of file ("eof") or the
    deadline ("timeout"). The sentinel itself is not fed into `buf`.

    A short window of not-yet-committed bytes is kept so a sentinel split across two
    reads is still recognised.
    """
    pending = b""
    keep = 128
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            buf.feed(pending)
            return "timeout"
        if not _readable(fd, min(left, 1.0)):
            continue
        chunk = os.read(fd, CHUNK)
        if not chunk:
            buf.feed(pending)
            return "eof"
        pending += chunk
        match = sentinel.search(pending)
        if match:
            buf.feed(pending[: match.start()])
            return match.group(1).decode()
        if len(pending) > keep:
            buf.feed(pending[:-keep])
            pending = pending[-keep:]


def _outcome(
    buf: CappedBuffer,
    note: str | None,
    code: int | None,
    is_error: bool,
    meta: dict[str, Any],
) -> ToolOutcome:
    text = buf.render(TEXT_LIMIT)
    full = buf.render()
    if note:
        text, full = _append(text, note), _append(full, note)
    elif not text and code == 0:
        text = "(no output)"
    elif code:
        text = _append(text, f"[exit code {code}]")
    meta = meta | {"exit_code": code}
    return ToolOutcome(text=text, is_error=is_error, full=full, exit_code=code, meta=meta)


def _append(text: str, line: str) -> str:
    if not text:
        return line
    return text + ("" if text.endswith("\n") else "\n") + line


def _error(message: str) -> ToolOutcome:
    return ToolOutcome(text=f"Error: {message}", is_error=True, full=f"Error: {message}")


def run_command(
    command: str,
    cwd: Path,
    sandbox: SandboxConfig,
    timeout: float,
    env: Mapping[str, str] | None = None,
) -> CommandResult:
    """Run `command` with `bash -c` inside the sandbox, in `cwd`, stdin from /dev/null.

    Raises SandboxUnavailable when the sandbox cannot be built and unsandboxed runs are
    not allowed. A timeout kills everything the command started and gives
    `timed_out=True, exit_code=None`.
    """
    cwd = Path(os.path.realpath(cwd))
    argv = wrap(["bash", "--noprofile", "--norc", "-c", command], sandbox, cwd=cwd)
    started = time.monotonic()
    marked, mark = _marked_env(env)
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        env=marked,
        start_new_session=True,
        bufsize=0,
    )
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buf = _new_buffer()
    deadline = started + timeout
    timed_out = False
    exited_at: float | None = None
    try:
        while True:
            now = time.monotonic()
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > EXIT_GRACE:
                break  # something it left behind still holds the pipe open
            if now >= deadline:
                timed_out = exited_at is None
                break
            wait = min(deadline - now, 0.2 if exited_at is None else EXIT_GRACE)
            if not _readable(fd, max(wait, 0.0)):
                continue
            chunk = os.read(fd, CHUNK)
            if not chunk:
                # Output closed: the command is ending; let it, so its exit code is real.
                try:
                    proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
                except subprocess.TimeoutExpired:
                    timed_out = True
                break
            buf.feed(chunk)
    finally:
        # Kills leftovers too (the whole sandbox, or without one the process group and
        # whatever still carries the command's mark).
        _kill_group(proc, mark)
    code = None if timed_out else proc.returncode
    duration = time.monotonic() - started
    output = buf.render(TEXT_LIMIT)
    full = buf.render()
    if timed_out:
        note = f"[timed out after {timeout:g} s; the command and its children were killed]"
        output, full = _append(output, note), _append(full, note)
    return CommandResult(code, output, full, timed_out, duration)
