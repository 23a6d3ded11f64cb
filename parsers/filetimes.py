"""Events from a file's own times (MACB), shared by the parsers that report file activity."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from mlsleuth.parsers.source import ParseContext, Source

from mlsleuth.events import Category, Event, TimestampQuality

# (row key, MACB letter, timestamp_desc), in bodyfile/plaso order.
MACB: tuple[tuple[str, str, str], ...] = (
    ("mtime", "m", "File Modified"),
    ("atime", "a", "File Accessed"),
    ("ctime", "c", "File Metadata Changed"),
    ("btime", "b", "File Created"),
)


def file_times(src: Source) -> dict[str, datetime]:
    times = {"mtime": src.mtime, "atime": src.atime, "ctime": src.ctime, "btime": src.btime}
    return {k: v for k, v in times.items() if v is not None}


def macb_events(src: Source, ctx: ParseContext, *, category: Category, message: str,
                letters: str = "macb", **fields: Any) -> Iterator[Event]:
    """One event per available file time (the time itself is the fact, so it is exact)."""
    times = file_times(src)
    extra = fields.pop("extra", {})
    for key, letter, desc in MACB:
        when = times.get(key)
        if when is None or letter not in letters:
            continue
        yield src.event(ctx, timestamp=when, desc=desc, category=category, message=message,
                        quality=TimestampQuality.EXACT, extra={**extra, "macb": letter}, **fields)


def best_file_time(src: Source) -> tuple[datetime | None, str]:
    """The time a file's content was last written (mtime; ctime when mtime is missing)."""
    if src.mtime is not None:
        return src.mtime, "mtime"
    if src.ctime is not None:
        return src.ctime, "ctime"
    return None, ""
