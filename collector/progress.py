"""Progress on stderr: files and bytes so far, rate, what is being walked.

On a terminal one line is redrawn at most 5 times a second; into a file or pipe a plain line is
written every 10 seconds so logs of long runs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


class Progress:
    def __init__(self, stream: TextIO | None = None, *, enabled: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = 0.2 if self.tty else 10.0
        self.start = time.monotonic()
        self._last = self.start
        self.files = 0
        self.bytes = 0
        self.seen = 0
        self.where = ""

    def update(self, *, files: int = 0, nbytes: int = 0, seen: int = 0, where: str | None = None) -> None:
        self.files += files
        self.bytes += nbytes
        self.seen += seen
        if where is not None:
            self.where = where
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self._emit(now)

    def _line(self, now: float) -> str:
        elapsed = max(now - self.start, 1e-6)
        return (f"mlsleuth collect: {self.seen} seen, {self.files} files read, {human(self.bytes)} "
                f"({human(self.bytes / elapsed)}/s), {elapsed:.0f}s  {self.where}")

    def _emit(self, now: float) -> None:
        line = self._line(now)
        if self.tty:
            width = 118
            self.stream.write("\r" + line[:width].ljust(width))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r" + " " * 118 + "\r")
        self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if not self.enabled:
            return
        line = self._line(time.monotonic())
        self.stream.write(("\r" + line.ljust(118) if self.tty else line) + "\n")
        self.stream.flush()
