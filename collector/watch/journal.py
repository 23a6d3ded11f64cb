"""The append-only journal: JSON lines with a sequence number and a UTC time, never a torn line.

Files are ``journal-<first seq, 12 digits>.jsonl`` in the journal directory; the newest is the one
being written. Every line is written with a single ``write(2)`` on an O_APPEND descriptor (signal
handlers only set flags, so SIGTERM cannot split one); a write the disk cannot take whole is cut
back to the last complete line and the journal stops with :class:`JournalFull`. Data is
``fdatasync``-ed on a short interval by a helper thread that sleeps while nothing is dirty.
A restart continues the sequence; if the previous run died mid-line, it starts a new file instead
of appending to the torn one.
"""

from __future__ import annotations

import errno
import json
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlsleuth.events import from_epoch_us, iso

FILE_RE = re.compile(r"^journal-(\d{12})\.jsonl$")
DEFAULT_ROTATE_BYTES = 64 * 1024 * 1024
DEFAULT_FSYNC_INTERVAL = 1.0
_TAIL = 1024 * 1024  # how far back a restart looks for the last complete line
MAX_LINE_BYTES = 256 * 1024  # a longer record (huge findings) is cut to its identifying fields


class JournalFull(OSError):
    """The journal cannot take another line (disk full, quota, file size limit, I/O error)."""


def journal_files(directory: Path) -> list[Path]:
    """Journal files in sequence order."""
    try:
        names = [p for p in directory.iterdir() if FILE_RE.match(p.name)]
    except OSError:
        return []
    return sorted(names, key=lambda p: p.name)


