"""Being a good guest on a production host: low CPU and I/O priority, never filling the disk."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

# Kept free on the output file system at all times: the archive's metadata members, the log and
# whatever else the host needs to keep running.
DISK_RESERVE = 64 << 20


def lower_priority() -> list[str]:
    """nice 19 and the idle I/O class (best-effort lowest where idle is refused). Returns what was done."""
    done: list[str] = []
    try:
        os.nice(19 - os.nice(0))
        done.append("nice 19")
    except OSError:
        pass
    try:
        import psutil

        proc = psutil.Process()
        try:
            proc.ionice(psutil.IOPRIO_CLASS_IDLE)
            done.append("ionice idle")
        except (OSError, psutil.Error):
            proc.ionice(psutil.IOPRIO_CLASS_BE, 7)
            done.append("ionice best-effort 7")
    except (ImportError, OSError, AttributeError, ValueError):
        pass
    return done


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


class DiskGuard:
    """Says whether ``need`` more bytes fit on the output file system with the reserve kept.

    statvfs is cheap but not free (a quarter millisecond on some virtual disks), and a collection
    asks once per file; the free space is re-read after every ``REFRESH_BYTES`` promised or
    ``REFRESH_SECONDS``, and in between the bytes promised are subtracted from the last reading.
    """

    REFRESH_BYTES = 16 << 20
    REFRESH_SECONDS = 1.0

    def __init__(self, directory: Path, reserve: int = DISK_RESERVE) -> None:
        self.directory = directory
        self.reserve = reserve
        self._free = 0
        self._promised = 0
        self._read_at = -1e9

    def free(self) -> int:
        self._free = free_bytes(self.directory)
        self._promised = 0
        self._read_at = time.monotonic()
        return self._free

    def fits(self, need: int) -> bool:
        need = max(need, 0)
        if (self._promised + need > self.REFRESH_BYTES
                or time.monotonic() - self._read_at > self.REFRESH_SECONDS
                or self._free - self._promised - need < self.reserve):
            self.free()
        if self._free - self._promised - need < self.reserve:
            return False
        self._promised += need
        return True
