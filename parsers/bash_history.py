"""bash ~/.bash_history: with HISTTIMEFORMAT each entry follows a ``#<epoch>`` line (exact time);
without it there are no times and every entry gets the file's mtime, marked as inferred.

With timestamps, everything between two ``#<epoch>`` lines is one entry (bash writes a
multi-line command as several lines after one stamp). Terminals append on exit, so times are
not monotonic: they are reported as found.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from mlsleuth.parsers.commands import command_event, untimed
from mlsleuth.parsers.registry import register
from mlsleuth.parsers.source import ParseContext, Source, sane_time
from mlsleuth.parsers.text import decode, iter_lines

from mlsleuth.events import Event, TimestampQuality, from_epoch

_STAMP = re.compile(rb"^#(\d{9,11})\s*$")


_ZSH_EXTENDED = re.compile(rb"^: *\d{1,12}:\d+;")


def other_shell(src: Source) -> str | None:
    """A HISTFILE pointing elsewhere makes any file "bash history": look at what it holds."""
    with src.open() as fh:
        head = fh.read(4096)
    first = next((line for line in head.splitlines() if line.strip()), b"")
    if _ZSH_EXTENDED.match(first):
        return "zsh_history"
    if first.startswith(b"- cmd:"):
        return "fish_history"
    return None


@register("bash_history")
def parse(src: Source, ctx: ParseContext) -> Iterator[Event]:
    shell = other_shell(src)
    if shell is not None:
        from mlsleuth.parsers.registry import get_parser

        delegate = get_parser(shell)
        if delegate is not None:
            src.parser = shell
            yield from delegate(src, ctx)
            return
    file_time, note = untimed(src)
    stamped = False  # a #<epoch> line was seen: from then on entries run from stamp to stamp
    stamp = None  # time of the entry being collected (None: insane stamp -> file time)
    entry: list[str] = []
    entry_line = 0
    long_lines = 0

    def emit() -> Iterator[Event]:
        command = "\n".join(entry)
        if not command.strip():
            return
        if stamp is not None:
            yield command_event(src, ctx, command=command, when=stamp, loc=f"L{entry_line}",
                                quality=TimestampQuality.EXACT, process="bash")
        else:
            yield command_event(src, ctx, command=command, when=file_time, loc=f"L{entry_line}",
                                quality=TimestampQuality.FILE_TIME, process="bash", extra=note)

    with src.open() as fh:
        for number, raw, truncated in iter_lines(fh):
            long_lines += truncated
            match = _STAMP.match(raw)
            if match:
                yield from emit()
                entry, entry_line, stamped = [], number + 1, True
                when = from_epoch(int(match.group(1)))
                stamp = when if sane_time(when) else None
            elif stamped:
                entry.append(decode(raw))  # several lines under one stamp: one multi-line entry
            else:
                entry, entry_line = [decode(raw)], number
                yield from emit()
                entry = []
        yield from emit()
    if long_lines:
        yield src.error(ctx, f"{long_lines} over-long line(s) cut at 1 MiB")
