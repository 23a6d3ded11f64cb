"""Writing files under a fixture root with the times they would have on the host.

Paths are given as on the host ("/home/alice/.bash_history"). Folder times follow from their
entries, as on a real file system: a folder is born with its first entry and its mtime is
when its last entry appeared (``born``), so appending to an existing file (``>>``) leaves the
folder's time alone.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path, PurePosixPath

_ROOT = PurePosixPath("/")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ns(t: datetime) -> int:
    """Exact nanoseconds since the epoch (float seconds would round 52.3 to 52.299999952)."""
    return (t - _EPOCH) // timedelta(microseconds=1) * 1000


def when(text: str) -> datetime:
    """'2026-11-10 09:14:03.250' (UTC) -> aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Tree:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._born: dict[PurePosixPath, int] = {}  # file/symlink -> when it appeared (ns)
        self._dir_born: dict[PurePosixPath, int] = {}  # folders that existed before their entries
        self._dir_modes: dict[PurePosixPath, int] = {}
        self.latest = datetime(1970, 1, 1, tzinfo=UTC)

    def local(self, host_path: str) -> Path:
        return self.root / host_path.lstrip("/")

    def mkdir(self, host_path: str, born: datetime | None = None, mode: int | None = None) -> Path:
        path = self.local(host_path)
        path.mkdir(parents=True, exist_ok=True)
        key = PurePosixPath(host_path)
        if born is not None:
            self._dir_born[key] = ns(born)
        if mode is not None:
            self._dir_modes[key] = mode
        return path

    def write(self, host_path: str, data: bytes | str, mtime: datetime, *, atime: datetime | None = None,
              born: datetime | None = None, mode: int = 0o644) -> Path:
        """Write a file; ``born`` (default mtime) is when it first appeared in its folder."""
        path = self.local(host_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(path, mode)
        self.set_times(host_path, mtime, atime=atime, born=born)
        return path

    def set_times(self, host_path: str, mtime: datetime, *, atime: datetime | None = None,
                  born: datetime | None = None) -> None:
        atime = atime or mtime
        if atime < mtime:
            raise ValueError(f"{host_path}: atime before mtime")
        os.utime(self.local(host_path), ns=(ns(atime), ns(mtime)), follow_symlinks=False)
        self.latest = max(self.latest, atime, mtime)
        self._born[PurePosixPath(host_path)] = ns(born or mtime)

    def symlink(self, host_path: str, target: str, mtime: datetime) -> Path:
        path = self.local(host_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)
        self.set_times(host_path, mtime)
        return path

    def finish(self) -> None:
        """Give every folder its mode and times, once all entries are written."""
        children: dict[PurePosixPath, list[PurePosixPath]] = {}
        dirs = set(self._dir_born)
        for path in list(self._born) + list(self._dir_born):
            while path != _ROOT:
                parent = path.parent
                kids = children.setdefault(parent, [])
                if path in kids:
                    break
                kids.append(path)
                dirs.add(parent)
                path = parent

        @cache
        def birth(path: PurePosixPath) -> int:
            if path in self._born:
                return self._born[path]
            times = [birth(c) for c in children.get(path, [])]
            if path in self._dir_born:
                times.append(self._dir_born[path])
            return min(times)

        for path in dirs:
            local = self.local(str(path))
            if path in self._dir_modes:
                os.chmod(local, self._dir_modes[path])
            kids = children.get(path, [])
            mtime = max(birth(c) for c in kids) if kids else birth(path)
            os.utime(local, ns=(mtime, mtime), follow_symlinks=False)