def last_complete_seq(path: Path) -> tuple[int | None, bool]:
    """(seq of the last complete line, whether the file ends mid-line)."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - _TAIL))
            tail = fh.read()
    except OSError:
        return None, False
    torn = bool(tail) and not tail.endswith(b"\n")
    for line in reversed(tail.split(b"\n")[:-1]):  # the piece after the last \n is torn or empty
        try:
            seq = json.loads(line).get("seq")
        except (ValueError, AttributeError):
            continue
        if isinstance(seq, int):
            return seq, torn
    return None, torn


def timestamp(ns: int) -> str:
    return iso(from_epoch_us(ns // 1000))


class Journal:
    """Thread-safe writer; ``write`` returns the line's sequence number."""

    def __init__(self, directory: Path, header: dict[str, Any], *,
                 rotate_bytes: int = DEFAULT_ROTATE_BYTES,
                 fsync_interval: float = DEFAULT_FSYNC_INTERVAL, keep: int = 0,
                 on_failure: Callable[[JournalFull], None] | None = None) -> None:
        self.directory = directory
        self.header = header
        self.rotate_bytes = rotate_bytes
        self.fsync_interval = fsync_interval
        self.keep = keep
        self.on_failure = on_failure
        self.seq = 0
        self.resumed_from: int | None = None
        self.path: Path | None = None
        self.failed: JournalFull | None = None
        self._fd = -1
        self._size = 0
        self._last_ns = 0
        self._dirty = False
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._syncer: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def open(self) -> None:
        self.directory.mkdir(mode=0o750, parents=True, exist_ok=True)
        files = journal_files(self.directory)
        start_new = True
        for path in reversed(files):
            seq, torn = last_complete_seq(path)
            if seq is not None:
                self.seq = self.resumed_from = seq
                start_new = torn or path != files[-1]
                if not start_new:
                    self._open_file(path)
                break
        with self._lock:
            if start_new:
                self.path = files[-1] if files else None  # named as "previous" in the new header
                self._new_file(previous_torn=bool(files) and last_complete_seq(files[-1])[1])
        self._syncer = threading.Thread(target=self._sync_loop, name="journal-fsync", daemon=True)
        self._syncer.start()

    def close(self) -> None:
        self._closing.set()
        self._wake.set()
        if self._syncer is not None:
            self._syncer.join()
        with self._lock:
            if self._fd >= 0:
                try:
                    os.fdatasync(self._fd)
                except OSError:
                    pass
                os.close(self._fd)
                self._fd = -1

    # -- writing ---------------------------------------------------------------------------
    def write(self, event: str, fields: dict[str, Any] | None = None, when_ns: int | None = None) -> int:
        with self._lock:
            if self.failed is not None:
                raise self.failed
            if self._size and self._size >= self.rotate_bytes:
                self._rotate()
            return self._write_line(event, fields, when_ns)

    def _write_line(self, event: str, fields: dict[str, Any] | None, when_ns: int | None) -> int:
        seq = self.seq + 1
        # Times follow the sequence strictly (1 µs apart at least): a line journaled by the hasher
        # between two events of one kernel read must not make time run backwards for a reader
        # that sorts by time.
        ns = max(when_ns or time.time_ns(), self._last_ns + 1000)
        record: dict[str, Any] = {"seq": seq, "time": timestamp(ns), "event": event}
        if fields:
            record.update(fields)
        # ensure_ascii keeps names with stray bytes (surrogate escapes) representable, losslessly.
        data = (json.dumps(record, separators=(",", ":"), default=str) + "\n").encode()
        if len(data) > MAX_LINE_BYTES:  # keeps every line within what a restart reads back
            short = {k: record[k] for k in ("seq", "time", "event", "path", "sha256", "verdict", "for_seq")
                     if k in record}
            short["truncated_bytes"] = len(data)
            data = (json.dumps(short, separators=(",", ":"), default=str) + "\n").encode()
        self._append(data)
        self.seq, self._last_ns = seq, ns
        if not self._dirty:
            self._dirty = True
            self._wake.set()
        return seq

    def _append(self, data: bytes) -> None:
        start, done = self._size, 0
        view = memoryview(data)
        try:
            while done < len(data):
                n = os.write(self._fd, view[done:])
                if n <= 0:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                done += n
        except OSError as exc:
            if done:
                try:  # never leave half a line behind
                    os.ftruncate(self._fd, start)
                except OSError:
                    pass
            self._fail(exc)
        self._size += len(data)

    def _fail(self, exc: OSError) -> None:
        last = f"seq {self.seq}" if self.seq else "no line"
        self.failed = JournalFull(
            exc.errno or errno.EIO,
            f"journal write failed ({exc.strerror or exc}); stopped writing; {self.path} is intact "
            f"up to {last}; free space in {self.directory} and restart the agent")
        if self.on_failure is not None:
            self.on_failure(self.failed)
        raise self.failed from exc

    def _open_file(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        self._size = os.fstat(self._fd).st_size
        self.path = path

    def _new_file(self, previous_torn: bool = False) -> None:
        path = self.directory / f"journal-{self.seq + 1:012d}.jsonl"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
        except OSError as exc:
            self._fail(exc)
        previous = self.path.name if self.path else None
        self._fd, self._size, self.path = fd, 0, path
        self._sync_dir()
        header = {**self.header, "previous": previous}
        if previous_torn:
            header["previous_torn"] = True  # the last run died mid-line; that file is left as it was
        self._write_line("JOURNAL", header, None)

    def _rotate(self) -> None:
        try:
            os.fdatasync(self._fd)
        except OSError as exc:
            self._fail(exc)
        os.close(self._fd)
        self._fd = -1
        self._new_file()
        if self.keep > 0:
            for old in journal_files(self.directory)[:-self.keep]:
                old.unlink(missing_ok=True)

    def _sync_dir(self) -> None:
        try:
            dfd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            os.fsync(dfd)
        except OSError:
            pass
        finally:
            os.close(dfd)

    def _sync_loop(self) -> None:
        while not self._closing.is_set():
            self._wake.wait()  # sleeps while idle: no periodic wake-ups
            if self._closing.wait(self.fsync_interval):
                return
            with self._lock:
                fd = os.dup(self._fd) if self._dirty and self._fd >= 0 and self.failed is None else -1
                self._dirty = False
                self._wake.clear()
            if fd < 0:
                continue
            try:  # outside the lock: a slow disk must not stall the event thread
                os.fdatasync(fd)
            except OSError as exc:
                with self._lock:
                    try:
                        self._fail(exc)
                    except JournalFull:
                        return
            finally:
                os.close(fd)
