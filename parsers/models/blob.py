"""Read evidence files read-only, without updating atime, as bytes or a memory map.

Small files are read whole (fastest for the many-small-checkpoints case); large ones are
memory-mapped so an inspector that reads the zip directory and one pickle member only
touches those pages: cost follows what is analysed, not the file size.
"""

from __future__ import annotations

import mmap
import os
import stat
from pathlib import Path

READ_WHOLE_LIMIT = 32 * 1024 * 1024
_NOATIME = getattr(os, "O_NOATIME", 0)


class NotRegularFile(OSError):
    pass


def open_readonly(path: Path | str) -> int:
    """Open for reading without following a final symlink and without touching atime."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    # Stat first: never open FIFOs or devices (opening a FIFO blocks; a device may have effects).
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFile(f"not a regular file: {path}")
    if _NOATIME:
        try:
            return os.open(path, flags | _NOATIME)
        except PermissionError:
            pass  # O_NOATIME needs ownership or CAP_FOWNER; fall back to a plain read
    return os.open(path, flags)


def load(path: Path | str) -> bytes | mmap.mmap:
    """Whole content as bytes (small files) or a read-only mmap (large files)."""
    fd = open_readonly(path)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return b""
        if size <= READ_WHOLE_LIMIT:
            chunks = []
            remaining = size
            while remaining > 0:
                chunk = os.read(fd, remaining)
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
            return b"".join(chunks)
        return mmap.mmap(fd, size, access=mmap.ACCESS_READ)
    finally:
        os.close(fd)


def read_range(path: Path | str, offset: int, size: int) -> bytes:
    fd = open_readonly(path)
    try:
        return os.pread(fd, size, offset)
    finally:
        os.close(fd)
