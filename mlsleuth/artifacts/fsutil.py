"""Read-only file system primitives that keep evidence unchanged and stay inside the root.

* Host paths (``/home/alice/x``) are what the host saw; local paths are where they are now
  (``<root>/home/alice/x``). Symlinks are resolved like a chroot would: an absolute target means
  ``<root>/target`` and ``..`` stops at the root, so nothing resolves outside the collection root.
* Directories and files are opened with ``O_NOATIME`` where the kernel allows it (owner or
  CAP_FOWNER), so listing a directory or reading a file leaves its access time alone, and with
  ``O_NOFOLLOW`` so a last-moment symlink swap is refused.
* Walks list directories through file descriptors and check each opened directory is the one
  the listing showed (same device and inode), so a directory swapped for a symlink mid-walk is not
  followed.
"""

from __future__ import annotations

import errno
import os
import stat as statmod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

O_NOATIME = getattr(os, "O_NOATIME", 0)
O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
MAX_LINK_HOPS = 40  # as the Linux kernel's own limit for path resolution

_noatime_ok = True  # cleared after the first EPERM so later opens do not retry every time


def kind_of(mode: int) -> str:
    if statmod.S_ISREG(mode):
        return "file"
    if statmod.S_ISDIR(mode):
        return "dir"
    if statmod.S_ISLNK(mode):
        return "symlink"
    if statmod.S_ISFIFO(mode):
        return "fifo"
    if statmod.S_ISSOCK(mode):
        return "socket"
    if statmod.S_ISCHR(mode):
        return "chardev"
    if statmod.S_ISBLK(mode):
        return "blockdev"
    return "other"


def open_noatime(path: str | Path | bytes, flags: int, dir_fd: int | None = None) -> tuple[int, bool]:
    """``os.open`` with O_NOATIME|O_NOFOLLOW|O_CLOEXEC; falls back without O_NOATIME on EPERM.

    Returns the descriptor and whether O_NOATIME was in force (the collector logs when it was not).
    """
    global _noatime_ok
    base = flags | O_NOFOLLOW | O_CLOEXEC
    if O_NOATIME:
        try:
            return os.open(path, base | O_NOATIME, dir_fd=dir_fd), True
        except PermissionError:
            pass  # not the owner and no CAP_FOWNER: a plain open is the best we can do
    return os.open(path, base, dir_fd=dir_fd), False


def open_dir(path: str | Path, dir_fd: int | None = None) -> int:
    fd, _ = open_noatime(path, os.O_RDONLY | O_DIRECTORY, dir_fd=dir_fd)
    return fd


class LinkLoop(OSError):
    pass


class Confined:
    """Host path <-> local path mapping under one root, with chroot-like symlink resolution."""

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.abspath(root))
        self.live = str(self.root) == "/"

    def local(self, host_path: str) -> Path:
        return self.root / host_path.lstrip("/") if not self.live else Path(host_path)

    def host(self, local: Path | str) -> str:
        rel = os.path.relpath(str(local), str(self.root))
        return "/" if rel == "." else "/" + rel.replace(os.sep, "/")

    def resolve(self, host_path: str) -> tuple[str, list[tuple[str, str]]]:
        """The host path with every symlink resolved inside the root.

        Returns the resolved path and the links crossed as ``(link host path, target)``.
        Components that do not exist are kept as they are (the caller's lstat then fails).
        Raises :class:`LinkLoop` after too many links.
        """
        pending = [p for p in host_path.split("/") if p and p != "."]
        pending.reverse()  # pop() from the end = next component
        done: list[str] = []
        links: list[tuple[str, str]] = []
        hops = 0
        while pending:
            part = pending.pop()
            if part == "..":
                if done:
                    done.pop()
                continue
            candidate = "/" + "/".join([*done, part])
            try:
                st = os.lstat(self.local(candidate))
            except OSError:
                done.append(part)
                done.extend(reversed(pending))
                return "/" + "/".join(p for p in done if p not in ("", ".")), links
            if statmod.S_ISLNK(st.st_mode):
                hops += 1
                if hops > MAX_LINK_HOPS:
                    raise LinkLoop(errno.ELOOP, "too many levels of symbolic links", candidate)
                target = os.readlink(self.local(candidate))
                links.append((candidate, target))
                if target.startswith("/"):
                    done = []
                for piece in reversed([p for p in target.split("/") if p and p != "."]):
                    pending.append(piece)
                continue
            done.append(part)
        return "/" + "/".join(done), links


