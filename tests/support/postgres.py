"""A throwaway PostgreSQL cluster for tests: `initdb` into a fresh folder, a free port on
127.0.0.1, trust authentication, no socket file. PostgreSQL refuses to run as root, so as
root the cluster runs as an unprivileged user ("postgres" where the package made one,
else "nobody") owning its folder. Skipped, with the reason, where the server's binaries
or psycopg are missing (CI installs both: `.ci/run` and the `test` extra)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

USER = "andon"


def bindir() -> Path | None:
    """Where initdb, pg_ctl and postgres are: pg_config's answer, Debian's versioned
    folders (newest first), or the PATH."""
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                      key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                      else 0, reverse=True)
    candidates += [Path(p) for p in versions]
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb") or "").resolve().parent)
    for folder in candidates:
        if all((folder / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def why_not() -> str | None:
    """Why no cluster can start here, or None when one can."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "needs psycopg (pip install 'andon[postgres]'; the test extra has it)"
    if bindir() is None:
        return ("needs PostgreSQL's server (apt-get install postgresql): no initdb, pg_ctl "
                "and postgres via pg_config --bindir, /usr/lib/postgresql/*/bin or PATH")
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """One running server; `database()` gives each test an empty database of its own."""

    def __init__(self, bins: Path) -> None:
        self.bins = bins
        # Somewhere the unprivileged user can reach (root's own home is closed to it).
        base = "/var/tmp" if os.access("/var/tmp", os.W_OK) else None
        self.root = Path(tempfile.mkdtemp(prefix="andon-pg-", dir=base))
        self.data = self.root / "data"
        self.run_as: str | None = None
        if os.geteuid() == 0:
            self.run_as = "postgres" if _user_exists("postgres") else "nobody"
            self.root.chmod(0o755)
            entry = pwd.getpwnam(self.run_as)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.port = 0
        self._admin = None

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if self.run_as is not None:
            entry = pwd.getpwnam(self.run_as)
            kwargs = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        return subprocess.run(list(args), capture_output=True, text=True, check=check,
                              cwd=self.root, env={**os.environ, "LC_ALL": "C"},
                              timeout=300, **kwargs)  # type: ignore[call-overload]

    def start(self) -> None:
        made = self._run(str(self.bins / "initdb"), "-D", str(self.data), "-U", USER,
                         "--auth=trust", "-E", "UTF8", "--no-sync", check=False)
        if made.returncode != 0:
            raise RuntimeError(f"initdb failed as {self.run_as or 'this user'}: {made.stderr}")
        for _ in range(5):  # another process may take the free port first
            self.port = _free_port()
            options = (f"-p {self.port} -c listen_addresses=127.0.0.1 "
                       "-c unix_socket_directories='' -c fsync=off "
                       "-c synchronous_commit=off -c full_page_writes=off "
                       "-c max_connections=200")
            started = self._run(str(self.bins / "pg_ctl"), "-D", str(self.data), "-l",
                                str(self.root / "server.log"), "-o", options, "-w",
                                "-t", "120", "start", check=False)
            if started.returncode == 0:
                return
        log = (self.root / "server.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"PostgreSQL did not start: {started.stderr}\n{log}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """A new, empty database; its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        self._run(str(self.bins / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                  "-w", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """One server per test process (each xdist worker starts its own)."""
    reason = why_not()
    if reason:
        pytest.skip(reason)
    cluster = Cluster(bindir() or Path())
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> str:
    """The URL of an empty database of this test's own."""
    return pg_cluster.database()
