"""The kernel side: an inotify instance over pyinotify's libc binding.

pyinotify's own Notifier decodes names as strict UTF-8 (one file named with a stray byte would stop
the agent) and its auto-add cannot tell events the kernel reported from ones it synthesised after a
directory scan. So only its binding and constants are used here; reading and the watch table are
ours (``watcher.py``).
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import warnings
from dataclasses import dataclass

with warnings.catch_warnings():  # pyinotify imports asyncore (deprecated; pyasyncore on 3.12+)
    warnings.simplefilter("ignore", DeprecationWarning)
    import pyinotify

IN_ATTRIB = pyinotify.IN_ATTRIB
IN_CLOSE_WRITE = pyinotify.IN_CLOSE_WRITE
IN_MOVED_FROM = pyinotify.IN_MOVED_FROM
IN_MOVED_TO = pyinotify.IN_MOVED_TO
IN_CREATE = pyinotify.IN_CREATE
IN_DELETE = pyinotify.IN_DELETE
IN_DELETE_SELF = pyinotify.IN_DELETE_SELF
IN_MOVE_SELF = pyinotify.IN_MOVE_SELF
IN_UNMOUNT = pyinotify.IN_UNMOUNT
IN_Q_OVERFLOW = pyinotify.IN_Q_OVERFLOW
IN_IGNORED = pyinotify.IN_IGNORED
IN_ONLYDIR = pyinotify.IN_ONLYDIR
IN_DONT_FOLLOW = pyinotify.IN_DONT_FOLLOW
IN_ISDIR = pyinotify.IN_ISDIR

# What every watch asks for. IN_EXCL_UNLINK is left out on purpose: a file unlinked while still
# open (attacker clean-up) must still report its CLOSE_WRITE.
WATCH_MASK = (IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE | IN_ATTRIB
              | IN_DELETE_SELF | IN_ONLYDIR)

_HEADER = struct.Struct("iIII")
_READ_SIZE = 256 * 1024  # whole events only; the kernel returns as many as fit


@dataclass(slots=True)
class RawEvent:
    wd: int
    mask: int
    cookie: int
    name: str  # decoded with surrogateescape: os.fsencode(name) gives the kernel's bytes back


def parse_events(buf: bytes) -> list[RawEvent]:
    """Split a read() of an inotify fd into events (``struct inotify_event`` + NUL-padded name)."""
    out: list[RawEvent] = []
    pos, end = 0, len(buf)
    while pos + _HEADER.size <= end:
        wd, mask, cookie, length = _HEADER.unpack_from(buf, pos)
        pos += _HEADER.size
        raw = buf[pos:pos + length].split(b"\0", 1)[0]
        pos += length
        out.append(RawEvent(wd, mask, cookie, os.fsdecode(raw)))
    return out


class Inotify:
    """One inotify instance: non-blocking, close-on-exec, watches added by path."""

    def __init__(self) -> None:
        api = pyinotify.INotifyWrapper.create()
        if api is None:
            raise OSError(errno.ENOSYS, "no inotify binding available (Linux only)")
        fd = api.inotify_init()
        if fd < 0:
            code = api.get_errno() or errno.EMFILE
            raise OSError(code, os.strerror(code) + _hint(code, instances=True))
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        fcntl.fcntl(fd, fcntl.F_SETFD, fcntl.FD_CLOEXEC)
        self._api = api
        self.fd = fd

    def add_watch(self, path: str, mask: int = WATCH_MASK) -> int:
        """Watch the directory ``path`` (never through a symlink); OSError carries the errno."""
        try:
            path.encode()
        except UnicodeEncodeError:
            # pyinotify encodes paths as strict UTF-8; a name with stray bytes is watched
            # through its open descriptor instead (the kernel resolves /proc/self/fd/N).
            return self._add_watch_by_fd(path, mask)
        wd = self._api.inotify_add_watch(self.fd, path, mask | IN_DONT_FOLLOW)
        if wd < 0:
            self._raise(path)
        return wd

    def _add_watch_by_fd(self, path: str, mask: int) -> int:
        dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            wd = self._api.inotify_add_watch(self.fd, f"/proc/self/fd/{dfd}", mask)
        finally:
            os.close(dfd)
        if wd < 0:
            self._raise(path)
        return wd

    def _raise(self, path: str) -> None:
        code = self._api.get_errno() or errno.EINVAL
        raise OSError(code, os.strerror(code), path)

    def rm_watch(self, wd: int) -> None:
        self._api.inotify_rm_watch(self.fd, wd)  # fails only for a wd the kernel already dropped

    def read(self) -> list[RawEvent]:
        try:
            buf = os.read(self.fd, _READ_SIZE)
        except BlockingIOError:
            return []
        return parse_events(buf)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def read_limit(name: str) -> int | None:
    try:
        with open(f"/proc/sys/fs/inotify/{name}") as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return None


def _hint(code: int, instances: bool = False) -> str:
    if code == errno.EMFILE and instances:
        return (" (inotify instances exhausted: raise fs.inotify.max_user_instances, e.g. "
                "`sysctl fs.inotify.max_user_instances=512`)")
    return ""


def watch_limit_fix(current: int | None, needed_extra: int) -> str:
    """The operator's fix for ENOSPC from inotify_add_watch, with a concrete number."""
    base = current or 8192
    proposal = max(base * 2, base + needed_extra + 1024)
    return (f"sysctl fs.inotify.max_user_watches={proposal} "
            f"(persist: echo fs.inotify.max_user_watches={proposal} > /etc/sysctl.d/60-mlsleuth.conf)")