@dataclass(slots=True)
class Entry:
    """One thing seen during a walk."""

    host_path: str
    rel: str  # below the walk's top ("" for the top itself)
    kind: str
    stat: os.stat_result | None
    error: str | None = None


def error_text(exc: OSError) -> str:
    name = errno.errorcode.get(exc.errno or 0, "")
    reason = exc.strerror or str(exc)
    if isinstance(exc, PermissionError):
        return "permission denied"
    return f"{reason} ({name})" if name else reason


def list_dir(confined: Confined, host_dir: str) -> list[str]:
    """Names in a directory (O_NOATIME listing), [] when unreadable."""
    try:
        fd = open_dir(confined.local(host_dir))
    except OSError:
        return []
    try:
        with os.scandir(fd) as it:
            return [e.name for e in it]
    except OSError:
        return []
    finally:
        os.close(fd)


def walk(
    confined: Confined,
    top: str,
    top_stat: os.stat_result,
    *,
    max_depth: int,
    max_entries: int,
    descend: Callable[[str, str, int], bool],
    on_bound: Callable[[str, str], None],
    stop: Callable[[], bool] | None = None,
) -> Iterator[Entry]:
    """Depth-first walk below directory ``top`` (a resolved host path), never following symlinks.

    Yields every entry below ``top`` (not ``top`` itself) with its lstat. ``descend(host, rel,
    depth)`` says whether to enter a subdirectory; it is asked when the directory's turn comes, so
    it may depend on the parent's whole listing. Unreadable directories are yielded with an
    ``error``. Stops at ``max_entries`` entries and does not enter directories deeper than
    ``max_depth`` (both reported once through ``on_bound(path, what)``).
    """
    seen = 0
    depth_reported = False
    # (host path, rel, depth, expected (dev, ino)); directories wait here after being listed so
    # at most one directory descriptor is open at a time.
    stack: list[tuple[str, str, int, tuple[int, int]]] = [(top, "", 0, (top_stat.st_dev, top_stat.st_ino))]
    while stack:
        host_dir, rel_dir, depth, ident = stack.pop()
        # Asked only now, after the parent's whole listing was seen (a venv's `lib` is skipped
        # once its `pyvenv.cfg` sibling has been seen, whatever the listing order).
        if rel_dir and not descend(host_dir, rel_dir, depth):
            continue
        try:
            fd = open_dir(confined.local(host_dir))
        except OSError as exc:
            if rel_dir:
                yield Entry(host_dir, rel_dir, "dir", None, error_text(exc))
            else:
                yield Entry(host_dir, "", "dir", top_stat, error_text(exc))
            continue
        subdirs: list[tuple[str, str, int, tuple[int, int]]] = []
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != ident:
                yield Entry(host_dir, rel_dir, "dir", None, "directory replaced during the walk")
                continue
            with os.scandir(fd) as it:
                for de in it:
                    if stop is not None and stop():
                        return
                    seen += 1
                    if seen > max_entries:
                        on_bound(host_dir, f"max_entries {max_entries}")
                        return
                    name = de.name
                    host = f"{host_dir.rstrip('/')}/{name}"
                    rel = f"{rel_dir}/{name}" if rel_dir else name
                    try:
                        est = de.stat(follow_symlinks=False)
                    except OSError as exc:
                        yield Entry(host, rel, "other", None, error_text(exc))
                        continue
                    kind = kind_of(est.st_mode)
                    if kind == "dir":
                        if depth + 1 > max_depth:
                            if not depth_reported:
                                on_bound(host, f"max_depth {max_depth}")
                                depth_reported = True
                            continue
                        subdirs.append((host, rel, depth + 1, (est.st_dev, est.st_ino)))
                        yield Entry(host, rel, "dir", est)
                        continue
                    yield Entry(host, rel, kind, est)
        except OSError as exc:
            yield Entry(host_dir, rel_dir, "dir", None, error_text(exc))
        finally:
            os.close(fd)
        subdirs.reverse()  # keep the listing order for the depth-first visit
        stack.extend(subdirs)


def read_small(confined: Confined, host_path: str, limit: int = 1 << 20) -> str | None:
    """The first ``limit`` bytes of a regular file as text (None if absent or not regular)."""
    try:
        st = os.lstat(confined.local(host_path))
        if not statmod.S_ISREG(st.st_mode):
            return None
        fd, _ = open_noatime(confined.local(host_path), os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as fh:
            return fh.read(limit).decode("utf-8", "replace")
    except OSError:
        return None
