"""File metadata beyond ``os.lstat``: birth time through statx(2), and the manifest/bodyfile
fields of a stat result.

Python 3.11's ``os.stat`` has no birth time on Linux; ext4, XFS and btrfs record it and
statx(2) returns it. It is often the best "when did this file arrive" time (a blob's download),
so it is worth one extra system call per file. Where glibc or the file system lacks it, ``btime``
is ``None`` and nothing else changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import stat as statmod
import struct
from typing import Any

_AT_FDCWD = -100
_AT_SYMLINK_NOFOLLOW = 0x100
_AT_STATX_DONT_SYNC = 0x4000  # never make a network file system fetch fresh attributes
_STATX_BTIME = 0x800
_BTIME_OFFSET = 80  # struct statx: stx_btime (struct statx_timestamp {s64 sec; u32 nsec; s32 pad})

try:
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    _statx = _libc.statx
    _statx.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.c_void_p)
    _statx.restype = ctypes.c_int
except (OSError, AttributeError):
    _statx = None


def btime(path: str | os.PathLike[str]) -> float | None:
    """Birth time (POSIX seconds) of ``path`` without following a final symlink, or None."""
    if _statx is None:
        return None
    buf = ctypes.create_string_buffer(256)
    rc = _statx(_AT_FDCWD, os.fsencode(path), _AT_SYMLINK_NOFOLLOW | _AT_STATX_DONT_SYNC, _STATX_BTIME, buf)
    if rc != 0:
        return None
    mask = struct.unpack_from("<I", buf.raw, 0)[0]
    if not mask & _STATX_BTIME:
        return None
    sec, nsec = struct.unpack_from("<qI", buf.raw, _BTIME_OFFSET)
    if sec == 0 and nsec == 0:
        return None
    return sec + nsec / 1e9


def stat_fields(st: os.stat_result, birth: float | None) -> dict[str, Any]:
    """The manifest's metadata columns of a stat result."""
    return {
        "size": st.st_size, "mode": st.st_mode, "uid": st.st_uid, "gid": st.st_gid,
        "inode": st.st_ino, "dev": st.st_dev, "nlink": st.st_nlink,
        "atime": st.st_atime_ns / 1e9, "mtime": st.st_mtime_ns / 1e9, "ctime": st.st_ctime_ns / 1e9,
        "btime": birth,
    }


def same_content_state(a: os.stat_result, b: os.stat_result) -> bool:
    """True when nothing suggests the content changed between two stats of one file.

    ctime moves on any write or metadata change (but not on reads), so together with size and
    mtime it catches a writer that restores mtime afterwards.
    """
    return (a.st_size, a.st_mtime_ns, a.st_ctime_ns, a.st_ino, a.st_dev) == (
        b.st_size, b.st_mtime_ns, b.st_ctime_ns, b.st_ino, b.st_dev)


def is_sparse(st: os.stat_result) -> bool:
    """Allocated blocks well below the apparent size (holes); tiny files are never sparse."""
    blocks = getattr(st, "st_blocks", None)
    return bool(blocks is not None and statmod.S_ISREG(st.st_mode) and st.st_size > 65536
                and blocks * 512 < st.st_size // 2)
