"""Files of a worktree reached only through descriptors, so no race leads outside it.

The engine touches the agent's worktree from outside the sandbox while the agent's own
processes (which may run in the background) keep changing it. Checking a path with
`realpath()` and then opening it by name leaves a gap: a folder swapped for a symlink
in between sends the open anywhere on the host. Here every path is walked one component
at a time from a descriptor of the worktree with O_NOFOLLOW; a symlink met on the way
is read and resolved by hand (at most `MAX_HOPS`), and only when its target stays
inside. `..` steps back to a folder already held, never to one opened by name. The
final open is O_NOFOLLOW relative to the folder's descriptor: whatever the agent swaps,
an open either lands inside the worktree or fails.

Anything named `.git` is off limits (the repository's own files and hooks).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MAX_HOPS = 40  # symlinks followed while resolving one path, like the kernel's limit
RETRIES = 8  # the last component changed between the look and the open: look again

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


class Refused(Exception):
    """The path leads outside the worktree, into `.git`, or through something that is
    not a folder; the message says which, naming the path as given."""


@dataclass(frozen=True)
class Place:
    """A resolved path: the descriptor of its folder, its last component, and where it
    is relative to the worktree (symlinks inside resolved)."""

    dir_fd: int
    name: str
    parts: tuple[str, ...]  # the real location, relative to the root; () is the root

    @property
    def rel(self) -> str:
        return "/".join(self.parts) or "."

    def lstat(self) -> os.stat_result | None:
        if not self.name:
            return os.fstat(self.dir_fd)
        try:
            return os.stat(self.name, dir_fd=self.dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None


class Confined:
    """A worktree (`root`) and the only ways the engine reaches into it."""

    def __init__(self, root: Path | str) -> None:
        given = Path(os.path.abspath(root))
        self.root = Path(os.path.realpath(given))
        # Absolute paths may name the worktree as it was given or as it really is.
        self._prefixes = sorted({PurePosixPath(self.root), PurePosixPath(given)},
                                key=lambda p: len(p.parts), reverse=True)

    # -- names --------------------------------------------------------------------------

    def parts(self, raw: str) -> tuple[str, ...]:
        """The components of `raw` (relative to the worktree, or absolute inside it),
        lexically normalised; Refused when it names something outside."""
        if "\x00" in raw:
            raise Refused("the path must not contain NUL bytes")
        given = PurePosixPath(raw)
        rel = self._relative(given) if given.is_absolute() else given
        if rel is None:
            raise Refused(f"{raw} is outside the worktree {self.root}; only files inside "
                          "it can be viewed or edited")
        norm = os.path.normpath(str(rel))
        if norm == ".":
            return ()
        out = tuple(norm.split("/"))
        if out[0] == "..":
            raise Refused(f"{raw} is outside the worktree {self.root}; only files inside "
                          "it can be viewed or edited")
        if ".git" in out:
            raise Refused(f"{raw} is inside .git, which is off limits")
        return out

    def _relative(self, path: PurePosixPath) -> PurePosixPath | None:
        norm = PurePosixPath(os.path.normpath(str(path)))
        for prefix in self._prefixes:
            if norm == prefix or prefix in norm.parents:
                return norm.relative_to(prefix)
        return None

    # -- resolving ----------------------------------------------------------------------

    @contextmanager
    def place(self, raw: str, *, make_parents: bool = False,
              follow: bool = True) -> Iterator[Place]:
        """Resolve `raw` to its folder's descriptor and last name (the name may not
        exist yet). `make_parents` creates missing folders on the way; `follow: False`
        leaves a symlink in the last component unresolved (to remove it, say)."""
        fds = [os.open(self.root, _DIR_FLAGS)]
        try:
            yield self._walk(raw, list(self.parts(raw)), fds, make_parents, follow)
        finally:
            for fd in fds:
                os.close(fd)

    def _walk(self, raw: str, todo: list[str], fds: list[int], make_parents: bool,
              follow: bool) -> Place:
        held: list[str] = []  # the real components of the folder fds[-1]
        hops = 0
        while todo:
            comp = todo.pop(0)
            if comp in ("", "."):
                continue
            if comp == "..":
                if not held:
                    raise Refused(f"{raw} resolves outside the worktree {self.root}; refused")
                os.close(fds.pop())
                held.pop()
                continue
            if comp == ".git":
                raise Refused(f"{raw} leads into .git, which is off limits")
            last = not todo
            try:
                st = os.stat(comp, dir_fd=fds[-1], follow_symlinks=False)
            except FileNotFoundError:
                if last:
                    return Place(fds[-1], comp, (*held, comp))
                if not make_parents:
                    raise FileNotFoundError(errno.ENOENT, f"{'/'.join((*held, comp))} "
                                            "does not exist") from None
                with contextlib.suppress(FileExistsError):  # made meanwhile: look again
                    os.mkdir(comp, 0o755, dir_fd=fds[-1])
                todo.insert(0, comp)
                continue
            if stat.S_ISLNK(st.st_mode):
                if last and not follow:
                    return Place(fds[-1], comp, (*held, comp))
                hops += 1
                if hops > MAX_HOPS:
                    raise Refused(f"{raw}: too many levels of symbolic links")
                target = os.readlink(comp, dir_fd=fds[-1])
                if target.startswith("/"):
                    inside = self._relative(PurePosixPath(target))
                    if inside is None:
                        raise Refused(f"{raw} resolves (through the symlink "
                                      f"{'/'.join((*held, comp))} -> {target}) outside the "
                                      f"worktree {self.root}; refused")
                    while len(fds) > 1:
                        os.close(fds.pop())
                    held.clear()
                    todo[:0] = [p for p in inside.parts if p]
                else:
                    todo[:0] = target.split("/")
                continue
            if last:
                return Place(fds[-1], comp, (*held, comp))
            if not stat.S_ISDIR(st.st_mode):
                raise NotADirectoryError(errno.ENOTDIR, f"{'/'.join((*held, comp))} is "
                                         "not a folder")
            try:
                fds.append(os.open(comp, _DIR_FLAGS, dir_fd=fds[-1]))
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
                    todo.insert(0, comp)  # swapped since the look: look again
                    hops += 1
                    if hops > MAX_HOPS:
                        raise Refused(f"{raw} keeps changing while being opened; "
                                      "refused") from None
                    continue
                raise
            held.append(comp)
        return Place(fds[-1], "", tuple(held))

    # -- operations ---------------------------------------------------------------------

    @contextmanager
    def open(self, raw: str, flags: int, mode: int = 0o644, *,
             make_parents: bool = False) -> Iterator[tuple[int, Place]]:
        """An open descriptor of `raw` (flags as for os.open; O_NOFOLLOW is added), and
        where it is. A last component swapped for a symlink between the look and the
        open is resolved again, a few times at most."""
        for _ in range(RETRIES):
            with self.place(raw, make_parents=make_parents) as at:
                if not at.name:
                    fd = os.dup(at.dir_fd) if not flags & (os.O_WRONLY | os.O_RDWR) else -1
                    if fd < 0:
                        raise IsADirectoryError(errno.EISDIR, f"{raw} is a folder")
                else:
                    try:
                        fd = os.open(at.name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode,
                                     dir_fd=at.dir_fd)
                    except OSError as exc:
                        if exc.errno == errno.ELOOP:
                            continue
                        raise
                try:
                    yield fd, at
                finally:
                    os.close(fd)
                return
        raise Refused(f"{raw} keeps changing while being opened; refused")

    def read_bytes(self, raw: str, limit: int) -> tuple[bytes, os.stat_result, Place]:
        """Up to `limit` + 1 bytes of a regular file (so a caller sees it is longer)."""
        with self.open(raw, os.O_RDONLY | _NONBLOCK) as (fd, at):
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(errno.EISDIR, f"{at.rel} is a folder")
            if not stat.S_ISREG(st.st_mode):
                raise Refused(f"{at.rel} is not a regular file")
            if st.st_size > limit:
                return b"", st, at
            chunks, size = [], 0
            while size <= limit:
                chunk = os.read(fd, min(1 << 20, limit + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            return b"".join(chunks), st, at

    def write_bytes(self, raw: str, data: bytes, *, create: bool = True) -> tuple[bool, Place]:
        """Write `data` as the whole content of `raw`, a regular file (made, with its
        folders, when `create`); returns (created, where)."""
        created = False
        flags = os.O_WRONLY | _NONBLOCK
        if create:
            try:
                with self.open(raw, flags | os.O_CREAT | os.O_EXCL,
                               make_parents=True) as (fd, at):
                    _write_all(fd, data)
                    return True, at
            except FileExistsError:
                pass
        with self.open(raw, flags) as (fd, at):
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise Refused(f"{at.rel} is not a regular file")
            os.ftruncate(fd, 0)
            _write_all(fd, data)
            return created, at

    def unlink(self, raw: str) -> None:
        """Remove `raw` itself (a symlink is removed, not what it points to)."""
        with self.place(raw, follow=False) as at:
            if at.name:
                os.unlink(at.name, dir_fd=at.dir_fd)

    def entries(self, raw: str, depth: int, skip: Callable[[str], bool]
                ) -> Iterator[tuple[tuple[str, ...], bool]]:
        """(real parts, is a folder) of what is below the folder `raw`, `depth` levels
        deep, sorted per folder; symlinks are listed, never followed; `skip(name)`
        leaves an entry out (and what is below it)."""
        with self.open(raw, os.O_RDONLY | os.O_DIRECTORY) as (fd, at):
            yield from _scan(fd, at.parts, depth, skip)


def _scan(fd: int, parts: tuple[str, ...], depth: int, skip: Callable[[str], bool]
          ) -> Iterator[tuple[tuple[str, ...], bool]]:
    with os.scandir(fd) as it:
        found = sorted((e.name, e.is_dir(follow_symlinks=False)) for e in it)
    for name, is_dir in found:
        if skip(name):
            continue
        yield (*parts, name), is_dir
        if is_dir and depth > 1:
            try:
                sub = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError:
                continue  # gone or swapped meanwhile: not listed
            try:
                yield from _scan(sub, (*parts, name), depth - 1, skip)
            finally:
                os.close(sub)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def points_outside(rel: str, target: str) -> bool:
    """Does a symlink at `rel` (relative to a repository's top) with this `target`
    point outside the repository? Absolute targets always do (they name this machine,
    not the repository)."""
    if target.startswith("/"):
        return True
    joined = os.path.normpath(os.path.join(os.path.dirname(rel), target))
    return joined == ".." or joined.startswith("../")
